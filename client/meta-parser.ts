import { MetaProtocolError } from './errors';

/**
 * Replies of memcached's meta protocol (1.6), as the client uses them.
 * `flags` are the returned flag tokens (`f5`, `t-1`, `c12`), in server order.
 */
export type MetaReply =
  | { readonly type: 'VA'; readonly value: Buffer; readonly flags: readonly string[] }
  | { readonly type: 'HD' | 'EN' | 'NS' | 'EX' | 'NF' | 'MN'; readonly flags: readonly string[] }
  | { readonly type: 'ERROR' }
  | { readonly type: 'CLIENT_ERROR' | 'SERVER_ERROR'; readonly message: string };

const STATUS = new Set(['HD', 'EN', 'NS', 'EX', 'NF', 'MN']);
/** memcached's reply lines are short; a longer one means we are out of step with the stream. */
const MAX_LINE = 8192;
const EMPTY = Buffer.alloc(0);

/**
 * A chunk-fed parser of meta-protocol replies, separate from any socket: feed it
 * whatever bytes arrive, split anywhere, and it emits each complete reply once.
 * After it throws MetaProtocolError its state is undefined: drop the connection.
 */
export class MetaParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Set while waiting for the data block of a `VA` reply. */
  private value?: { size: number; flags: string[] };

  feed(chunk: Buffer, emit: (reply: MetaReply) => void): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    // A large value arrives in many chunks: join them once, when the whole block is here.
    if (this.value && this.buffered < this.value.size + 2) return;
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    let pos = 0;
    for (;;) {
      if (this.value) {
        const { size, flags } = this.value;
        if (buf.length - pos < size + 2) break;
        if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a)
          throw new MetaProtocolError(`value of ${size} bytes is not followed by \\r\\n`);
        // Copy: a subarray would keep the whole (possibly large) read buffer alive.
        const value = Buffer.from(buf.subarray(pos, pos + size));
        pos += size + 2;
        this.value = undefined;
        emit({ type: 'VA', value, flags });
        continue;
      }
      const eol = buf.indexOf('\r\n', pos, 'latin1');
      if (eol === -1) {
        if (buf.length - pos > MAX_LINE)
          throw new MetaProtocolError(`reply line longer than ${MAX_LINE} bytes`);
        break;
      }
      const line = buf.toString('latin1', pos, eol);
      pos = eol + 2;
      const reply = this.parseLine(line);
      if (reply) emit(reply);
    }
    buf = pos >= buf.length ? EMPTY : buf.subarray(pos);
    this.chunks = buf.length ? [buf] : [];
    this.buffered = buf.length;
  }

  /** Returns the reply, or undefined when the line opens a value block. */
  private parseLine(line: string): MetaReply | undefined {
    const space = line.indexOf(' ');
    const head = space === -1 ? line : line.slice(0, space);
    if (head === 'VA') {
      const tokens = line.split(' ');
      const size = Number(tokens[1]);
      if (!/^[0-9]+$/.test(tokens[1] ?? '') || !Number.isSafeInteger(size))
        throw new MetaProtocolError(`bad value size in ${JSON.stringify(line)}`);
      this.value = { size, flags: tokens.slice(2).filter((t) => t !== '') };
      return undefined;
    }
    if (STATUS.has(head)) {
      const flags =
        space === -1
          ? []
          : line
              .slice(space + 1)
              .split(' ')
              .filter((t) => t !== '');
      return { type: head as 'HD', flags };
    }
    if (line === 'ERROR') return { type: 'ERROR' };
    if (head === 'CLIENT_ERROR' || head === 'SERVER_ERROR')
      return { type: head, message: space === -1 ? '' : line.slice(space + 1) };
    throw new MetaProtocolError(`unexpected reply ${JSON.stringify(line.slice(0, 80))}`);
  }
}

/** The value of a returned flag (`flag('f', ['f5', 't-1'])` is '5'), or undefined. */
export function flagValue(flags: readonly string[], letter: string): string | undefined {
  for (const f of flags) if (f[0] === letter) return f.slice(1);
  return undefined;
}
