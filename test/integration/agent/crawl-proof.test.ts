import { Socket } from 'node:net';
import { vbucketOf } from '../../../core';
import { copyFromSource, CopyStats, emptyCopyStats, request, Throttle } from '../../../agent';
import type { SourceCopyOptions } from '../../../agent/source-copy';
import { CrawlCounters, hashWalkIsSafe, readCrawlCounters } from '../../../agent/crawl-proof';
import { MemcachedCluster } from '../../support/memcached';
import { Item, pipeline, readAll, setCommand } from './support';

const VBUCKETS = 64;
const ITEMS = 50000;

function fail(what: unknown): never {
  throw new Error(`unexpected answer: ${String(what)}`);
}

/**
 * Waits (at most 20 s) until the LRU maintainer stops moving the freshly loaded items: the same counters
 * for 3 s. It moves HOT items to COLD once they are a second older than COLD's tail allows, and sleeps up
 * to a second between rounds, so a shorter quiet spell proves nothing.
 */
async function settle(address: string): Promise<void> {
  const key = (c: CrawlCounters | undefined) =>
    c ? [c.movesToCold, c.movesToWarm, c.movesWithinLru, c.currItems].join() : 'none';
  const deadline = Date.now() + 20000;
  let last = key(await readCrawlCounters(address));
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = key(await readCrawlCounters(address));
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= 3000) return;
  }
  throw new Error(`${address} kept moving items for 20 s`);
}

/**
 * A client that keeps replacing one key (`ms`, answered HD) until stopped: every answer is a new link.
 * Bounded by `stop()`, 200k writes and 30 s. Resolves with the number of writes.
 */
async function keepWriting(address: string, key: string, stop: () => boolean): Promise<number> {
  const [host, port] = address.split(':');
  const s = new Socket();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.connect(Number(port), host, resolve);
  });
  const deadline = Date.now() + 30000;
  let writes = 0;
  try {
    while (!stop() && writes < 200000 && Date.now() < deadline) {
      await new Promise<void>((resolve, reject) => {
        // One error listener per write, removed with its answer (else: MaxListenersExceededWarning).
        s.once('error', reject);
        s.once('data', () => {
          s.off('error', reject);
          resolve();
        });
        s.write(`ms ${key} 1 T0\r\nx\r\n`);
      });
      writes++;
    }
  } finally {
    s.destroy();
  }
  return writes;
}

describe('copyFromSource: proving a crawl complete from the source counters', () => {
  jest.setTimeout(60000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  // Every vbucket but the writer's: its key is never copied, so the copy's own count stays exact.
  const WRITER_KEY = 'writer';
  const wanted = new Uint8Array(VBUCKETS).fill(1);
  wanted[vbucketOf(Buffer.from(WRITER_KEY), VBUCKETS)] = 0;
  const items: Item[] = Array.from({ length: ITEMS }, (_, i) => ({
    key: Buffer.from(`proof:${i}`),
    value: Buffer.from(`value ${i}`),
    flags: i,
    ttl: 0,
  })).filter((i) => wanted[vbucketOf(i.key, VBUCKETS)] === 1);

  async function start(): Promise<{ source: string; local: string }> {
    cluster = await MemcachedCluster.start(2, { memoryMb: 64 });
    const [source, local] = cluster.nodes.map((n) => n.address);
    await pipeline(
      source,
      items.map((i) => setCommand(i)),
      { value: fail, error: fail, status: fail },
    );
    await settle(source);
    return { source, local };
  }

  function copy(
    source: string,
    local: string,
    stats: CopyStats,
    extra: Partial<SourceCopyOptions> = {},
  ): Promise<void> {
    return copyFromSource({
      source: { id: 'node-1', address: source },
      local,
      wanted,
      vbuckets: VBUCKETS,
      stats,
      throttle: new Throttle(undefined, () => stats.bytes),
      signal: new AbortController().signal,
      ...extra,
    });
  }

  /** One pass, proven complete, copied every item, each with its value. */
  async function expectOneProvenPass(stats: CopyStats, local: string): Promise<void> {
    expect(stats.passes).toEqual([
      { keys: items.length, missing: items.length, copied: items.length, proven: 1 },
    ]);
    const found = await readAll(
      local,
      items.map((i) => i.key),
    );
    expect(found.filter((f, n) => f?.value.toString() !== items[n].value.toString())).toEqual([]);
  }

  /** Copies while a client keeps replacing WRITER_KEY on the source; resolves with the number of its writes. */
  async function copyWhileWriting(
    source: string,
    local: string,
    stats: CopyStats,
    extra: Partial<SourceCopyOptions>,
  ): Promise<number> {
    let done = false;
    const writer = keepWriting(source, WRITER_KEY, () => done);
    await copy(source, local, stats, extra).finally(() => (done = true));
    return writer;
  }

  it('given the LRU walk of a source no client touches, when copied, then its counters prove the first crawl complete and no second pass runs', async () => {
    const { source, local } = await start();
    const stats = emptyCopyStats();

    await copy(source, local, stats, { crawlWalk: 'lru' });

    await expectOneProvenPass(stats, local);
  });

  it('given the proof turned off, when a quiet source is copied, then it is enumerated twice all the same', async () => {
    const { source, local } = await start();
    const stats = emptyCopyStats();

    await copy(source, local, stats, { crawlProof: false });

    expect(stats.passes).toEqual([
      { keys: items.length, missing: items.length, copied: items.length, proven: 0 },
      { keys: items.length, missing: 0, copied: 0, proven: 0 },
    ]);
  });

  it('given the LRU walk and a client writing to the source during the crawl, when copied, then nothing is proven and the second pass runs', async () => {
    const { source, local } = await start();
    const stats = emptyCopyStats();

    const logged: string[] = [];
    const writes = await copyWhileWriting(source, local, stats, {
      crawlWalk: 'lru',
      log: (line) => logged.push(line),
    });

    expect(writes).toBeGreaterThan(0);
    expect(stats.passes.length).toBeGreaterThanOrEqual(2);
    expect(stats.passes.map((p) => p.proven)).toEqual(stats.passes.map(() => 0));
    expect(stats.items).toBe(items.length);
    expect(logged[0]).toMatch(
      // total_items is the client's replacements; the list may name others that moved (curr_items under load).
      /^source node-1: enumerating again: crawl 1 may have missed items \(items changed during the crawl \((?:\w+ \+\d+, )*total_items \+\d+(?:, \w+ \+\d+)*\)\)$/,
    );
  });

  it('given the hash walk and a client writing to the source during it, when copied, then the one walk is proven and every item copied', async () => {
    const { source, local } = await start();
    const stats = emptyCopyStats();

    const writes = await copyWhileWriting(source, local, stats, { crawlWalk: 'hash' });

    expect(writes).toBeGreaterThan(0);
    await expectOneProvenPass(stats, local);
  });

  it("given the walk left to the agent, when copied under a writing client, then it follows the server's version: the hash table from 1.6.19, the LRU lists and a second pass before", async () => {
    const { source, local } = await start();
    const stats = emptyCopyStats();
    const version = (await request(source, 'version\r\n', (t) => t.endsWith('\r\n'))).trim().slice(8);
    const logged: string[] = [];

    await copyWhileWriting(source, local, stats, { log: (line) => logged.push(line) });

    const hash = hashWalkIsSafe(version);
    expect(logged[0]).toBe(
      hash
        ? `source node-1: memcached ${version}: walking its hash table (one walk lists every item)`
        : `source node-1: memcached ${version}: walking its LRU lists (a hash-table walk needs 1.6.19)`,
    );
    expect(stats.passes.length === 1).toBe(hash);
    expect(stats.items).toBe(items.length);
  });

  it('given the local node not ready (its purge runs), when copied, then the source is crawled but nothing reaches the local node until it is', async () => {
    const { source, local } = await start();
    const stats = emptyCopyStats();
    let ready!: () => void;
    const localReady = new Promise<void>((resolve) => (ready = resolve));
    const localCounters = async () =>
      /STAT cmd_get (\d+)[\s\S]*STAT cmd_set (\d+)/
        .exec(await request(local, 'stats\r\n', (t) => t.endsWith('END\r\n')))!
        .slice(1)
        .map(Number);
    const before = await readCrawlCounters(source);

    const copying = copy(source, local, stats, { localReady });
    // Bounded: until the source's crawl has run (at most 10 s), then a little longer.
    for (let i = 0; i < 100 && (await readCrawlCounters(source))!.starts === before!.starts; i++)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    const whileWaiting = await localCounters();
    ready();
    await copying;

    expect((await readCrawlCounters(source))!.starts).toBeGreaterThan(before!.starts);
    expect(whileWaiting).toEqual([0, 0]);
    expect(stats.items).toBe(items.length);
    expect((await localCounters())[1]).toBeGreaterThanOrEqual(items.length);
  });
});
