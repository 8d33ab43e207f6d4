import { ConnectionOptions, request } from './connection';

/*
 * What `lru_crawler metadump all` can miss on memcached 1.6.18 (crawler.c item_crawler_thread, items.c
 * do_item_crawl_q, lru_pull_tail, do_item_update, do_item_bump), and why a second full crawl is the only
 * catch for it that we can prove:
 * - The crawler links a placeholder at the TAIL of every LRU (HOT, WARM, COLD, TEMP of each slab class)
 *   and moves it one item toward the head per step, round-robin over all lists; a list is done when the
 *   placeholder reaches its head. Every relink in memcached puts the item at the HEAD of a list
 *   (do_item_link_q). So an item relinked into a list still being crawled is ahead of the placeholder and
 *   is visited (perhaps twice); one relinked into a list already done, before the crawler visited it in
 *   its old list, is never printed.
 * - The LRU maintainer's juggle (HOT/WARM/COLD by size and age) pulls with LRU_PULL_CRAWL_BLOCKS: it stops
 *   at the placeholder, so it only moves items the crawler already passed. Those can then be visited a
 *   second time (counted twice in crawler_items_checked), which is why any move voids the count below.
 *   Items the crawler has not reached move only through (1) a client read of a COLD item already fetched
 *   once: it turns ACTIVE and the bump queue relinks it at WARM's head at once (do_item_update,
 *   moves_to_warm), missed when WARM's crawl is done; (2) the allocation path when memory is full
 *   (do_item_alloc_pull evicts from COLD and pulls HOT without CRAWL_BLOCKS); (3) slab rebalancing
 *   (slabs_moved); (4) writes, which link a new item (total_items).
 * - The crawler skips an item when item_trylock on its hash-lock STRIPE fails or the item holds another
 *   reference at that instant. A stripe covers many keys, so a request for any key of the stripe (a
 *   client's, the maintainer's) can hide an item that nobody touched. Skips show only as
 *   crawler_items_checked falling short of the items visited, which no counter reports while items move.
 * So under client traffic a crawl may miss items no client touched, not only those clients wrote (they
 * reach the new replicas by the clients' own writes) or read (read-repair): a skip for a stripe collision
 * names no key, and no counter tells how many there were (visited items are not counted, and a move can
 * make one count twice); memcached 1.6.18 has no enumeration narrower than a slab class (`lru_crawler
 * metadump <classids>`). Only a crawl whose window saw no link, unlink or move and whose checked count
 * equals curr_items proves itself complete (whyNotComplete); every other crawl is followed by another
 * full one.
 *
 * The hash-table walk, `lru_crawler metadump hash` (in 1.6.18 too), has none of these gaps: it locks each
 * bucket (item_lock, not trylock) and blocks hash expansion for the walk, so it prints every item linked
 * throughout, whatever moves between LRU lists and whatever requests hold (it skips only items being
 * freed). What it misses was linked during the walk, and clients in the migration state write those to
 * the new replicas too: one walk that reaches its END is complete, under any traffic. But before 1.6.19
 * (memcached commit a22be2bdb, "crawler: don't hold lock while writing to network") it waits for room in
 * the reader's socket while it holds that bucket's item lock: a reader that stalls with its socket full
 * (a lost packet on a network, a paused process) stalls every worker thread that touches the stripe, and
 * so every client of the source. So the agent walks the hash table only on memcached 1.6.19 or later
 * (`--crawl-walk auto`, hashWalkIsSafe); `--crawl-walk hash` forces it on any version, knowingly.
 */

/** How a source is enumerated: `auto` walks the hash table where that is safe (hashWalkIsSafe), else the LRUs. */
export type CrawlWalk = 'auto' | 'lru' | 'hash';

export const CRAWL_WALKS: readonly CrawlWalk[] = ['auto', 'lru', 'hash'];

/**
 * Whether a memcached of this version (`1.6.19`, as `stats` reports it, or the `version` answer
 * `VERSION 1.6.19`) walks its hash table without holding an item lock while it writes to the reader:
 * 1.6.19 and later. Anything unparsable: no.
 */
export function hashWalkIsSafe(version: string): boolean {
  const m = /^(?:VERSION )?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return false;
  const [major, minor, patch] = m.slice(1).map(Number);
  return major !== 1 ? major > 1 : minor !== 6 ? minor > 6 : patch >= 19;
}

/** The walk `asked` for, or for `auto` the one the server's version (from `stats`) makes safe. */
export function chooseCrawlWalk(asked: CrawlWalk, version: string | undefined): 'lru' | 'hash' {
  if (asked !== 'auto') return asked;
  return version !== undefined && hashWalkIsSafe(version) ? 'hash' : 'lru';
}

/** The `STAT version` of a `stats` answer. */
export function parseServerVersion(text: string): string | undefined {
  return /^STAT version (\S+)\r?$/m.exec(text)?.[1];
}

/** A `stats` answer, on a connection of its own. */
export function readStats(address: string, options: ConnectionOptions = {}): Promise<string> {
  return request(address, 'stats\r\n', (t) => t.endsWith('END\r\n') || t.endsWith('ERROR\r\n'), options);
}

/**
 * The walk to use on the memcached at `address`: `asked` when it names one, else (auto) the one its version
 * makes safe; the LRU lists when the version cannot be read.
 */
export async function resolveCrawlWalk(
  address: string,
  asked: CrawlWalk = 'auto',
  options: ConnectionOptions = {},
): Promise<'lru' | 'hash'> {
  if (asked !== 'auto') return asked;
  const text = await readStats(address, options).catch(() => undefined);
  return chooseCrawlWalk(asked, text === undefined ? undefined : parseServerVersion(text));
}

/**
 * The `stats` counters of memcached 1.6.18 that together show whether one `lru_crawler metadump all`
 * visited every item (crawler.c, items.c):
 * - the crawler skips an item it cannot lock at that instant (hash lock held, or a reference held by a
 *   request), and counts in `crawler_items_checked` only the items it did not skip;
 * - an item moved between LRU lists mid-crawl can be skipped or seen twice; every such move is counted
 *   (`moves_to_cold`, `moves_to_warm`, `moves_within_lru`; slab rebalancing in `slabs_moved`);
 * - `curr_items` counts linked items, `total_items` every link ever made (a replace links a new item).
 */
export interface CrawlCounters {
  readonly running: number;
  readonly starts: number;
  readonly currItems: number;
  readonly totalItems: number;
  readonly checked: number;
  readonly movesToCold: number;
  readonly movesToWarm: number;
  readonly movesWithinLru: number;
  readonly slabsMoved: number;
}

const FIELDS: Record<keyof CrawlCounters, string> = {
  running: 'lru_crawler_running',
  starts: 'lru_crawler_starts',
  currItems: 'curr_items',
  totalItems: 'total_items',
  checked: 'crawler_items_checked',
  movesToCold: 'moves_to_cold',
  movesToWarm: 'moves_to_warm',
  movesWithinLru: 'moves_within_lru',
  slabsMoved: 'slabs_moved',
};

/** The counters in a `stats` answer, or undefined when one is missing (another memcached version: no proof). */
export function parseCrawlCounters(text: string): CrawlCounters | undefined {
  const values = new Map<string, number>();
  for (const line of text.split('\r\n')) {
    const m = /^STAT (\S+) (\d+)$/.exec(line);
    if (m) values.set(m[1], Number(m[2]));
  }
  const out: Partial<Record<keyof CrawlCounters, number>> = {};
  for (const [field, stat] of Object.entries(FIELDS) as [keyof CrawlCounters, string][]) {
    const v = values.get(stat);
    if (v === undefined) return undefined;
    out[field] = v;
  }
  return out as CrawlCounters;
}

/**
 * Why the counters do not prove that a crawl run between the two readings printed every item linked
 * throughout; undefined when they do. The proof: no crawl was running before it and exactly one started
 * (ours, so `crawler_items_checked` grew by our crawl alone); no item was linked, unlinked or moved
 * between LRU lists in the whole window, so each list was static and each item could be visited at most
 * once; and the crawler checked as many items as are linked, so it skipped none. The metadump prints
 * every checked item that has not expired. Any doubt gives a reason, and the caller enumerates again.
 */
export function whyNotComplete(before: CrawlCounters, after: CrawlCounters): string | undefined {
  if (before.running !== 0) return 'a crawl was already running';
  if (after.starts !== before.starts + 1) return `${after.starts - before.starts} crawls started, not 1`;
  const changed = (
    [
      ['curr_items', before.currItems, after.currItems],
      ['total_items', before.totalItems, after.totalItems],
      ['moves_to_cold', before.movesToCold, after.movesToCold],
      ['moves_to_warm', before.movesToWarm, after.movesToWarm],
      ['moves_within_lru', before.movesWithinLru, after.movesWithinLru],
      ['slabs_moved', before.slabsMoved, after.slabsMoved],
    ] as const
  )
    .filter(([, b, a]) => a !== b)
    .map(([name, b, a]) => `${name} ${a > b ? '+' : ''}${a - b}`);
  if (changed.length > 0) return `items changed during the crawl (${changed.join(', ')})`;
  const checked = after.checked - before.checked;
  if (checked !== after.currItems) return `the crawler checked ${checked} of ${after.currItems} items`;
  return undefined;
}

/** Reads the counters on a connection of its own; undefined (no proof) when the answer lacks one. */
export async function readCrawlCounters(
  address: string,
  options: ConnectionOptions = {},
): Promise<CrawlCounters | undefined> {
  return parseCrawlCounters(await readStats(address, options));
}
