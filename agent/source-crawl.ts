import { crc32, isReservedKey, Server } from '../core';
import { ConnectionOptions, MemcachedConnection } from './connection';
import {
  chooseCrawlWalk,
  CrawlCounters,
  CrawlWalk,
  parseCrawlCounters,
  parseServerVersion,
  readCrawlCounters,
  readStats,
  whyNotComplete,
} from './crawl-proof';
import { SourceFailedError } from './errors';
import { CrawlBackoff, metadumpRequest, MetadumpParser } from './metadump-parser';

/** A copy that takes the items of some vbuckets from a source's crawls. */
export interface CrawlReader {
  /** `wanted[vbucket]` is 1 for the vbuckets it takes. */
  readonly wanted: Uint8Array;
  /** One listed item of a wanted vbucket; `key` is the parser's scratch buffer, valid during the call only. */
  item(key: Buffer, length: number, exp: number, size: number, cas: number): void;
  /** A chunk of the dump was parsed (the reader may act on what it queued). */
  fed(): void;
  /** The crawl's END: it listed everything it will list. */
  listed(): void;
  /** After `listed`: undefined when the crawl provably listed every item (crawl-proof.ts), else why not. */
  proved(whyNot: string | undefined): void;
  /** The source failed: no crawl of it will come. */
  failed(error: Error): void;
  /**
   * True while the reader should not hold a further round back (its receiver is not ready: it asked for
   * every round it knows it needs). @default never
   */
  parked?(): boolean;
}

export interface SourceCrawlOptions extends ConnectionOptions {
  readonly source: Server;
  readonly vbuckets: number;
  /** Give up on a crawler that stays BUSY this long. @default 60000 */
  readonly busyTimeoutMs?: number;
  /** Read the source's counters around each crawl, to prove it complete. @default true */
  readonly crawlProof?: boolean;
  /**
   * How to enumerate (crawl-proof.ts): `auto` walks the hash table on memcached 1.6.19 or later (one walk is
   * complete under any traffic) and the LRU lists before (proven by the counters, or crawled again).
   * @default 'auto'
   */
  readonly crawlWalk?: CrawlWalk;
  /** Told once which walk was chosen, and why. */
  readonly log?: (line: string) => void;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 60000;

/**
 * The enumeration of one source, shared by every copy that takes from it: one `lru_crawler metadump`
 * (of the LRU lists or the hash table: crawlWalk) per round, however many readers (receivers) take from
 * it, each listed item handed to the readers of its vbucket. memcached runs one crawl at a time, so N
 * readers crawling on their own cost N full crawls in a row; sharing costs one.
 *
 * A round starts once every reader still copying asked for it (and no `hold` is pending): a reader asks
 * after its previous round's fetches and writes are over, so no fetch overlaps a crawl (a fetch locks
 * items the crawler would then skip). A crawl's proof (or its absence) holds for every reader of it.
 */
export class SourceCrawl {
  /** Crawls that ran to their END. */
  crawls = 0;
  private readonly readers = new Set<CrawlReader>();
  private readonly asking = new Set<CrawlReader>();
  private current: readonly CrawlReader[] = [];
  private routes: (CrawlReader[] | undefined)[] = [];
  private lastRoute: CrawlReader[] = [];
  private holds = 0;
  /** The readers of the last round are being told its proof (see onEnd): no round starts meanwhile. */
  private telling = false;
  private running = false;
  private dumpDone = true;
  private readingBefore = false;
  private before: CrawlCounters | undefined;
  private failure: Error | undefined;
  private closed = false;
  private readonly backoff: CrawlBackoff;
  /** The walk, chosen before the first crawl. */
  private walk: 'lru' | 'hash' | undefined;

  private constructor(
    private readonly o: SourceCrawlOptions,
    private readonly dump: MemcachedConnection,
  ) {
    this.backoff = new CrawlBackoff(o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    dump.awaiting = () => this.running && !this.dumpDone && !this.backoff.waiting && !this.readingBefore;
    dump.onFail((error) =>
      this.fail(
        error instanceof SourceFailedError
          ? error
          : new SourceFailedError(o.source.id, error.message, { cause: error }),
      ),
    );
    const parser = new MetadumpParser({
      // Most listed keys belong to other vbuckets: the parser drops them before reading their other fields.
      // Reserved keys (the source's completeness marker, its watermark) belong to the source, not the vbucket.
      wants: (key, length) => {
        const route = this.routes[crc32(key, 0, length) % o.vbuckets];
        if (route === undefined || isReservedKey(key, length)) return false;
        this.lastRoute = route;
        return true;
      },
      item: (key, length, exp, size, cas) => {
        for (const r of this.lastRoute) r.item(key, length, exp, size, cas);
      },
      end: () => this.onEnd(),
      busy: () => {
        if (!this.backoff.busy(() => this.requestDump()))
          this.fail(
            new SourceFailedError(
              o.source.id,
              `lru_crawler stayed BUSY for more than ${o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS} ms`,
            ),
          );
      },
      error: (line) => this.fail(new SourceFailedError(o.source.id, `lru_crawler metadump refused: ${line}`)),
    });
    dump.onData((chunk) => {
      parser.feed(chunk);
      for (const r of this.current) r.fed();
    });
  }

  static async open(o: SourceCrawlOptions): Promise<SourceCrawl> {
    const dump = await MemcachedConnection.connect(o.source.address, o).catch((cause: Error) => {
      throw new SourceFailedError(o.source.id, cause.message, { cause });
    });
    return new SourceCrawl(o, dump);
  }

  /** Keeps the next round from starting until the returned function is called (readers still joining). */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.maybeStart();
    };
  }

  /** `reader` takes part in the rounds from now on (until it leaves). */
  join(reader: CrawlReader): void {
    this.readers.add(reader);
  }

  /** `reader` wants a (further) crawl: it runs once every reader asked. */
  ask(reader: CrawlReader): void {
    const failure = this.failure;
    if (failure) {
      queueMicrotask(() => reader.failed(failure));
      return;
    }
    this.readers.add(reader);
    this.asking.add(reader);
    this.maybeStart();
  }

  /** `reader` is done (or failed): the rounds no longer wait for it. */
  leave(reader: CrawlReader): void {
    this.readers.delete(reader);
    this.asking.delete(reader);
    this.maybeStart();
  }

  close(): void {
    this.closed = true;
    this.backoff.cancel();
    this.dump.close();
  }

  private maybeStart(): void {
    if (
      this.closed ||
      this.failure ||
      this.running ||
      this.telling ||
      this.holds > 0 ||
      this.asking.size === 0
    )
      return;
    for (const r of this.readers) if (!this.asking.has(r) && !r.parked?.()) return;
    this.current = [...this.asking];
    this.asking.clear();
    const routes: (CrawlReader[] | undefined)[] = new Array<CrawlReader[] | undefined>(this.o.vbuckets);
    for (const r of this.current)
      for (let v = 0; v < this.o.vbuckets; v++) if (r.wanted[v] === 1) (routes[v] ??= []).push(r);
    this.routes = routes;
    this.running = true;
    this.dumpDone = false;
    this.backoff.reset();
    this.requestDump();
  }

  /**
   * Chooses the walk (once) and reads the counters an LRU walk's proof needs, from one `stats` answer (its
   * version tells auto's choice: no connection of its own), then asks for the crawl (again after BUSY:
   * counters from before any crawl).
   */
  private requestDump(): void {
    this.before = undefined;
    this.readingBefore = true;
    this.readBefore()
      .then((before) => {
        this.readingBefore = false;
        if (this.closed || this.failure) return;
        this.before = before;
        this.dump.write(metadumpRequest(this.walk ?? 'lru'));
      })
      .catch((error: unknown) => this.fail(error as Error));
  }

  private async readBefore(): Promise<CrawlCounters | undefined> {
    const asked = this.o.crawlWalk ?? 'auto';
    const proof = this.o.crawlProof !== false;
    const choosing = this.walk === undefined;
    // One `stats` answer serves both: auto's choice (the version) and an LRU walk's counters.
    const needed = choosing ? asked === 'auto' || (asked === 'lru' && proof) : this.walk === 'lru' && proof;
    // No answer: no proof (and the LRU walk); the dump itself tells whether the source works.
    const text = needed ? await readStats(this.o.source.address, this.o).catch(() => undefined) : undefined;
    if (choosing) {
      const version = text === undefined ? undefined : parseServerVersion(text);
      this.walk = chooseCrawlWalk(asked, version);
      if (asked === 'auto')
        this.o.log?.(
          this.walk === 'hash'
            ? `source ${this.o.source.id}: memcached ${version}: walking its hash table (one walk lists every item)`
            : `source ${this.o.source.id}: memcached ${version ?? 'of unknown version'}: walking its LRU lists (a hash-table walk needs 1.6.19)`,
        );
    }
    return this.walk === 'lru' && proof && text !== undefined ? parseCrawlCounters(text) : undefined;
  }

  /** After the crawl's END: did it list every item? The readers' fetches go on meanwhile (they move nothing). */
  private onEnd(): void {
    this.dumpDone = true;
    this.crawls++;
    const readers = this.current;
    for (const r of readers) r.listed();
    const before = this.before;
    const proved = (why: string | undefined) => {
      this.running = false;
      this.current = [];
      this.routes = [];
      // Every reader hears the proof before the next round starts: a reader that asks at once (one not
      // ready yet) must not start a round that the readers told after it would have joined too.
      this.telling = true;
      try {
        for (const r of readers) r.proved(why);
      } finally {
        this.telling = false;
      }
      this.maybeStart();
    };
    if (this.o.crawlProof === false) return proved('the crawl proof is off');
    // Every item linked throughout the walk was printed (crawl-proof.ts); what was linked during it, clients wrote.
    if (this.walk === 'hash') return proved(undefined);
    if (before === undefined) return proved('no counters from before it');
    readCrawlCounters(this.o.source.address, this.o)
      .catch(() => undefined)
      .then((after) => {
        if (this.closed || this.failure) return;
        proved(after === undefined ? 'its counters could not be read' : whyNotComplete(before, after));
      })
      .catch((error: unknown) => this.fail(error as Error));
  }

  private fail(error: Error): void {
    if (this.failure || this.closed) return;
    this.failure = error;
    this.backoff.cancel();
    const readers = [...this.readers];
    this.readers.clear();
    this.asking.clear();
    this.current = [];
    for (const r of readers) r.failed(error);
  }
}
