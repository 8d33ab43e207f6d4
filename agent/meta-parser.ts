import { ProtocolError } from './errors';

/** Meta protocol status codes that carry no value. */
export type MetaStatus = 'HD' | 'EN' | 'NS' | 'NF' | 'EX' | 'MN';

/**
 * What the parser found. `value` is only valid during the call: it may be a view
 * of the socket's chunk, so a consumer that keeps it must copy it (we never do:
 * values go straight into the next write).
 */
export interface MetaHandler {
  value(data: Buffer, flags: number, ttl: number): void;
  status(status: MetaStatus): void;
  /** ERROR, CLIENT_ERROR or SERVER_ERROR line, without its CRLF. */
  error(line: string): void;
}

const CR = 0x0d;
const LF = 0x0a;
/** A header line is a few flags; anything longer means we lost framing. */
const MAX_HEADER = 8192;

/**
 * Chunk-fed parser of meta-protocol responses (`VA`, `HD`, `EN`, `NS`, `NF`, `EX`,
 * `MN`, errors), separate from the socket so it can be tested on input split
 * at every byte boundary (as node-postgres' pg-protocol is).
 *
 * Only the `f` (client flags) and `t` (remaining TTL, -1 = none) return flags
 * are interpreted; returned keys (`k`) are ignored on purpose: memcached 1.6.18
 * returns a key stored over the binary protocol raw, CRLF included, even when
 * the request asked for base64 (`b`), which would break line framing. Requests
 * must therefore be correlated by order, not by key.
 */
export class MetaResponseParser {
  private header: Buffer | undefined;
  private valueBuf: Buffer | undefined;
  private valueFill = 0;
  private valueFlags = 0;
  private valueTtl = -1;

  constructor(private readonly handler: MetaHandler) {}

  /** True when no partial response is buffered. */
  get idle(): boolean {
    return this.header === undefined && this.valueBuf === undefined;
  }

  feed(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.valueBuf !== undefined) {
        pos = this.fillValue(chunk, pos);
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) {
        this.stashHeader(chunk.subarray(pos));
        return;
      }
      let line: Buffer;
      if (this.header !== undefined) {
        line = Buffer.concat([this.header, chunk.subarray(pos, nl + 1)]);
        this.header = undefined;
      } else {
        line = chunk.subarray(pos, nl + 1);
      }
      pos = nl + 1;
      if (line.length > MAX_HEADER)
        throw new ProtocolError(`meta response line longer than ${MAX_HEADER} bytes`);
      const length = this.onLine(line);
      if (length === undefined) continue;
      // A value wholly inside this chunk is handed over without a copy.
      if (end - pos >= length + 2) {
        checkTrailer(chunk, pos + length);
        this.handler.value(chunk.subarray(pos, pos + length), this.valueFlags, this.valueTtl);
        pos += length + 2;
      } else {
        this.valueBuf = Buffer.allocUnsafe(length + 2);
        this.valueFill = 0;
      }
    }
  }

  private stashHeader(part: Buffer): void {
    const joined = this.header ? Buffer.concat([this.header, part]) : Buffer.from(part);
    if (joined.length > MAX_HEADER)
      throw new ProtocolError(`meta response line longer than ${MAX_HEADER} bytes`);
    this.header = joined;
  }

  private fillValue(chunk: Buffer, pos: number): number {
    const buf = this.valueBuf as Buffer;
    const n = Math.min(buf.length - this.valueFill, chunk.length - pos);
    chunk.copy(buf, this.valueFill, pos, pos + n);
    this.valueFill += n;
    if (this.valueFill === buf.length) {
      this.valueBuf = undefined;
      checkTrailer(buf, buf.length - 2);
      this.handler.value(buf.subarray(0, buf.length - 2), this.valueFlags, this.valueTtl);
    }
    return pos + n;
  }

  /** Handles one full line (ending in LF); returns the data length when a VA value follows. */
  private onLine(line: Buffer): number | undefined {
    let stop = line.length - 1;
    if (stop > 0 && line[stop - 1] === CR) stop--;
    const a = line[0];
    const b = line[1];
    const plain = stop === 2 || line[2] === 0x20;
    if (a === 0x56 && b === 0x41 && line[2] === 0x20) return this.onValueHeader(line, stop);
    if (plain) {
      const code = String.fromCharCode(a, b);
      switch (code) {
        case 'HD':
        case 'EN':
        case 'NS':
        case 'NF':
        case 'EX':
        case 'MN':
          this.handler.status(code);
          return undefined;
      }
    }
    const text = line.toString('latin1', 0, stop);
    if (
      text === 'ERROR' ||
      text.startsWith('ERROR ') ||
      text.startsWith('CLIENT_ERROR') ||
      text.startsWith('SERVER_ERROR')
    ) {
      this.handler.error(text);
      return undefined;
    }
    throw new ProtocolError(`unexpected meta response line: ${JSON.stringify(text.slice(0, 80))}`);
  }

  private onValueHeader(line: Buffer, stop: number): number {
    let i = 3;
    let length = 0;
    let digits = 0;
    while (i < stop && line[i] >= 0x30 && line[i] <= 0x39) {
      length = length * 10 + (line[i] - 0x30);
      i++;
      digits++;
    }
    if (digits === 0 || (i < stop && line[i] !== 0x20))
      throw new ProtocolError(`malformed VA line: ${JSON.stringify(line.toString('latin1', 0, stop))}`);
    this.valueFlags = 0;
    this.valueTtl = -1;
    while (i < stop) {
      while (i < stop && line[i] === 0x20) i++;
      if (i >= stop) break;
      const flag = line[i];
      let j = i + 1;
      while (j < stop && line[j] !== 0x20) j++;
      if (flag === 0x66 /* f */) this.valueFlags = parseIntToken(line, i + 1, j);
      else if (flag === 0x74 /* t */) this.valueTtl = parseIntToken(line, i + 1, j);
      i = j;
    }
    return length;
  }
}

function parseIntToken(line: Buffer, from: number, to: number): number {
  let i = from;
  let negative = false;
  if (line[i] === 0x2d) {
    negative = true;
    i++;
  }
  if (i >= to) throw new ProtocolError(`malformed number in ${JSON.stringify(line.toString('latin1'))}`);
  let n = 0;
  for (; i < to; i++) {
    const c = line[i] - 0x30;
    if (c < 0 || c > 9)
      throw new ProtocolError(`malformed number in ${JSON.stringify(line.toString('latin1'))}`);
    n = n * 10 + c;
  }
  return negative ? -n : n;
}

function checkTrailer(buf: Buffer, at: number): void {
  if (buf[at] !== CR || buf[at + 1] !== LF)
    throw new ProtocolError('value not followed by CRLF: lost framing');
}
