import { ProtocolError } from './errors';

export interface MetadumpHandler {
  /**
   * One item: its raw key bytes, absolute expiry (-1 = never), memcached's item size (an upper bound of the value)
   * and its CAS (unique per item version on that server; 0 when absent, or above 2^53 where a number cannot hold it exactly).
   * The key is `key[0..keyLength)`, the parser's scratch buffer, valid only during the call: copy it to keep
   * it (most keys of a dump are filtered out, so allocating anything per line is wasted work).
   */
  item(key: Buffer, keyLength: number, exp: number, size: number, cas: number): void;
  /**
   * Optional filter, asked with the decoded key before the line's other fields are read: false skips the
   * line (`item` is not called). Most lines of a dump belong to vbuckets the reader does not want.
   */
  wants?(key: Buffer, keyLength: number): boolean;
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
    // "key=": one scan of the line, byte by byte (a native indexOf per field costs more than the field).
    if (
      buf[start] === 0x6b &&
      buf[start + 1] === 0x65 &&
      buf[start + 2] === 0x79 &&
      buf[start + 3] === 0x3d
    ) {
      let i = start + 4;
      while (i < stop && buf[i] !== 0x20) i++;
      const keyLength = decodeUriInto(buf, start + 4, i, this.scratch);
      if (this.handler.wants !== undefined && !this.handler.wants(this.scratch, keyLength)) return;
      let exp = -1;
      let size = 0;
      let cas = 0;
      // Fields `name=value`, space separated: exp, la, cas, fetch, cls, size in 1.6.18; unknown ones skipped.
      while (++i < stop) {
        const n0 = buf[i];
        const n1 = buf[i + 1];
        let eq = i;
        while (eq < stop && buf[eq] !== 0x3d && buf[eq] !== 0x20) eq++;
        let end = eq;
        while (end < stop && buf[end] !== 0x20) end++;
        if (eq < end) {
          const name = eq - i;
          if (name === 3 && n0 === 0x65 && n1 === 0x78) exp = parseSigned(buf, eq + 1, end);
          else if (name === 4 && n0 === 0x73 && n1 === 0x69) size = parseSigned(buf, eq + 1, end);
          else if (name === 3 && n0 === 0x63 && n1 === 0x61) {
            cas = parseSigned(buf, eq + 1, end);
            if (!(cas > 0 && cas <= Number.MAX_SAFE_INTEGER)) cas = 0;
          }
        }
        i = end;
      }
      this.handler.item(this.scratch, keyLength, exp, size, cas);
      return;
    }
    const text = buf.toString('latin1', start, stop);
    if (text === 'END') this.handler.end();
    // From 1.6.20 (memcached commit 788f592f4) a hash walk asked during a hash-table expansion answers
    // `ERROR locked try again later` instead of waiting for it: the same as BUSY.
    else if (text.startsWith('BUSY') || text === 'ERROR locked try again later') this.handler.busy();
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
export function decodeUriBytes(buf: Buffer, start: number, stop: number): Buffer {
  const out = Buffer.allocUnsafe(stop - start);
  return out.subarray(0, decodeUriInto(buf, start, stop, out));
}

/** decodeUriBytes into `out` (at least `stop - start` bytes), without allocating: returns the decoded length. */
function decodeUriInto(buf: Buffer, start: number, stop: number, out: Buffer): number {
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
  return o;
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

/** The request of an enumeration that walks the LRU lists. */
export const METADUMP = Buffer.from('lru_crawler metadump all\r\n');

/** The request of an enumeration that walks the hash table (crawl-proof.ts: safe from memcached 1.6.19). */
export const METADUMP_HASH = Buffer.from('lru_crawler metadump hash\r\n');

/** The enumeration request of a walk (resolveCrawlWalk chooses it). */
export function metadumpRequest(walk: 'lru' | 'hash'): Buffer {
  return walk === 'hash' ? METADUMP_HASH : METADUMP;
}

/**
 * Retrying a metadump answered BUSY (another crawl, an operator's or another agent's, holds the server's
 * crawler): after 50 ms, doubling up to 1 s, until BUSY has lasted `limitMs`.
 */
export class CrawlBackoff {
  private since: number | undefined;
  private delay = 50;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly limitMs: number) {}

  /** A retry is scheduled: the dump connection is silent on purpose. */
  get waiting(): boolean {
    return this.timer !== undefined;
  }

  /** After BUSY: schedules `retry` and returns true, or returns false once BUSY has lasted over the limit. */
  busy(retry: () => void): boolean {
    const now = Date.now();
    this.since ??= now;
    if (now - this.since > this.limitMs) return false;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      retry();
    }, this.delay);
    this.delay = Math.min(this.delay * 2, 1000);
    return true;
  }

  /** A new crawl: BUSY time counts from zero again. */
  reset(): void {
    this.since = undefined;
    this.delay = 50;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
