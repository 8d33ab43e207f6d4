import { NodePull, Server, Topology, parseTopology, planMigration, vbucketOf } from '../../../core';
import { runResync } from '../../../agent';
import { watermarkKey } from '../../../agent/purge';
import { MemcachedCluster } from '../../support/memcached';
import { Item, load, makeItems, mismatches, pipeline, readAll, setCommand, totalBytes } from './support';

const VBUCKETS = 1024;
const REPLICAS = 2;
// Big enough that nothing is evicted: each node holds about 2/3 of ~75 MB.
const MEMCACHED = { memoryMb: 256 };

/**
 * Client reads of random keys (`mg <key> b v`, which bump items in the LRU) in batches of 50,
 * until `stop()`, `maxBatches` or `maxMs`; resolves with the number of reads sent.
 */
async function readLoad(
  address: string,
  items: readonly Item[],
  stop: () => boolean,
  maxBatches: number,
  maxMs: number,
): Promise<number> {
  const deadline = Date.now() + maxMs;
  let reads = 0;
  for (let batch = 0; batch < maxBatches && !stop() && Date.now() < deadline; batch++) {
    const keys = Array.from({ length: 50 }, () => items[Math.floor(Math.random() * items.length)].key);
    await readAll(address, keys);
    reads += keys.length;
    await new Promise((r) => setTimeout(r, 5));
  }
  return reads;
}

/** How many of `items` in the vbuckets `pull` gains are not on its node. */
async function missingGained(pull: NodePull, items: readonly Item[]): Promise<number> {
  const wanted = new Set(pull.vbuckets.map((v) => v.vbucket));
  const gained = items.filter((i) => wanted.has(vbucketOf(i.key, VBUCKETS)));
  const got = await readAll(
    pull.address,
    gained.map((i) => i.key),
  );
  return got.filter((g) => g === undefined).length;
}

function fail(what: unknown): never {
  throw new Error(`unexpected answer: ${String(what)}`);
}

function topology(servers: Server[], newServers: Server[]): Topology {
  return parseTopology(
    { cluster: 'itest', epoch: 7, vbuckets: VBUCKETS, replicas: REPLICAS, servers, newServers },
    'test',
  );
}

async function resyncAll(t: Topology) {
  const reports = [];
  for (const pull of planMigration(t).pulls)
    reports.push(
      await runResync({ topology: t, node: pull.node, local: pull.address, progressIntervalMs: 1000 }),
    );
  return reports;
}

describe('astaire-agent resync against real memcached', () => {
  jest.setTimeout(60000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  describe('given 50k items of mixed sizes, flags, TTLs and odd keys', () => {
    const items = makeItems(50000);
    // Printed so the data volume behind the timing is on record.
    beforeAll(() =>
      process.stdout.write(
        `resync integration data: ${items.length} items, ${totalBytes(items)} value bytes\n`,
      ),
    );

    it('when 3 servers grow to 4, then every key is on each new replica with identical value, flags and TTL', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());

      const reports = await resyncAll(t);

      expect(reports.map((r) => r.error ?? r.status)).toEqual(['succeeded']);
      expect(reports[0].vbucketsDone).toBe(reports[0].vbuckets);
      expect(reports[0].items).toBeGreaterThan(10000);
      // Another pass runs unless every source proved its first crawl complete (it catches what a crawl missed).
      const [first, ...later] = reports[0].passes;
      expect(later.length > 0 || first.proven === old.length).toBe(true);
      expect(reports[0].itemsUnaddressable).toBe(0);
      expect(await mismatches(cluster.servers(), old, VBUCKETS, REPLICAS, items)).toEqual([]);
    });

    it('when 4 servers shrink to 3, then every key is on each new replica with identical value, flags and TTL', async () => {
      cluster = await MemcachedCluster.start(4, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      const t = topology(old, old.slice(0, 3));

      const reports = await resyncAll(t);

      expect(reports.length).toBeGreaterThan(1);
      expect(reports.every((r) => r.status === 'succeeded')).toBe(true);
      expect(await mismatches(old.slice(0, 3), old, VBUCKETS, REPLICAS, items)).toEqual([]);
    });
  });

  describe('given clients reading the source during the resync (items bumped between LRU lists under the crawl)', () => {
    // Small values, so the data fits one slab class and the reads move items from COLD to WARM mid-crawl.
    const items = makeItems(60000, 4)
      .filter((i) => i.value.length <= 1000)
      .map((i) => ({ ...i, ttl: 0 }));

    it.each(['lru', 'hash'] as const)(
      'when the resync walks the %s, then every item the node gains lands on it, however the reads moved them (a hash walk in one pass)',
      async (crawlWalk) => {
        cluster = await MemcachedCluster.start(3, MEMCACHED);
        const old = cluster.servers();
        await load(old, VBUCKETS, REPLICAS, items);
        await cluster.add(1, MEMCACHED);
        const t = topology(old, cluster.servers());
        const pull = planMigration(t).pulls[0];
        const wanted = new Set(pull.vbuckets.map((v) => v.vbucket));
        const gained = items.filter((i) => wanted.has(vbucketOf(i.key, VBUCKETS)));

        // Bounded: at most 400 batches of 50 reads per source, or until the resync ends, or 20 s.
        let stop = false;
        const readers = old.map((s) => readLoad(s.address, items, () => stop, 400, 20000));
        const report = await runResync({
          topology: t,
          node: pull.node,
          local: pull.address,
          maxBytesPerSec: 6 * 1024 * 1024,
          crawlWalk,
        });
        stop = true;
        const reads = await Promise.all(readers);

        expect(reads.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
        expect(report.status).toBe('succeeded');
        // Each hash walk proves itself (crawl-proof.ts); the reads void an LRU walk's proof.
        if (crawlWalk === 'hash') expect(report.passes.length).toBe(1);
        process.stdout.write(
          `bump test: ${reads.join('+')} reads; passes ${JSON.stringify(report.passes)}\n`,
        );
        const got = await readAll(
          pull.address,
          gained.map((i) => i.key),
        );
        const missing = gained
          .filter((_, n) => got[n] === undefined)
          .map((i) => JSON.stringify(i.key.toString('latin1')));
        expect(missing).toEqual([]);
        expect(
          got.every(
            (g, n) => g !== undefined && g.value.equals(gained[n].value) && g.flags === gained[n].flags,
          ),
        ).toBe(true);
      },
    );
  });

  describe('given a smaller dataset', () => {
    const items = makeItems(20000, 2).filter((i) => i.value.length <= 4096);

    it('when a source is killed mid-resync, then the resync still succeeds from the other replica', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const node = planMigration(t).pulls[0];
      const victim = cluster.nodes[0];
      let killed = false;

      // Throttled so the kill lands while the copy is under way.
      const report = await runResync({
        topology: t,
        node: node.node,
        local: node.address,
        maxBytesPerSec: 4 * 1024 * 1024,
        progressIntervalMs: 100,
        reporter: {
          progress: async (p) => {
            if (!killed && p.items > 500) {
              killed = true;
              await victim.kill();
            }
          },
          finish: async () => undefined,
        },
      });

      expect(killed).toBe(true);
      expect(report.status).toBe('succeeded');
      expect(report.failedSources).toEqual(['node-1']);
      // Every item the new node gained is there: its value, flags and TTL match the surviving old replica.
      const wanted = new Set(node.vbuckets.map((v) => v.vbucket));
      const gained = items.filter((i) => wanted.has(vbucketOf(i.key, VBUCKETS)));
      const got = await readAll(
        node.address,
        gained.map((i) => i.key),
      );
      expect(got.filter((g) => g === undefined).length).toBe(0);
      expect(
        got.every(
          (g, n) => g !== undefined && g.value.equals(gained[n].value) && g.flags === gained[n].flags,
        ),
      ).toBe(true);
    });

    it('when both old replicas of some vbuckets are dead, then the resync fails and names exactly those vbuckets', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      await cluster.nodes[0].kill();
      await cluster.nodes[1].kill();
      const expected = pull.vbuckets
        .filter((v) => v.sources.every((id) => id === 'node-1' || id === 'node-2'))
        .map((v) => v.vbucket);

      const report = await runResync({
        topology: t,
        node: pull.node,
        local: pull.address,
        connectTimeoutMs: 1000,
      });

      expect(expected.length).toBeGreaterThan(0);
      expect(report.status).toBe('failed');
      expect(report.failedVbuckets).toEqual(expected);
      expect(report.error).toMatch(/VbucketsUnavailableError/);
      expect(report.vbucketsDone).toBe(pull.vbuckets.length - expected.length);
    });

    it('when an old replica restarted empty (reachable, unmarked), then the resync takes its vbuckets from the complete replica and loses nothing', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.nodes[0].restart(); // node-1: same address, empty, no marker
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      const fromRestarted = pull.vbuckets.filter((v) => v.sources[0] === 'node-1').length;

      const report = await runResync({ topology: t, node: pull.node, local: pull.address });

      expect(fromRestarted).toBeGreaterThan(0); // the restarted node ranks first for some of them
      expect(await missingGained(pull, items)).toBe(0);
      expect(report.status).toBe('succeeded');
      expect(report.failedSources).toEqual(['node-1']);
    });

    it('when an old replica was flushed, then it is not a source either', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await pipeline(old[1].address, [Buffer.from('flush_all noreply\r\n')], { value: fail, error: fail });
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];

      const report = await runResync({ topology: t, node: pull.node, local: pull.address });

      expect(await missingGained(pull, items)).toBe(0);
      expect(report.status).toBe('succeeded');
      expect(report.failedSources).toEqual(['node-2']);
    });

    it('when both old replicas of some vbuckets restarted empty, then the resync fails and names those vbuckets: never a success with missing data', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.nodes[0].restart();
      await cluster.nodes[1].restart();
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      const expected = pull.vbuckets
        .filter((v) => v.sources.every((id) => id === 'node-1' || id === 'node-2'))
        .map((v) => v.vbucket);

      const report = await runResync({ topology: t, node: pull.node, local: pull.address });

      expect(expected.length).toBeGreaterThan(0);
      expect(report.status).toBe('failed');
      expect(report.failedVbuckets).toEqual(expected);
      expect(report.error).toMatch(/VbucketsUnavailableError.*not a complete replica/);
    });

    it('when the resync succeeds, then the new node is marked complete; a node that restarted before its resync is not', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.nodes[2].restart(); // node-3 stays a member, empty: only a heal may mark it again
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());

      const reports = await resyncAll(t);

      expect(reports.every((r) => r.status === 'succeeded')).toBe(true);
      const [restartedMarker] = await readAll(old[2].address, [Buffer.from('astaire:complete')]);
      expect(restartedMarker).toBeUndefined();
      const [marker] = await readAll(cluster.servers()[3].address, [Buffer.from('astaire:complete')]);
      expect(JSON.parse(marker!.value.toString())).toMatchObject({ cluster: 'itest', node: 'node-4' });
    });

    it('when the migration it serves is no longer current, then the resync stops at once and reports why', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      let checks = 0;
      const started = Date.now();

      // Throttled to a crawl: without the check it would run for a minute.
      const report = await runResync({
        topology: t,
        node: pull.node,
        local: pull.address,
        maxBytesPerSec: 64 * 1024,
        currentCheckIntervalMs: 200,
        stillCurrent: async () => (++checks >= 2 ? 'rolled back by the workflow' : undefined),
      });

      expect(report.status).toBe('failed');
      expect(report.error).toBe('MigrationSupersededError: rolled back by the workflow');
      expect(report.markedComplete).toBe(false);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('when a client writes a key during the resync, then the client value survives it', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await load(old, VBUCKETS, REPLICAS, items);
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      const wanted = new Set(pull.vbuckets.map((v) => v.vbucket));
      const moved = items.filter((i) => wanted.has(vbucketOf(i.key, VBUCKETS)));
      const written: Item[] = moved
        .slice(-200)
        .map((i) => ({ ...i, value: Buffer.from(`client ${i.key.toString('hex')}`), flags: 42 }));

      // As a client does: the write goes to the old replicas too (the purge may delete the new node's
      // copy if it lands before the watermark; the copy then brings it back from them).
      await load(old, VBUCKETS, REPLICAS, written);
      const resync = runResync({
        topology: t,
        node: pull.node,
        local: pull.address,
        maxBytesPerSec: 8 * 1024 * 1024,
      });
      await pipeline(
        pull.address,
        written.map((i) => setCommand(i)),
        { value: fail, error: fail, status: fail },
      );
      const report = await resync;

      expect(report.status).toBe('succeeded');
      const got = await readAll(
        pull.address,
        written.map((i) => i.key),
      );
      expect(got.map((g) => g?.value.toString())).toEqual(written.map((i) => i.value.toString()));
      expect(got.every((g) => g?.flags === 42)).toBe(true);
    });

    describe('and the new node holds stale copies of keys it gains (leftovers of an earlier epoch)', () => {
      const setup = async () => {
        cluster = await MemcachedCluster.start(3, MEMCACHED);
        const old = cluster.servers();
        await load(old, VBUCKETS, REPLICAS, items);
        await cluster.add(1, MEMCACHED);
        const t = topology(old, cluster.servers());
        const pull = planMigration(t).pulls[0];
        const wanted = new Set(pull.vbuckets.map((v) => v.vbucket));
        const gained = items.filter((i) => wanted.has(vbucketOf(i.key, VBUCKETS)));
        // Every other gained key (odd keys included: they go base64) has an older value and flags on the new node.
        const stale: Item[] = gained
          .filter((_, n) => n % 2 === 0)
          .map((i) => ({ ...i, value: Buffer.from(`stale ${i.key.toString('hex')}`), flags: 7, ttl: 0 }));
        await pipeline(
          pull.address,
          stale.map((i) => setCommand(i)),
          { value: fail, error: fail, status: fail },
        );
        return { t, pull, gained, stale };
      };
      const wrong = async (address: string, expected: readonly Item[]) => {
        const got = await readAll(
          address,
          expected.map((i) => i.key),
        );
        return expected.filter(
          (i, n) => got[n] === undefined || !got[n]!.value.equals(i.value) || got[n]!.flags !== i.flags,
        );
      };

      it('when the resync runs without the purge, then the stale values survive (what the purge is for)', async () => {
        const { t, pull, gained, stale } = await setup();

        const report = await runResync({ topology: t, node: pull.node, local: pull.address, purge: false });

        expect(report.status).toBe('succeeded');
        expect(report.purged).toBeUndefined();
        expect(stale.length).toBeGreaterThan(500);
        expect((await wrong(pull.address, gained)).length).toBe(stale.length);
        expect(await wrong(pull.address, stale)).toEqual([]);
      });

      it('when the resync runs, then every gained key has the current value and flags', async () => {
        const { t, pull, gained, stale } = await setup();

        const report = await runResync({ topology: t, node: pull.node, local: pull.address });

        expect(report.status).toBe('succeeded');
        expect(report.purged).toBe(stale.length);
        expect(report.purgePasses).toBeGreaterThanOrEqual(2);
        expect((await wrong(pull.address, gained)).map((i) => i.key.toString('hex'))).toEqual([]);
      });

      it('when a client writes to the new node after the watermark, then its value survives the purge and the copy', async () => {
        const { t, pull, stale } = await setup();
        // Keys the purge would delete were they older than the watermark; written to the new node only.
        const written: Item[] = stale
          .slice(0, 300)
          .map((i) => ({ ...i, value: Buffer.from(`client ${i.key.toString('hex')}`), flags: 42 }));
        const marker = Buffer.from(watermarkKey(pull.node));

        const resync = runResync({
          topology: t,
          node: pull.node,
          local: pull.address,
          maxBytesPerSec: 4 * 1024 * 1024,
        });
        // Bounded: the marker appears once the watermark is read (at most 10 s of polling).
        let polls = 0;
        while (polls++ < 1000 && (await readAll(pull.address, [marker]))[0] === undefined)
          await new Promise((r) => setTimeout(r, 10));
        expect(polls).toBeLessThan(1000);
        await pipeline(
          pull.address,
          written.map((i) => setCommand(i)),
          { value: fail, error: fail, status: fail },
        );
        const report = await resync;

        expect(report.status).toBe('succeeded');
        expect(await wrong(pull.address, written)).toEqual([]);
      });
    });

    it('when the local memcached is down, then the resync fails at once with a clear reason', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      await cluster.nodes[3].kill();
      const started = Date.now();

      const report = await runResync({ topology: t, node: pull.node, local: pull.address });

      expect(report.status).toBe('failed');
      expect(report.error).toMatch(
        new RegExp(`LocalMemcachedError: local memcached ${pull.address} is unreachable`),
      );
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('when items with TTLs (relative, and absolute past 30 days) are copied at any phase of the one-second clocks, then no copy expires later than its source item', async () => {
      cluster = await MemcachedCluster.start(2, MEMCACHED);
      const old = cluster.servers();
      const longLived = makeItems(600, 5)
        .filter((i) => i.value.length < 2000)
        .map((i, n) => ({ ...i, ttl: n % 2 === 0 ? 40 * 86400 : 600 }));
      await load(old, VBUCKETS, REPLICAS, longLived);
      await cluster.add(1, MEMCACHED);
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];
      const gained = new Set(pull.vbuckets.map((v) => v.vbucket));
      const keys = longLived.filter((i) => gained.has(vbucketOf(i.key, VBUCKETS))).map((i) => i.key);
      expect(keys.length).toBeGreaterThan(50);
      const later: string[] = [];
      // memcached's clock ticks once a second at a phase of its own; the agent's runs cover every 50 ms of it.
      for (let phase = 0; phase < 20; phase++) {
        await pipeline(
          pull.address,
          keys.map((k) => Buffer.from(`md ${k.toString('base64')} b q\r\n`)),
          { value: fail, error: fail },
        );
        await new Promise((r) => setTimeout(r, (phase * 50 - (Date.now() % 1000) + 1000) % 1000));

        const report = await runResync({ topology: t, node: pull.node, local: pull.address });

        expect(report.status).toBe('succeeded');
        // The source first: a tick between the two reads can only shorten the copy's time left.
        const source = await readAll(old[0].address, keys);
        const copy = await readAll(pull.address, keys);
        expect(copy.filter((c) => c !== undefined)).toHaveLength(keys.length);
        keys.forEach((key, n) => {
          if (copy[n]!.ttl > source[n]!.ttl)
            later.push(
              `phase ${phase}: ${key.toString()}: copy ${copy[n]!.ttl} s left, source ${source[n]!.ttl} s`,
            );
        });
      }
      expect(later).toEqual([]);
    });

    it('when an item expires before the copy, then it is not resurrected on the new node', async () => {
      cluster = await MemcachedCluster.start(3, MEMCACHED);
      const old = cluster.servers();
      const shortLived = makeItems(2000, 3)
        .filter((i) => i.value.length < 2000)
        .map((i) => ({ ...i, ttl: 1 }));
      await load(old, VBUCKETS, REPLICAS, shortLived);
      await cluster.add(1, MEMCACHED);
      await new Promise((r) => setTimeout(r, 2100));
      const t = topology(old, cluster.servers());
      const pull = planMigration(t).pulls[0];

      const report = await runResync({ topology: t, node: pull.node, local: pull.address });

      expect(report.status).toBe('succeeded');
      expect(report.items).toBe(0);
      const got = await readAll(
        pull.address,
        shortLived.map((i) => i.key),
      );
      expect(got.filter((g) => g !== undefined)).toEqual([]);
    });
  });
});
