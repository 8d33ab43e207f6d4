import { Server, vbucketOf } from '../core';
import { ConnectionOptions, MemcachedConnection } from './connection';
import { LocalMemcachedError, SourceFailedError } from './errors';
import { Fifo } from './fifo';
import { MetaResponseParser, MetaStatus } from './meta-parser';
import { MetadumpParser } from './metadump-parser';
import { Throttle } from './throttle';

/** Counters shared by all sources of one resync. */
export interface CopyStats {
  /** Items written locally (or found already written by a client). */
  items: number;
  /** Value bytes fetched and written. */
  bytes: number;
  /** Items the local node already had: a client wrote them during the resync, so ours was dropped. */
  notStored: number;
  /** Items skipped because they expired (or were deleted) before we could copy them. */
  skipped: number;
}

export interface CopyWindows {
  /** Most keys enumerated but not yet requested; the enumeration pauses above it. @default 20000 */
  readonly queuedKeys?: number;
  /** Most meta gets in flight per source. @default 2000 */
  readonly inflightGets?: number;
  /** Most (estimated) value bytes in flight per source. @default 4 MiB */
  readonly inflightBytes?: number;
  /** Most bytes written locally but not yet acknowledged. @default 8 MiB */
  readonly localPendingBytes?: number;
}

export interface SourceCopyOptions extends ConnectionOptions {
  readonly source: Server;
  readonly local: string;
  /** `wanted[vbucket]` is 1 for the vbuckets to take from this source. */
  readonly wanted: Uint8Array;
  readonly vbuckets: number;
  readonly stats: CopyStats;
  readonly throttle: Throttle;
  readonly signal: AbortSignal;
  readonly windows?: CopyWindows;
  /** Give up on a crawler that stays BUSY this long. @default 60000 */
  readonly busyTimeoutMs?: number;
  /**
   * The local memcached's clock minus ours, in seconds: absolute expiry times
   * must be in the clock of the server that converts them, or every TTL above
   * 30 days would be off by the skew. @default 0
   */
  readonly localClockOffsetSec?: number;
}

/** TTLs above this are absolute unix times in memcached. */
const THIRTY_DAYS = 60 * 60 * 24 * 30;
const METADUMP = 'lru_crawler metadump all\r\n';
/** Values up to this size are copied into the batch buffer; larger ones are written by reference. */
const COPY_LIMIT = 64 * 1024;
const BATCH_BYTES = 256 * 1024;

/**
 * Copies the wanted vbuckets of one old replica into the local memcached:
 * one `lru_crawler metadump all` enumeration, keys filtered by vbucket,
 * pipelined `mg` on a second connection, `ms ... ME q` (add mode) locally.
 * Every stage is windowed, so memory stays bounded whatever the dataset.
 *
 * Rejects with SourceFailedError when the source fails (the caller takes its
 * vbuckets from another replica) and LocalMemcachedError when the local node
 * fails (the resync fails).
 */
export async function copyFromSource(options: SourceCopyOptions): Promise<void> {
  const conns: MemcachedConnection[] = [];
  try {
    const local = await MemcachedConnection.connect(options.local, options).catch((cause: Error) => {
      throw new LocalMemcachedError(`local memcached ${options.local} is unreachable: ${cause.message}`, { cause });
    });
    conns.push(local);
    const connectSource = () =>
      MemcachedConnection.connect(options.source.address, options).catch((cause: Error) => {
        throw new SourceFailedError(options.source.id, cause.message, { cause });
      });
    const dump = await connectSource();
    conns.push(dump);
    const fetch = await connectSource();
    conns.push(fetch);
    await new SourceCopy(options, dump, fetch, local).run();
  } finally {
    for (const c of conns) c.close();
  }
}

class SourceCopy {
  private readonly keys = new Fifo<Buffer>();
  private readonly keySizes = new Fifo<number>();
  private readonly inflight = new Fifo<string>();
  private readonly inflightSizes = new Fifo<number>();
  private inflightBytes = 0;
  private readonly localPending = new Fifo<number>();
  private localPendingBytes = 0;
  private dumpDone = false;
  private busySince: number | undefined;
  private busyDelay = 50;
  private busyTimer: NodeJS.Timeout | undefined;
  private pumpTimer: NodeJS.Timeout | undefined;
  private out: Buffer[] = [];
  private batch: Buffer = Buffer.allocUnsafe(BATCH_BYTES);
  private batchPos = 0;
  private settled = false;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private readonly maxQueued: number;
  private readonly maxInflight: number;
  private readonly maxInflightBytes: number;
  private readonly maxLocalPending: number;
  private readonly nowSec: () => number;

  constructor(
    private readonly o: SourceCopyOptions,
    private readonly dump: MemcachedConnection,
    private readonly fetch: MemcachedConnection,
    private readonly local: MemcachedConnection,
  ) {
    this.maxQueued = o.windows?.queuedKeys ?? 20000;
    this.maxInflight = o.windows?.inflightGets ?? 2000;
    this.maxInflightBytes = o.windows?.inflightBytes ?? 4 * 1024 * 1024;
    this.maxLocalPending = o.windows?.localPendingBytes ?? 8 * 1024 * 1024;
    const offset = o.localClockOffsetSec ?? 0;
    this.nowSec = () => Math.floor(Date.now() / 1000 + offset);
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const { source } = this.o;
      const sourceFailed = (error: Error) =>
        this.fail(error instanceof SourceFailedError ? error : new SourceFailedError(source.id, error.message, { cause: error }));
      this.dump.onFail(sourceFailed);
      this.fetch.onFail(sourceFailed);
      this.local.onFail((error) =>
        this.fail(new LocalMemcachedError(`local memcached ${this.o.local} failed: ${error.message}`, { cause: error })),
      );
      const onAbort = () => this.fail(this.o.signal.reason instanceof Error ? this.o.signal.reason : new Error('aborted'));
      if (this.o.signal.aborted) return onAbort();
      this.o.signal.addEventListener('abort', onAbort, { once: true });

      this.dump.awaiting = () => !this.dumpDone && this.busyTimer === undefined;
      this.fetch.awaiting = () => this.inflight.length > 0;
      this.local.awaiting = () => this.localPending.length > 0;

      const dumpParser = new MetadumpParser({
        item: (key, exp, size) => this.onItem(key, exp, size),
        end: () => {
          this.dumpDone = true;
        },
        busy: () => this.onBusy(),
        error: (line) => sourceFailed(new SourceFailedError(source.id, `lru_crawler metadump refused: ${line}`)),
      });
      this.dump.onData((chunk) => {
        dumpParser.feed(chunk);
        this.pump();
      });

      const fetchParser = new MetaResponseParser({
        value: (data, flags, ttl) => this.onValue(data, flags, ttl),
        status: (status) => this.onFetchStatus(status),
        error: (line) => sourceFailed(new SourceFailedError(source.id, `meta get failed: ${line}`)),
      });
      this.fetch.onData((chunk) => {
        fetchParser.feed(chunk);
        this.flushLocal();
        this.pump();
      });

      const localParser = new MetaResponseParser({
        value: () => this.failLocal('unexpected value in answer to a meta set'),
        status: (status) => this.onLocalStatus(status),
        error: (line) => this.failLocal(`refused a write: ${line}`),
      });
      this.local.onData((chunk) => localParser.feed(chunk));

      this.dump.write(METADUMP);
    });
  }

  private onItem(key: Buffer, exp: number, size: number): void {
    // Already expired (with slack for clock skew; the meta get has the final word): skip the round trip.
    if (exp !== -1 && exp <= this.nowSec() - 5) return;
    if (this.o.wanted[vbucketOf(key, this.o.vbuckets)] !== 1) return;
    this.keys.push(key);
    this.keySizes.push(size);
    if (this.keys.length >= this.maxQueued && !this.dump.paused) this.dump.pause();
  }

  private onBusy(): void {
    const now = Date.now();
    this.busySince ??= now;
    const limit = this.o.busyTimeoutMs ?? 60000;
    if (now - this.busySince > limit) {
      this.fail(new SourceFailedError(this.o.source.id, `lru_crawler stayed BUSY for more than ${limit} ms`));
      return;
    }
    // Another crawl (an operator's, or another agent's) holds the crawler: back off and ask again.
    this.busyTimer = setTimeout(() => {
      this.busyTimer = undefined;
      this.dump.write(METADUMP);
    }, this.busyDelay);
    this.busyDelay = Math.min(this.busyDelay * 2, 1000);
  }

  private onValue(data: Buffer, flags: number, ttl: number): void {
    const key = this.inflight.shift();
    this.inflightBytes -= this.inflightSizes.shift() ?? 0;
    if (key === undefined) return this.failSource('a value nobody asked for: lost framing');
    // t-1 is "never expires"; anything else below 1 s is about to expire: copying it would resurrect it.
    if (ttl !== -1 && ttl < 1) {
      this.o.stats.skipped++;
      return;
    }
    const exptime = ttl === -1 ? 0 : ttl > THIRTY_DAYS ? this.nowSec() + ttl : ttl;
    this.appendSet(key, data, flags, exptime);
    this.o.stats.items++;
    this.o.stats.bytes += data.length;
  }

  private onFetchStatus(status: MetaStatus): void {
    if (status !== 'EN') return this.failSource(`unexpected ${status} in answer to a meta get`);
    this.inflight.shift();
    this.inflightBytes -= this.inflightSizes.shift() ?? 0;
    this.o.stats.skipped++; // deleted or expired since the enumeration
  }

  private onLocalStatus(status: MetaStatus): void {
    if (status === 'NS') {
      this.o.stats.notStored++; // a client wrote this key meanwhile: its value wins
      return;
    }
    if (status !== 'MN') return this.failLocal(`unexpected ${status} in answer to a meta set`);
    this.localPendingBytes -= this.localPending.shift() ?? 0;
    this.pump();
  }

  private appendSet(key: string, data: Buffer, flags: number, exptime: number): void {
    const header = `ms ${key} ${data.length} b F${flags} T${exptime} ME q\r\n`;
    const need = header.length + data.length + 2;
    if (data.length > COPY_LIMIT) {
      this.cutBatch();
      this.out.push(Buffer.from(header, 'latin1'), data, CRLF);
      return;
    }
    if (this.batchPos + need > this.batch.length) this.cutBatch();
    this.batchPos += this.batch.write(header, this.batchPos, 'latin1');
    this.batchPos += data.copy(this.batch, this.batchPos);
    this.batch[this.batchPos++] = 0x0d;
    this.batch[this.batchPos++] = 0x0a;
  }

  private cutBatch(): void {
    if (this.batchPos === 0) return;
    this.out.push(this.batch.subarray(0, this.batchPos));
    // The socket keeps the written buffer until sent: never reuse it.
    this.batch = Buffer.allocUnsafe(BATCH_BYTES);
    this.batchPos = 0;
  }

  private flushLocal(): void {
    this.cutBatch();
    if (this.out.length === 0) return;
    this.out.push(MN);
    let bytes = 0;
    for (const b of this.out) {
      bytes += b.length;
      this.local.write(b);
    }
    this.out = [];
    this.localPending.push(bytes);
    this.localPendingBytes += bytes;
  }

  private pump(): void {
    if (this.settled) return;
    if (this.pumpTimer !== undefined) return;
    const delay = this.o.throttle.delayMs();
    if (delay > 0) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, delay);
      return;
    }
    let request = '';
    while (
      this.keys.length > 0 &&
      this.inflight.length < this.maxInflight &&
      this.inflightBytes < this.maxInflightBytes &&
      this.localPendingBytes < this.maxLocalPending
    ) {
      const key = (this.keys.shift() as Buffer).toString('base64');
      const size = this.keySizes.shift() as number;
      request += `mg ${key} b v f t u\r\n`;
      this.inflight.push(key);
      this.inflightSizes.push(size);
      this.inflightBytes += size;
      if (request.length > 32768) {
        this.fetch.write(Buffer.from(request, 'latin1'));
        request = '';
      }
    }
    // latin1: base64 keys are ASCII, and it skips the UTF-8 encoder that showed up in profiles.
    if (request.length > 0) this.fetch.write(Buffer.from(request, 'latin1'));
    if (this.dump.paused && this.keys.length < this.maxQueued / 2) this.dump.resume();
    this.checkDone();
  }

  private checkDone(): void {
    if (
      this.dumpDone &&
      this.keys.length === 0 &&
      this.inflight.length === 0 &&
      this.localPending.length === 0 &&
      this.batchPos === 0 &&
      this.out.length === 0 &&
      !this.settled
    ) {
      this.settled = true;
      this.clearTimers();
      this.resolve();
    }
  }

  private failSource(message: string): void {
    this.fail(new SourceFailedError(this.o.source.id, message));
  }

  private failLocal(message: string): void {
    this.fail(new LocalMemcachedError(`local memcached ${this.o.local} ${message}`));
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimers();
    this.reject(error);
  }

  private clearTimers(): void {
    if (this.busyTimer) clearTimeout(this.busyTimer);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
  }
}

const CRLF = Buffer.from('\r\n');
const MN = Buffer.from('mn\r\n');
