import { crc32, isReservedKey } from '../core';
import { ConnectionOptions, MemcachedConnection, request } from './connection';
import { LocalMemcachedError } from './errors';
import { MetaResponseParser, MetaStatus } from './meta-parser';
import { CrawlWalk, resolveCrawlWalk } from './crawl-proof';
import { CrawlBackoff, metadumpRequest, MetadumpParser } from './metadump-parser';
import { KeySpool } from './key-spool';
import { Throttle } from './throttle';
import { DEFAULT_BUSY_TIMEOUT_MS, KEY_RAW, KEY_UNADDRESSABLE, keyForm } from './source-copy';

export interface PurgeOptions extends ConnectionOptions {
  /** The local memcached, `host:port`. */
  readonly local: string;
  /** This node's id: names the watermark key. */
  readonly node: string;
  /**
   * `wanted[vbucket]` is 1 for the vbuckets whose items are deleted: those the node gains (the resync's
   * purge), or those it no longer holds (the cleanup after a commit).
   */
  readonly wanted: Uint8Array;
  readonly vbuckets: number;
  /** Give up on a local crawler that stays BUSY this long. @default 60000 */
  readonly busyTimeoutMs?: number;
  /** Enumeration passes at most (LRU walks). @default 3 */
  readonly maxPasses?: number;
  /**
   * How the local node is enumerated (crawl-proof.ts): a hash walk lists every item stored before the purge
   * began, so one pass does; an LRU walk misses some (its own deletes make the crawler skip items), so
   * passes repeat while one deletes something. @default 'auto' (the hash table from memcached 1.6.19)
   */
  readonly crawlWalk?: CrawlWalk;
  /**
   * Most conditional deletes in flight; more wait in a queue that spills to `spillDir`. The enumeration
   * is never paused: a crawler waiting on us would block other agents' crawl requests, and the worker
   * threads that receive them (see KeySpool). @default 1000
   */
  readonly inflightDeletes?: number;
  readonly spillDir?: string;
  /** Average cap on deletes sent per second, to protect serving traffic. @default unlimited */
  readonly maxDeletesPerSec?: number;
  /** Called once per item deleted, as it happens (progress). */
  readonly onDeleted?: () => void;
  /** Names the operation in logs and errors. @default 'purge' */
  readonly label?: string;
  readonly log?: (line: string) => void;
}

export interface PurgeStats {
  /** Items deleted (stale copies, or values a client wrote before the watermark: the copy brings those back). */
  purged: number;
  /** Enumeration passes run. */
  passes: number;
  /** The local CAS watermark: every item stored before the purge has a smaller CAS. */
  watermark: number;
}

export const DEFAULT_PURGE_PASSES = 3;
const WATERMARK_TTL_SEC = 300;
const MD = Buffer.from('md ');
const C = Buffer.from(' C');
const B_C = Buffer.from(' b C');
const CRLF = Buffer.from('\r\n');

/** The marker key whose CAS is the watermark: printable ASCII, within the 250-byte key limit. */
export function watermarkKey(node: string): string {
  return `astaire:watermark:${node.replace(/[^A-Za-z0-9_.:-]/g, '_')}`.slice(0, 250);
}

/**
 * Reads the local memcached's CAS watermark: stores a marker key and reads its CAS back. memcached's
 * CAS counter is global and monotonic per server, so every item stored before has a smaller CAS.
 */
export async function readWatermark(
  local: string,
  node: string,
  options: ConnectionOptions = {},
): Promise<number> {
  const key = watermarkKey(node);
  const text = await request(
    local,
    `ms ${key} 1 T${WATERMARK_TTL_SEC}\r\nx\r\nmg ${key} c\r\n`,
    // Two answer lines: the set's, then the get's (an error answers each command with one line too).
    (t) => t.split('\r\n').length >= 3,
    options,
  );
  const m = /^HD\r\nHD c(\d+)\r\n$/.exec(text);
  if (!m)
    throw new LocalMemcachedError(
      `local memcached ${local} did not give a CAS watermark: ${JSON.stringify(text)}`,
    );
  const cas = Number(m[1]);
  if (!Number.isSafeInteger(cas))
    throw new LocalMemcachedError(`local memcached ${local} CAS watermark ${m[1]} is above 2^53`);
  return cas;
}

/**
 * Deletes from the local memcached every item of the gained vbuckets stored before the purge began
 * (CAS below the watermark), each with a CAS-conditional `md`, so a write racing the purge is never
 * deleted. Stale copies (a vbucket coming back to a former replica, leftovers of a rolled-back
 * migration) would otherwise survive the add-mode copy. Anything a client wrote during the migration
 * before the watermark also went to the old replicas, which the copy reads afterwards, so it comes back.
 * Enumerates again while a pass deletes something (the crawler misses items moving between LRU lists),
 * at most `maxPasses` passes. Astaire's reserved keys (RESERVED_KEY_PREFIX) are never deleted.
 *
 * The cleanup after a commit (agent/cleanup.ts) runs the same machinery with `wanted` set to the
 * vbuckets the node no longer holds, throttled by `maxDeletesPerSec`.
 */
export async function purgeStale(o: PurgeOptions): Promise<PurgeStats> {
  let watermark: number;
  try {
    watermark = await readWatermark(o.local, o.node, o);
  } catch (cause) {
    if (cause instanceof LocalMemcachedError) throw cause;
    throw LocalMemcachedError.unreachable(o.local, cause);
  }
  const stats: PurgeStats = { purged: 0, passes: 0, watermark };
  const sent = { deletes: 0 };
  const throttle = new Throttle(o.maxDeletesPerSec, () => sent.deletes);
  const maxPasses = Math.max(1, o.maxPasses ?? DEFAULT_PURGE_PASSES);
  const walk = await resolveCrawlWalk(o.local, o.crawlWalk, o);
  const connect = () =>
    MemcachedConnection.connect(o.local, o).catch((cause: Error) => {
      throw LocalMemcachedError.unreachable(o.local, cause);
    });
  while (stats.passes < maxPasses) {
    stats.passes++;
    // Fresh connections per pass (at most maxPasses): no stale handler of a finished pass sees the next one's bytes.
    const conns: MemcachedConnection[] = [];
    let deleted: number;
    const started = Date.now();
    try {
      const dump = await connect();
      conns.push(dump);
      const del = await connect();
      conns.push(del);
      const pass = new PurgePass(o, watermark, metadumpRequest(walk), dump, del, throttle, sent);
      try {
        deleted = await pass.run();
      } finally {
        pass.close();
      }
    } finally {
      for (const c of conns) c.close();
    }
    stats.purged += deleted;
    o.log?.(
      `${o.label ?? 'purge'} pass ${stats.passes}: ${deleted} items deleted below CAS ${watermark} in ${Date.now() - started} ms`,
    );
    // A hash walk listed every item linked throughout, and every stale one was linked before the watermark.
    if (deleted === 0 || walk === 'hash') break;
  }
  return stats;
}

/** One enumeration of the local node, with pipelined conditional deletes on a second connection. */
class PurgePass {
  private inflight = 0;
  /** Stale keys found, each with its CAS, not yet sent. */
  private readonly queue: KeySpool;
  private deleted = 0;
  private dumpDone = false;
  private settled = false;
  private readonly backoff: CrawlBackoff;
  private readonly maxInflight: number;
  /** Set while the throttle holds the next delete back. */
  private throttled: NodeJS.Timeout | undefined;
  private resolve!: (deleted: number) => void;
  private reject!: (error: Error) => void;

  constructor(
    private readonly o: PurgeOptions,
    private readonly watermark: number,
    private readonly metadump: Buffer,
    private readonly dump: MemcachedConnection,
    private readonly del: MemcachedConnection,
    private readonly throttle: Throttle,
    private readonly sent: { deletes: number },
  ) {
    this.maxInflight = Math.max(1, o.inflightDeletes ?? 1000);
    this.queue = new KeySpool({ spillDir: o.spillDir });
    this.backoff = new CrawlBackoff(o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  }

  close(): void {
    clearTimeout(this.throttled);
    this.queue.close();
  }

  run(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const failed = (error: Error) =>
        this.fail(
          error instanceof LocalMemcachedError
            ? error
            : new LocalMemcachedError(
                `local memcached ${this.o.local} failed during the ${this.o.label ?? 'purge'}: ${error.message}`,
                {
                  cause: error,
                },
              ),
        );
      this.dump.onFail(failed);
      this.del.onFail(failed);
      this.dump.awaiting = () => !this.settled && !this.dumpDone && !this.backoff.waiting;
      this.del.awaiting = () => !this.settled && this.inflight > 0;
      const dumpParser = new MetadumpParser({
        item: (key, length, _exp, _size, cas) => this.onItem(key, length, cas),
        end: () => {
          this.dumpDone = true;
          this.checkDone();
        },
        busy: () => this.onBusy(),
        error: (line) => this.failLocal(`refused lru_crawler metadump: ${line}`),
      });
      const delParser = new MetaResponseParser({
        value: () => this.failLocal('unexpected value in answer to a meta delete'),
        status: (status) => this.onDeleted(status),
        error: (line) => this.failLocal(`refused a meta delete: ${line}`),
      });
      this.dump.onData((chunk) => dumpParser.feed(chunk));
      this.del.onData((chunk) => delParser.feed(chunk));
      this.dump.write(this.metadump);
    });
  }

  private onItem(key: Buffer, length: number, cas: number): void {
    if (this.settled) return;
    // CAS 0: none reported, or above 2^53 (newer than any watermark we can hold): never stale.
    if (cas === 0 || cas >= this.watermark) return;
    if (this.o.wanted[crc32(key, 0, length) % this.o.vbuckets] !== 1) return;
    // The node's own completeness marker and watermark are not data of the vbucket they hash to.
    if (isReservedKey(key, length)) return;
    this.queue.push(key, cas, 0, length);
    this.send();
  }

  /** Sends queued deletes up to the in-flight limit. */
  private send(): void {
    const q = this.queue;
    if (this.throttled || this.settled) return;
    while (this.inflight < this.maxInflight && q.length > 0) {
      const wait = this.throttle.delayMs();
      if (wait > 0) {
        this.throttled = setTimeout(() => {
          this.throttled = undefined;
          this.send();
          this.checkDone();
        }, wait);
        return;
      }
      if (!q.shift()) break;
      const key = q.buf.subarray(q.start, q.end);
      const form = keyForm(key);
      if (form === KEY_UNADDRESSABLE) {
        this.o.log?.(
          `${this.o.label ?? 'purge'}: cannot address a local key (${key.length} bytes, not printable ASCII): ${key.subarray(0, 32).toString('hex')}...`,
        );
        continue;
      }
      const wire = form === KEY_RAW ? key : Buffer.from(key.toString('base64'), 'latin1');
      this.del.write(Buffer.concat([MD, wire, form === KEY_RAW ? C : B_C, Buffer.from(String(q.num)), CRLF]));
      this.inflight++;
      this.sent.deletes++;
    }
  }

  private onDeleted(status: MetaStatus): void {
    if (this.inflight === 0) return this.failLocal('answered a meta delete nobody sent: lost framing');
    this.inflight--;
    // HD: deleted. EX: rewritten since the enumeration (its CAS changed): kept. NF: gone already.
    if (status === 'HD') {
      this.deleted++;
      this.o.onDeleted?.();
    } else if (status !== 'EX' && status !== 'NF')
      return this.failLocal(`unexpected ${status} in answer to a meta delete`);
    this.send();
    this.checkDone();
  }

  private onBusy(): void {
    // Another agent copying from this node holds the crawler: back off and ask again.
    if (!this.backoff.busy(() => this.dump.write(this.metadump)))
      this.failLocal(
        `lru_crawler stayed BUSY for more than ${this.o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS} ms during the ${this.o.label ?? 'purge'}`,
      );
  }

  private checkDone(): void {
    if (this.settled || !this.dumpDone || this.inflight > 0 || this.queue.length > 0) return;
    this.settled = true;
    this.resolve(this.deleted);
  }

  private failLocal(message: string): void {
    this.fail(new LocalMemcachedError(`local memcached ${this.o.local} ${message}`));
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.backoff.cancel();
    clearTimeout(this.throttled);
    this.reject(error);
  }
}
