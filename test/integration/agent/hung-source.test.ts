import { parseTopology, planMigration, pullsFor, Topology, vbucketOf } from '../../../core';
import { runResync } from '../../../agent';
import { MemcachedCluster } from '../../support/memcached';
import { load, makeItems, readAll } from './support';

const VBUCKETS = 1024;

/**
 * A source that stops answering (its process paused: SIGSTOP, a frozen VM, a full disk under swap) must
 * become a failed source within the agent's I/O timeout, never a resync that waits for ever: the
 * workflow's heartbeat would then be the only thing to notice, and only on AWS.
 */
describe('astaire-agent resync from a source that stops answering', () => {
  jest.setTimeout(90000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    for (const n of cluster?.nodes ?? []) if (n.pid) process.kill(n.pid, 'SIGCONT');
    await cluster?.stop();
    cluster = undefined;
  });

  test.each([
    ['at once', 0, undefined],
    ['during the copy', 150, undefined],
    ['during a copy capped in bytes/s', 150, 2_000_000],
  ])(
    'given the only source paused %s, when a node resyncs, then it fails within the I/O timeout',
    async (_when, pauseAfterMs, maxBytesPerSec) => {
      cluster = await MemcachedCluster.start(2, { memoryMb: 256 });
      const [a, b] = cluster.servers();
      const t: Topology = parseTopology(
        { cluster: 'itest', epoch: 3, vbuckets: VBUCKETS, replicas: 1, servers: [a], newServers: [a, b] },
        'test',
      );
      await load([a], VBUCKETS, 1, makeItems(60000, 7));
      expect(pullsFor(planMigration(t), b.id).length).toBeGreaterThan(0);
      const source = cluster.nodes[0];

      const started = Date.now();
      const resync = runResync({
        topology: t,
        node: b.id,
        local: b.address,
        progressIntervalMs: 60000,
        ioTimeoutMs: 1500,
        maxBytesPerSec,
      });
      await new Promise((r) => setTimeout(r, pauseAfterMs));
      process.kill(source.pid!, 'SIGSTOP');
      const report = await resync;
      const took = Date.now() - started;

      expect(report.status).toBe('failed');
      // Bounded: a few I/O timeouts (enumeration, fetch, a retry), never the test's own timeout.
      expect(took).toBeLessThan(30000);
    },
  );

  test('given one of two replicas paused during the copy, when a node resyncs, then it takes everything from the other', async () => {
    cluster = await MemcachedCluster.start(3, { memoryMb: 256 });
    const [a, b, c] = cluster.servers();
    const t: Topology = parseTopology(
      { cluster: 'itest', epoch: 3, vbuckets: VBUCKETS, replicas: 2, servers: [a, b], newServers: [a, b, c] },
      'test',
    );
    const items = makeItems(60000, 9);
    await load([a, b], VBUCKETS, 2, items);
    const resync = runResync({
      topology: t,
      node: c.id,
      local: c.address,
      progressIntervalMs: 60000,
      ioTimeoutMs: 1500,
    });
    await new Promise((r) => setTimeout(r, 150));
    process.kill(cluster.nodes[0].pid!, 'SIGSTOP');
    const report = await resync;

    expect(report.status).toBe('succeeded');
    // The pause hit the copy: the paused replica is reported as a failed source, not silently skipped.
    expect(report.failedSources).toEqual([a.id]);
    const gained = new Set(pullsFor(planMigration(t), c.id).map((p) => p.vbucket));
    const wanted = items.filter((i) => gained.has(vbucketOf(i.key, VBUCKETS)));
    const got = await readAll(
      c.address,
      wanted.map((i) => i.key),
    );
    expect(got.filter((g) => g === undefined).length).toBe(0);
  });
});
