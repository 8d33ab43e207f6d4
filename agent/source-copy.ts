import type { CrawlWalk } from './crawl-proof';
import { Server } from '../core';
import { copyBytes } from './bytes';
import { ConnectionOptions, MemcachedConnection } from './connection';
import { LocalMemcachedError, SourceFailedError } from './errors';
import { CasSet } from './cas-set';
import { Fifo } from './fifo';
import { KeySpool } from './key-spool';
import { MetaResponseParser, MetaStatus } from './meta-parser';
import { CrawlReader, DEFAULT_BUSY_TIMEOUT_MS, SourceCrawl } from './source-crawl';
import { Throttle } from './throttle';

export { DEFAULT_BUSY_TIMEOUT_MS };

/** What one enumeration pass found, summed over the sources that ran it. */
export interface PassStats {
  /** Keys of wanted vbuckets the enumeration listed. */
  keys: number;
  /** Of those, keys not yet on the local node (every key in pass 1; crawl misses caught later after it). */
  missing: number;
  /** Items copied by this pass. */
  copied: number;
  /**
   * Sources whose enumeration in this pass provably listed every item (see whyNotComplete): they need
   * no further pass. Only a source that no client touched during the crawl can prove it.
   */
  proven: number;
}

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
  /**
   * Items whose key the meta protocol of memcached 1.6.18 cannot address: not printable ASCII (so it
   * needs base64) and longer than 186 bytes (its base64 form exceeds the 250-byte key limit, which
   * 1.6.18 checks before decoding). Reported, never silently dropped.
   */
  unaddressable: number;
  /**
   * Index 0 is the first pass. `lru_crawler metadump` misses items that move between LRU lists mid-crawl
   * or that a request holds at that instant, so later passes look again, unless the source's counters
   * prove that the crawl missed nothing.
   */
  passes: PassStats[];
}

export function emptyCopyStats(): CopyStats {
  return { items: 0, bytes: 0, notStored: 0, skipped: 0, unaddressable: 0, passes: [] };
}

export interface CopyWindows {
  /**
   * Memory for keys enumerated but not yet requested, per queue (two per source); past it they go to a
   * spill file. The enumeration itself is never paused (see KeySpool for why). @default 8 MiB
   */
  readonly queueMemoryBytes?: number;
  /** Most meta gets in flight per source. @default 1000 */
  readonly inflightGets?: number;
  /** Most (estimated) value bytes in flight per source. @default 256 KiB (DEFAULT_INFLIGHT_BYTES) */
  readonly inflightBytes?: number;
  /** Most bytes written locally but not yet acknowledged. @default 2 MiB */
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
  /** Paces this source's copy by its latency (the adaptive throttle, latency-probe.ts); none: unpaced. */
  readonly guard?: { add(bytes: number): void; delayMs(): number };
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
  /** Enumeration passes at most (1 = no re-check of crawl misses). @default 3 */
  readonly maxPasses?: number;
  /** Read the source's counters around each crawl and stop once one proves complete. @default true */
  readonly crawlProof?: boolean;
  /** How the source is enumerated when this copy opens its own crawl (SourceCrawlOptions). @default 'auto' */
  readonly crawlWalk?: CrawlWalk;
  /**
   * Resolves when the local node may be read and written (the purge of stale copies is over): until then
   * the source is crawled and its keys spooled, but nothing is fetched, written or checked locally. A
   * rejection is the caller's to handle (it aborts `signal`). @default already resolved
   */
  readonly localReady?: Promise<void>;
  /** Where key queues spill when they outgrow `windows.queueMemoryBytes`. @default os.tmpdir() */
  readonly spillDir?: string;
  /** Diagnostics (unaddressable keys). */
  readonly log?: (line: string) => void;
  /**
   * The source's enumeration, shared with the copies to other receivers (a push: one crawl for all of
   * them); this copy joins its rounds. @default a crawl of its own
   */
  readonly crawl?: SourceCrawl;
  /** Called once this copy joined `crawl` or failed before it could (see SourceCrawl.hold). */
  readonly joined?: () => void;
}

export const DEFAULT_MAX_PASSES = 3;
/**
 * Measured with `npm run bench -- resync-live` (BENCH_COMPARE: the two settings run in turn, in one
 * invocation): with 100 KB items, 256 KiB moved a median 294 MB/s against 212 MB/s for 1 MiB, and 4 MiB was
 * slower still (192 against 352 MB/s for 1 MiB); with 1 KB items (about 230 gets in flight instead of 1000)
 * the medians did not differ beyond the noise (64k and 62k items/s). Probably less buffered data stays in
 * the CPU caches; the machine was shared and loaded, so treat the figures as a direction.
 */
export const DEFAULT_INFLIGHT_BYTES = 256 * 1024;
/** Item versions remembered per source (a table of at most 8 MiB below CAS 2^32); more are re-checked. */
const MAX_SEEN = 1 << 20;
/** memcached's key length limit, checked by 1.6.18 on the key as sent (before base64 decoding). */
const MAX_KEY = 250;
/** The longest raw key whose base64 form fits MAX_KEY. */
const MAX_BASE64_RAW = 186;
/** TTLs above this are absolute unix times in memcached. */
const THIRTY_DAYS = 60 * 60 * 24 * 30;
/** Values up to this size are copied into the batch buffer; larger ones are written by reference. */
const COPY_LIMIT = 16 * 1024;
const CHUNK = 256 * 1024;
/** Room for one command line: verb, a 250-byte key, flags. */
const LINE_ROOM = 400;

/** keyForm's answers: the key goes raw, as base64 (` b`), or cannot be addressed at all. */
export const KEY_RAW = 0;
export const KEY_BASE64 = 1;
export const KEY_UNADDRESSABLE = 2;

/** How `key[0..length)` goes on the wire: raw when it is printable ASCII without spaces, base64 otherwise. */
export function keyForm(key: Buffer, length = key.length): number {
  if (length === 0) return KEY_UNADDRESSABLE;
  if (length <= MAX_KEY) {
    let safe = true;
    for (let i = 0; i < length; i++) {
      const c = key[i];
      if (c <= 0x20 || c >= 0x7f) {
        safe = false;
        break;
      }
    }
    if (safe) return KEY_RAW;
  }
  return length <= MAX_BASE64_RAW ? KEY_BASE64 : KEY_UNADDRESSABLE;
}

/** One buffer commands are built in, with the writes of it the socket has not finished yet. */
interface WriterChunk {
  readonly buf: Buffer;
  writes: number;
  /** Filled: once its writes finish, the buffer can be built in again. */
  full: boolean;
}

/** Spare chunk buffers kept per writer; the windows keep fewer than this in flight. */
const MAX_SPARE = 16;

/**
 * Builds commands straight into large buffers (no per-item strings or concats)
 * and hands them to a connection in chunks. A chunk's written part is never
 * touched while the socket holds it; a full chunk whose writes have all finished
 * is built in again (a fresh 256 KB buffer per chunk cost the agent ~10k page
 * faults and GC work per 500 MB copied).
 */
export class CommandWriter {
  private chunk: WriterChunk = { buf: Buffer.allocUnsafe(CHUNK), writes: 0, full: false };
  private buf = this.chunk.buf;
  private readonly spare: Buffer[] = [];
  /** Start of the bytes not yet handed to the socket; before it, the buffer belongs to the socket. */
  private start = 0;
  private pos = 0;
  /** Bytes handed to the socket since the last `take`. */
  private written = 0;

  constructor(private readonly conn: MemcachedConnection) {}

  get pending(): number {
    return this.written + this.pos - this.start;
  }

  /** Makes room for n more bytes: another buffer when this one is full (the written part is never reused). */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    const old = this.chunk;
    old.full = true;
    if (old.writes === 0) this.recycle(old.buf);
    const buf = (n <= CHUNK ? this.spare.pop() : undefined) ?? Buffer.allocUnsafe(Math.max(CHUNK, n));
    this.chunk = { buf, writes: 0, full: false };
    this.buf = buf;
    this.start = 0;
    this.pos = 0;
  }

  private recycle(buf: Buffer): void {
    if (buf.length === CHUNK && this.spare.length < MAX_SPARE) this.spare.push(buf);
  }

  ascii(b: Buffer): void {
    this.pos += copyBytes(b, 0, b.length, this.buf, this.pos);
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  dec(n: number): void {
    const buf = this.buf;
    if (n < 0) {
      buf[this.pos++] = 0x2d;
      n = -n;
    }
    if (n < 10) {
      buf[this.pos++] = 0x30 + n;
      return;
    }
    let digits = 0;
    for (let m = n; m >= 1; m = Math.floor(m / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    while (digits-- > 0) {
      buf[--p] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
  }

  /** The key `src[start..end)` in the form `form` says (the caller adds ` b` and the other flags). */
  key(src: Buffer, start: number, end: number, form: number): void {
    if (form === KEY_RAW) this.pos += copyBytes(src, start, end, this.buf, this.pos);
    else this.pos += this.buf.write(src.toString('base64', start, end), this.pos, 'latin1');
  }

  /** Data of any size: copied when small, else written by reference after what is buffered. */
  data(data: Buffer): void {
    if (data.length > COPY_LIMIT) {
      this.flush();
      this.conn.write(data);
      this.written += data.length;
      this.room(2);
      this.buf[this.pos++] = 0x0d;
      this.buf[this.pos++] = 0x0a;
      return;
    }
    this.room(data.length + 2);
    this.buf.set(data, this.pos);
    this.pos += data.length;
    this.buf[this.pos++] = 0x0d;
    this.buf[this.pos++] = 0x0a;
  }

  flush(): void {
    if (this.pos === this.start) return;
    const c = this.chunk;
    c.writes++;
    this.conn.write(this.buf.subarray(this.start, this.pos), () => {
      if (--c.writes === 0 && c.full) this.recycle(c.buf);
    });
    this.written += this.pos - this.start;
    this.start = this.pos;
  }

  /** Flushes and returns the bytes written since the last take. */
  take(): number {
    this.flush();
    const n = this.written;
    this.written = 0;
    return n;
  }
}

/**
 * Copies the wanted vbuckets of one old replica into the local memcached:
 * `lru_crawler metadump all` enumerations, keys filtered by vbucket, pipelined
 * `mg` on a second connection, `ms ... ME q` (add mode) locally.
 *
 * The crawler walks the HOT/WARM/COLD/TEMP lists of each slab class in parallel,
 * and an item that moves into a list whose walk already finished (a client read
 * bumps it, the LRU maintainer moves it) is never printed; nor is an item it finds
 * locked by a request at that instant. So the keys are fetched only after the
 * crawl (they wait in a spool meanwhile, and the dump is never paused), and after
 * the first pass, the source is enumerated again and every wanted key not yet on
 * the local node (a cheap `mg <key>` there: HD or EN) is fetched and added, until
 * a pass finds nothing missing or `maxPasses` passes ran. The source's `stats`
 * counters, read before and after each crawl, can prove that the crawl skipped
 * nothing (whyNotComplete: no client touched the source meanwhile); then no
 * further pass runs. Every other stage is
 * windowed, so memory stays bounded whatever the dataset; the key queues hold at
 * most 8 MiB each in memory and spill the rest (the wanted keys, ~30 bytes each)
 * to disk.
 *
 * Rejects with SourceFailedError when the source fails (the caller takes its
 * vbuckets from another replica) and LocalMemcachedError when the local node
 * fails (the resync fails).
 */
export async function copyFromSource(options: SourceCopyOptions): Promise<void> {
  const conns: MemcachedConnection[] = [];
  let ownCrawl: SourceCrawl | undefined;
  let copy: SourceCopy | undefined;
  try {
    const connectLocal = () =>
      MemcachedConnection.connect(options.local, options).catch((cause: Error) => {
        throw LocalMemcachedError.unreachable(options.local, cause);
      });
    const local = await connectLocal();
    conns.push(local);
    const check = await connectLocal();
    conns.push(check);
    const connectSource = () =>
      MemcachedConnection.connect(options.source.address, options).catch((cause: Error) => {
        throw new SourceFailedError(options.source.id, cause.message, { cause });
      });
    let crawl = options.crawl;
    if (crawl === undefined) crawl = ownCrawl = await SourceCrawl.open(options);
    const fetch = await connectSource();
    conns.push(fetch);
    copy = new SourceCopy(options, crawl, fetch, local, check);
    // Released once it asked for its first round (run() asks at once), so that round includes it.
    const running = copy.run();
    options.joined?.();
    await running;
  } finally {
    options.joined?.();
    copy?.close();
    ownCrawl?.close();
    for (const c of conns) c.close();
  }
}

class SourceCopy {
  /** Keys to fetch from the source, each with `size * 4 + form`. May spill to disk: the dump is never paused. */
  private readonly keys: KeySpool;
  /** Keys to look up locally (passes 2+), with their info. May spill likewise. */
  private readonly toCheck: KeySpool;
  /** Presence checks and meta gets sent, in order (bounded by maxInflight: never spill). */
  private readonly checking = new KeySpool({ memoryBytes: Infinity, chunkBytes: 64 * 1024 });
  private readonly inflight = new KeySpool({ memoryBytes: Infinity, chunkBytes: 64 * 1024 });
  private inflightBytes = 0;
  private readonly localPending = new Fifo<number>();
  /**
   * CAS of every item version an enumeration queued (copy or presence check): later passes skip them.
   * Capped (MAX_SEEN): past it, later passes check those keys locally again, as if new.
   */
  private readonly seen = new CasSet(MAX_SEEN);
  private localPendingBytes = 0;
  private pass = 0;
  /** This pass's crawl reached its END. */
  private dumpDone = false;
  /** `localReady` resolved: local writes and presence checks may start. */
  private localOpen = false;
  /** Waiting to learn whether this pass's crawl is proven (after its END). */
  private readingAfter = false;
  /** This pass's crawl provably listed every item: no further pass is needed. */
  private passProven = false;
  /** Keys this pass (2+) listed that no earlier pass had: presence checks, pending or done. */
  private passListedNew = 0;
  /** Why it is not proven, once known (logged when another pass runs). */
  private notProven: string | undefined;
  private readonly reader: CrawlReader;
  private pumpTimer: NodeJS.Timeout | undefined;
  private settled = false;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private readonly maxInflight: number;
  private readonly maxInflightBytes: number;
  private readonly maxLocalPending: number;
  private readonly maxPasses: number;
  private readonly nowSec: () => number;
  private readonly localOut: CommandWriter;
  private readonly fetchOut: CommandWriter;
  private readonly checkOut: CommandWriter;
  private passStats!: PassStats;
  /** This pass's counters summed over all sources (shared with the other copies of the resync). */
  private allSources!: PassStats;

  constructor(
    private readonly o: SourceCopyOptions,
    private readonly crawl: SourceCrawl,
    private readonly fetch: MemcachedConnection,
    private readonly local: MemcachedConnection,
    private readonly check: MemcachedConnection,
  ) {
    const spool = { memoryBytes: o.windows?.queueMemoryBytes ?? 8 * 1024 * 1024, spillDir: o.spillDir };
    this.keys = new KeySpool(spool);
    this.toCheck = new KeySpool(spool);
    this.maxInflight = o.windows?.inflightGets ?? 1000;
    this.maxInflightBytes = o.windows?.inflightBytes ?? DEFAULT_INFLIGHT_BYTES;
    this.maxLocalPending = o.windows?.localPendingBytes ?? 2 * 1024 * 1024;
    this.maxPasses = Math.max(1, o.maxPasses ?? DEFAULT_MAX_PASSES);
    this.reader = {
      wanted: o.wanted,
      item: (key, length, exp, size, cas) => this.onItem(key, length, exp, size, cas),
      fed: () => this.pump(),
      listed: () => {
        this.dumpDone = true;
        this.readingAfter = true;
      },
      proved: (whyNot) => {
        this.readingAfter = false;
        if (whyNot === undefined) {
          this.passProven = true;
          this.passStats.proven++;
          this.allSources.proven++;
        } else {
          this.notProven = whyNot;
          // Not ready (its receiver's purge, or its turn, is still to come): its local work waits, so its
          // next pass does not need to. Asked now, it shares the round the others are about to ask for
          // instead of asking for a crawl of its own once ready; its keys keep waiting in the spools.
          if (!this.localOpen && this.needsAnotherPass()) this.nextPass();
        }
        this.pump();
      },
      failed: (error) => this.fail(error),
      // Not ready, it has asked for every round it knows it needs (see `proved`): it holds back no other.
      parked: () => this.pass > 0 && !this.localOpen,
    };
    crawl.join(this.reader);
    const offset = o.localClockOffsetSec ?? 0;
    this.nowSec = () => Math.floor(Date.now() / 1000 + offset);
    this.localOut = new CommandWriter(local);
    this.fetchOut = new CommandWriter(fetch);
    this.checkOut = new CommandWriter(check);
  }

  /** Removes spill files. */
  close(): void {
    this.keys.close();
    this.toCheck.close();
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const { source } = this.o;
      const sourceFailed = (error: Error) =>
        this.fail(
          error instanceof SourceFailedError
            ? error
            : new SourceFailedError(source.id, error.message, { cause: error }),
        );
      this.fetch.onFail(sourceFailed);
      const localFailed = (error: Error) =>
        this.fail(
          new LocalMemcachedError(`local memcached ${this.o.local} failed: ${error.message}`, {
            cause: error,
          }),
        );
      this.local.onFail(localFailed);
      this.check.onFail(localFailed);
      const onAbort = () =>
        this.fail(this.o.signal.reason instanceof Error ? this.o.signal.reason : new Error('aborted'));
      if (this.o.signal.aborted) return onAbort();
      this.o.signal.addEventListener('abort', onAbort, { once: true });

      this.fetch.awaiting = () => this.inflight.length > 0;
      this.local.awaiting = () => this.localPending.length > 0;
      this.check.awaiting = () => this.checking.length > 0;

      const fetchParser = new MetaResponseParser({
        value: (data, flags, ttl) => this.onValue(data, flags, ttl),
        status: (status) => this.onFetchStatus(status),
        error: (line) => sourceFailed(new SourceFailedError(source.id, `meta get failed: ${line}`)),
      });
      this.fetch.onData((chunk) => {
        this.local.cork();
        fetchParser.feed(chunk);
        this.flushLocal();
        this.local.uncork();
        this.pump();
      });

      const localParser = new MetaResponseParser({
        value: () => this.failLocal('unexpected value in answer to a meta set'),
        status: (status) => this.onLocalStatus(status),
        error: (line) => this.failLocal(`refused a write: ${line}`),
      });
      this.local.onData((chunk) => localParser.feed(chunk));

      const checkParser = new MetaResponseParser({
        value: () => this.failLocal('unexpected value in answer to a presence check'),
        status: (status) => this.onCheckStatus(status),
        error: (line) => this.failLocal(`refused a presence check: ${line}`),
      });
      this.check.onData((chunk) => {
        checkParser.feed(chunk);
        this.pump();
      });

      if (this.o.localReady === undefined) this.localOpen = true;
      else
        this.o.localReady.then(
          () => {
            this.localOpen = true;
            this.pump();
          },
          () => undefined, // the caller aborts `signal`
        );
      this.startPass();
    });
  }

  private startPass(): void {
    this.pass++;
    this.dumpDone = false;
    this.passProven = false;
    this.notProven = undefined;
    this.passStats = { keys: 0, missing: 0, copied: 0, proven: 0 };
    this.passListedNew = 0;
    const all = this.o.stats.passes;
    while (all.length < this.pass) all.push({ keys: 0, missing: 0, copied: 0, proven: 0 });
    this.allSources = all[this.pass - 1];
    this.crawl.ask(this.reader);
  }

  private onItem(view: Buffer, length: number, exp: number, size: number, cas: number): void {
    // A wanted vbucket's (the parser asked `wants`). Already expired (with slack for clock skew; the meta get
    // has the final word): skip the round trip.
    if (exp !== -1 && exp <= this.nowSec() - 5) return;
    this.passStats.keys++;
    this.allSources.keys++;
    const form = keyForm(view, length);
    if (form === KEY_UNADDRESSABLE) {
      // Seen again by every pass: count it once.
      if (this.pass === 1) {
        this.o.stats.unaddressable++;
        this.o.log?.(
          `source ${this.o.source.id}: skipped a key the meta protocol cannot address (${length} bytes, not printable ASCII): ${view.subarray(0, Math.min(32, length)).toString('hex')}...`,
        );
      }
      return;
    }
    // The same item version (CAS is unique per version on the source) was handled by an earlier pass: it was
    // copied, found present, or is gone (deleted/expired), or this copy has failed. A changed item has a new CAS.
    if (cas > 0 && !this.seen.add(cas)) return;
    // Copied out of the parser's scratch buffer into the queue's chunks (no Buffer per key).
    const info = size * 4 + form;
    if (this.pass === 1) {
      this.passStats.missing++;
      this.allSources.missing++;
      this.keys.push(view, info, 0, length);
    } else {
      this.passListedNew++;
      this.toCheck.push(view, info, 0, length);
    }
  }

  private onValue(data: Buffer, flags: number, ttl: number): void {
    const key = this.inflight;
    if (!key.shift()) return this.failSource('a value nobody asked for: lost framing');
    const info = key.num;
    this.inflightBytes -= Math.floor(info / 4);
    // t-1 is "never expires". Each memcached's clock ticks once a second at a phase of its own, so the time
    // left read here and the expiry the local node derives can disagree by a second either way: the copy
    // takes one second less, never outliving its original (an item with 1 s left is about to expire:
    // copying it would resurrect it; the relative exptime 0 means never).
    if (ttl !== -1 && ttl <= 1) {
      this.o.stats.skipped++;
      return;
    }
    const exptime = ttl === -1 ? 0 : ttl > THIRTY_DAYS ? this.nowSec() + ttl - 1 : ttl - 1;
    const w = this.localOut;
    w.room(LINE_ROOM);
    w.ascii(MS);
    w.key(key.buf, key.start, key.end, info & 3);
    w.byte(0x20);
    w.dec(data.length);
    w.ascii(info & 3 ? B_F : F);
    w.dec(flags);
    w.ascii(T);
    w.dec(exptime);
    w.ascii(ME_Q);
    w.data(data);
    this.o.stats.items++;
    this.o.stats.bytes += data.length;
    this.o.guard?.add(data.length);
    this.passStats.copied++;
    this.allSources.copied++;
  }

  private onFetchStatus(status: MetaStatus): void {
    if (status !== 'EN') return this.failSource(`unexpected ${status} in answer to a meta get`);
    if (!this.inflight.shift()) return this.failSource('an answer nobody asked for: lost framing');
    this.inflightBytes -= Math.floor(this.inflight.num / 4);
    this.o.stats.skipped++; // deleted or expired since the enumeration
  }

  private onCheckStatus(status: MetaStatus): void {
    const c = this.checking;
    if (!c.shift()) return this.failLocal('answered a presence check nobody asked for: lost framing');
    if (status === 'HD') return;
    if (status !== 'EN') return this.failLocal(`unexpected ${status} in answer to a presence check`);
    // The crawl missed it before (or it arrived since): fetch and add it now.
    this.passStats.missing++;
    this.allSources.missing++;
    this.keys.push(c.buf, c.num, c.start, c.end);
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

  private flushLocal(): void {
    if (this.localOut.pending === 0) return;
    this.localOut.room(MN.length);
    this.localOut.ascii(MN);
    const bytes = this.localOut.take();
    this.localPending.push(bytes);
    this.localPendingBytes += bytes;
  }

  private pump(): void {
    if (this.settled) return;
    if (this.pumpTimer !== undefined) return;
    const delay = Math.max(this.o.throttle.delayMs(), this.o.guard?.delayMs() ?? 0);
    if (delay > 0) {
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, delay);
      return;
    }
    // Nothing touches the local node before the purge of its stale copies is over.
    if (!this.localOpen) return;
    // Presence checks on the local node (passes 2+): cheap, no value.
    if (this.toCheck.length > 0 && this.checking.length < this.maxInflight) {
      const w = this.checkOut;
      const q = this.toCheck;
      while (this.checking.length < this.maxInflight && q.shift()) {
        const info = q.num;
        w.room(LINE_ROOM);
        w.ascii(MG);
        w.key(q.buf, q.start, q.end, info & 3);
        w.ascii(info & 3 ? B_CRLF : CRLF);
        this.checking.push(q.buf, info, q.start, q.end);
      }
      w.flush();
    }
    // Fetch from the source only once its crawl is over: while an LRU walk runs, our meta gets lock items (and
    // their hash buckets), and the crawler skips any item it cannot lock at that instant. Overlapping them made
    // pass 1 miss ~20 of 500k items, and so cost two more full crawls; a lone crawl lists them all when no client
    // touches the source. The keys wait in the spool meanwhile. A hash walk skips nothing, but overlapping it
    // was slower all the same on memcached 1.6.18 (106k items/s against 120k, client p99 8x against 3.8x, in
    // `npm run bench -- resync-live`): there the walk holds a bucket's lock while our socket is full.
    if (this.keys.length > 0 && this.dumpDone) {
      const w = this.fetchOut;
      const q = this.keys;
      while (
        this.inflight.length < this.maxInflight &&
        this.inflightBytes < this.maxInflightBytes &&
        this.localPendingBytes < this.maxLocalPending &&
        q.shift()
      ) {
        const info = q.num;
        w.room(LINE_ROOM);
        w.ascii(MG);
        w.key(q.buf, q.start, q.end, info & 3);
        w.ascii(info & 3 ? B_GET_FLAGS : GET_FLAGS);
        this.inflight.push(q.buf, info, q.start, q.end);
        this.inflightBytes += Math.floor(info / 4);
      }
      w.flush();
    }
    this.checkDone();
  }

  private checkDone(): void {
    if (
      this.settled ||
      !this.dumpDone ||
      this.readingAfter ||
      this.keys.length > 0 ||
      this.toCheck.length > 0 ||
      this.checking.length > 0 ||
      this.inflight.length > 0 ||
      this.localPending.length > 0 ||
      this.localOut.pending > 0
    )
      return;
    if (this.needsAnotherPass()) {
      this.nextPass();
      return;
    }
    this.settled = true;
    this.clearTimers();
    this.crawl.leave(this.reader);
    this.resolve();
  }

  /**
   * Pass 1 copies everything it saw; a later pass that found keys missing may not be the last to. A pass
   * whose crawl provably listed every item leaves nothing for another to find. Before the local node is
   * ready a later pass's missing keys are not known yet: each key it listed that no earlier pass had
   * counts as missing.
   */
  private needsAnotherPass(): boolean {
    if (this.passProven || this.pass >= this.maxPasses) return false;
    return this.pass === 1 || this.passStats.missing > 0 || (!this.localOpen && this.passListedNew > 0);
  }

  private nextPass(): void {
    this.o.log?.(
      `source ${this.o.source.id}: enumerating again: crawl ${this.pass} may have missed items (${this.notProven ?? 'no counters from before it'})`,
    );
    this.startPass();
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
    this.crawl.leave(this.reader);
    this.reject(error);
  }

  private clearTimers(): void {
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
  }
}

const MS = Buffer.from('ms ');
const MG = Buffer.from('mg ');
const F = Buffer.from(' F');
const B_F = Buffer.from(' b F');
const T = Buffer.from(' T');
const ME_Q = Buffer.from(' ME q\r\n');
const MN = Buffer.from('mn\r\n');
const CRLF = Buffer.from('\r\n');
const B_CRLF = Buffer.from(' b\r\n');
// u: our reads must not bump items in the source's LRU (that would move them under the crawl).
const GET_FLAGS = Buffer.from(' v f t u\r\n');
const B_GET_FLAGS = Buffer.from(' b v f t u\r\n');
