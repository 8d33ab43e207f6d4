import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBytes } from './bytes';

export interface KeySpoolOptions {
  /**
   * Queued bytes kept in memory; past it, whole chunks go to a spill file and come back in order.
   * @default 8 MiB (Infinity: never spill)
   */
  readonly memoryBytes?: number;
  /** @default 256 KiB */
  readonly chunkBytes?: number;
  /** Where the spill file is made (only when memory runs out). @default os.tmpdir() */
  readonly spillDir?: string;
}

/** Entry header: the key's length (u16), then one number (f64). */
const HEADER = 10;
/** memcached keys are at most 250 bytes; anything longer is a caller's bug. */
const MAX_KEY = 65535;

interface Chunk {
  buf: Buffer;
  used: number;
  read: number;
}

/**
 * A FIFO of (key bytes, number) entries packed back to back into large chunks: no object per entry, so
 * queueing a million keys costs their bytes, not a million Buffers for the collector. Past `memoryBytes`,
 * whole chunks are written to a spill file and read back in order, so a queue fed faster than it drains
 * holds bounded memory. That is what lets the agent read an `lru_crawler metadump` as fast as memcached
 * writes it: a crawler left waiting on a client that stopped reading blocks every worker thread that is
 * then asked for another crawl (memcached 1.6.18), and with it every connection on those threads.
 *
 * After `shift()` returns true, the entry is `buf[start..end)` with `num`; the bytes stay valid while the
 * caller holds `buf` (chunks are never reused).
 */
export class KeySpool {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  num = 0;

  private readonly memoryBytes: number;
  private readonly chunkBytes: number;
  private readonly spillDir: string;
  /** Sealed chunks in memory, oldest first; head[0] is being read. */
  private readonly head: Chunk[] = [];
  private headIndex = 0;
  private headBytes = 0;
  /** Sealed chunks in the spill file (offset and length), oldest first: after head, before tail. */
  private readonly spilled: { offset: number; used: number }[] = [];
  private spilledIndex = 0;
  private tail: Chunk;
  private count = 0;
  private fd: number | undefined;
  private dir: string | undefined;
  private writeOffset = 0;
  private spilledTotal = 0;

  constructor(options: KeySpoolOptions = {}) {
    this.chunkBytes = Math.max(1024, options.chunkBytes ?? 256 * 1024);
    // At least two chunks: the one being read and the one being written.
    this.memoryBytes = Math.max(2 * this.chunkBytes, options.memoryBytes ?? 8 * 1024 * 1024);
    this.spillDir = options.spillDir ?? tmpdir();
    this.tail = { buf: Buffer.allocUnsafe(this.chunkBytes), used: 0, read: 0 };
  }

  /** Entries queued. */
  get length(): number {
    return this.count;
  }

  /** Bytes ever written to the spill file (0 while everything fitted in memory). */
  get spilledBytes(): number {
    return this.spilledTotal;
  }

  /** Queues a copy of `src[start..end)` with `num`. */
  push(src: Buffer, num: number, start = 0, end = src.length): void {
    const len = end - start;
    if (len > MAX_KEY) throw new RangeError(`key of ${len} bytes is too long to queue`);
    let t = this.tail;
    if (t.used + HEADER + len > t.buf.length) {
      this.seal();
      t = this.tail;
    }
    const b = t.buf;
    let p = t.used;
    b[p] = len & 0xff;
    b[p + 1] = len >>> 8;
    b.writeDoubleLE(num, p + 2);
    p += HEADER;
    copyBytes(src, start, end, b, p);
    t.used = p + len;
    this.count++;
  }

  /** Takes the oldest entry into `buf`/`start`/`end`/`num`; false when empty. */
  shift(): boolean {
    if (this.count === 0) return false;
    let c: Chunk;
    for (;;) {
      if (this.headIndex < this.head.length) {
        c = this.head[this.headIndex];
        if (c.read < c.used) break;
        this.head[this.headIndex] = undefined as unknown as Chunk;
        this.headIndex++;
        this.headBytes -= c.buf.length;
        if (this.headIndex === this.head.length) {
          this.head.length = 0;
          this.headIndex = 0;
        } else if (this.headIndex >= 1024) {
          this.head.splice(0, this.headIndex);
          this.headIndex = 0;
        }
        continue;
      }
      if (this.spilledIndex < this.spilled.length) {
        this.unspill();
        continue;
      }
      c = this.tail;
      break;
    }
    const b = c.buf;
    const p = c.read;
    const len = b[p] | (b[p + 1] << 8);
    this.num = b.readDoubleLE(p + 2);
    this.buf = b;
    this.start = p + HEADER;
    this.end = this.start + len;
    c.read = this.end;
    this.count--;
    return true;
  }

  /** Removes the spill file, if one was made. The spool must not be used afterwards. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** The tail chunk is full: keep it in memory, or send it to the spill file, and start a new one. */
  private seal(): void {
    const t = this.tail;
    if (t.read < t.used) {
      // Order: head chunks, then spilled ones, then the tail. Once anything is spilled, later chunks follow it.
      const spilling =
        this.spilledIndex < this.spilled.length || this.headBytes + t.buf.length > this.memoryBytes;
      if (spilling) this.spill(t);
      else {
        this.head.push(t);
        this.headBytes += t.buf.length;
      }
    }
    this.tail = { buf: Buffer.allocUnsafe(this.chunkBytes), used: 0, read: 0 };
  }

  private spill(c: Chunk): void {
    if (this.fd === undefined) {
      this.dir = mkdtempSync(join(this.spillDir, 'astaire-spool-'));
      this.fd = openSync(join(this.dir, 'keys'), 'w+');
    }
    if (this.spilledIndex === this.spilled.length) {
      // Everything spilled so far was read back: start the file over.
      this.spilled.length = 0;
      this.spilledIndex = 0;
      this.writeOffset = 0;
    }
    const used = c.used - c.read;
    let done = 0;
    while (done < used)
      done += writeSync(this.fd, c.buf, c.read + done, used - done, this.writeOffset + done);
    this.spilled.push({ offset: this.writeOffset, used });
    this.writeOffset += used;
    this.spilledTotal += used;
  }

  private unspill(): void {
    const s = this.spilled[this.spilledIndex++];
    const buf = Buffer.allocUnsafe(s.used);
    let done = 0;
    while (done < s.used) {
      const n = readSync(this.fd as number, buf, done, s.used - done, s.offset + done);
      if (n === 0) throw new Error(`spill file ended early (read ${done} of ${s.used} bytes)`);
      done += n;
    }
    this.head.push({ buf, used: s.used, read: 0 });
    this.headBytes += buf.length;
  }
}
