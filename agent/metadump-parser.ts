import { ProtocolError } from './errors';

export interface MetadumpHandler {
  /**
   * One item: its raw key bytes, absolute expiry (-1 = never), memcached's item size (an upper bound of the value)
   * and its CAS (unique per item version on that server; 0 when absent, or above 2^53 where a number cannot hold it exactly).
   * `key` is a view of the parser's scratch buffer, valid only during the call: copy it to keep it
   * (most keys of a dump are filtered out, so allocating one buffer per line is wasted work).
   */
  item(key: Buffer, exp: number, size: number, cas: number): void;
  /** `END`: the enumeration is complete. */
  end(): void;
  /** `BUSY`: another crawl runs on this server; retry later. */
  busy(): void;
  /** An ERROR / CLIENT_ERROR / SERVER_ERROR line. */
  error(line: string): void;
}

const LF = 0x0a;
const MAX_LINE = 4096;

/**
 * Chunk-fed parser of `lru_crawler metadump all` output: lines such as
 * `key=a%20b exp=-1 la=... cas=... fetch=no cls=1 size=71` (terminated by a bare
 * LF in 1.6.18), then `END\r\n`. Keys are URI-encoded by memcached and decoded
 * here to the exact bytes a client stored, whatever they are.
 */
export class MetadumpParser {
  private partial: Buffer | undefined;
  private readonly scratch = Buffer.allocUnsafe(MAX_LINE);

  constructor(private readonly handler: MetadumpHandler) {}

  feed(chunk: Buffer): void {
    let pos = 0;
    if (this.partial !== undefined) {
      const nl = chunk.indexOf(LF);
      if (nl === -1) {
        this.partial = Buffer.concat([this.partial, chunk]);
        if (this.partial.length > MAX_LINE)
          throw new ProtocolError(`metadump line longer than ${MAX_LINE} bytes`);
        return;
      }
      const line = Buffer.concat([this.partial, chunk.subarray(0, nl)]);
      this.partial = undefined;
      this.onLine(line, 0, line.length);
      pos = nl + 1;
    }
    while (pos < chunk.length) {
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) {
        this.partial = Buffer.from(chunk.subarray(pos));
        return;
      }
      this.onLine(chunk, pos, nl);
      pos = nl + 1;
    }
  }

  private onLine(buf: Buffer, start: number, stop: number): void {
    if (stop > start && buf[stop - 1] === 0x0d) stop--;
    // "key="
    if (
      buf[start] === 0x6b &&
      buf[start + 1] === 0x65 &&
      buf[start + 2] === 0x79 &&
      buf[start + 3] === 0x3d
    ) {
      let i = start + 4;
      let keyEnd = buf.indexOf(0x20, i);
      if (keyEnd === -1 || keyEnd > stop) keyEnd = stop;
      const key = decodeUriBytes(buf, i, keyEnd, this.scratch);
      let exp = -1;
      let size = 0;
      let cas = 0;
      i = keyEnd + 1;
      while (i < stop) {
        let j = buf.indexOf(0x20, i);
        if (j === -1 || j > stop) j = stop;
        if (buf[i] === 0x65 && buf[i + 1] === 0x78 && buf[i + 2] === 0x70 && buf[i + 3] === 0x3d)
          exp = parseSigned(buf, i + 4, j);
        else if (
          buf[i] === 0x73 &&
          buf[i + 1] === 0x69 &&
          buf[i + 2] === 0x7a &&
          buf[i + 3] === 0x65 &&
          buf[i + 4] === 0x3d
        )
          size = parseSigned(buf, i + 5, j);
        else if (buf[i] === 0x63 && buf[i + 1] === 0x61 && buf[i + 2] === 0x73 && buf[i + 3] === 0x3d) {
          cas = parseSigned(buf, i + 4, j);
          if (!(cas > 0 && cas <= Number.MAX_SAFE_INTEGER)) cas = 0;
        }
        i = j + 1;
      }
      this.handler.item(key, exp, size, cas);
      return;
    }
    const text = buf.toString('latin1', start, stop);
    if (text === 'END') this.handler.end();
    else if (text.startsWith('BUSY')) this.handler.busy();
    else if (
      text === 'ERROR' ||
      text.startsWith('ERROR ') ||
      text.startsWith('CLIENT_ERROR') ||
      text.startsWith('SERVER_ERROR')
    )
      this.handler.error(text);
    else if (text.length > 0)
      throw new ProtocolError(`unexpected metadump line: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

/** Decodes %XX escapes (memcached's uriencode) into raw bytes; other bytes are taken as they are. */
export function decodeUriBytes(buf: Buffer, start: number, stop: number, into?: Buffer): Buffer {
  const out = into && into.length >= stop - start ? into : Buffer.allocUnsafe(stop - start);
  let o = 0;
  for (let i = start; i < stop; i++) {
    const c = buf[i];
    if (c === 0x25) {
      const hi = i + 2 < stop ? hexValue(buf[i + 1]) : -1;
      const lo = i + 2 < stop ? hexValue(buf[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        throw new ProtocolError(
          `malformed %-escape in metadump key ${JSON.stringify(buf.toString('latin1', start, stop))}`,
        );
      out[o++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return out.subarray(0, o);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function parseSigned(buf: Buffer, from: number, to: number): number {
  let i = from;
  let negative = false;
  if (buf[i] === 0x2d) {
    negative = true;
    i++;
  }
  let n = 0;
  for (; i < to; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9)
      throw new ProtocolError(
        `malformed number in metadump line ${JSON.stringify(buf.toString('latin1', from, to))}`,
      );
    n = n * 10 + d;
  }
  return negative ? -n : n;
}
