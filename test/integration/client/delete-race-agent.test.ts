import { runResync } from '../../../agent';
import { AstaireClient, InMemoryTopologySource } from '../../../client';
import {
  beginMigration,
  commitMigration,
  parseTopology,
  planMigration,
  pullsFor,
  Topology,
  vbucketOf,
} from '../../../core';
import { MemcachedCluster } from '../../support/memcached';
import { markComplete } from '../agent/support';

// The delete-during-resync race against the real agent: keys deleted through the client while
// the agent copies their vbuckets onto a new node must stay deleted after the topology commits.
jest.setTimeout(120_000);

describe('delete during a real resync', () => {
  let cluster: MemcachedCluster;
  afterAll(() => cluster?.stop());

  it('given 3 -> 4 with the agent copying, when keys of moving vbuckets are deleted meanwhile, then none comes back and the rest arrive', async () => {
    cluster = await MemcachedCluster.start(4, { memoryMb: 128 });
    const [s1, s2, s3, s4] = cluster.servers();
    const stable = parseTopology(
      { cluster: 'race', epoch: 1, vbuckets: 1024, replicas: 2, servers: [s1, s2, s3] },
      'test',
    );
    const source = new InMemoryTopologySource(stable);
    const client = await AstaireClient.open({ source, pollIntervalMs: 0 });
    try {
      const keys = Array.from({ length: 30_000 }, (_, i) => `race:${i}`);
      for (let i = 0; i < keys.length; i += 1000)
        await client.setMulti(keys.slice(i, i + 1000).map((key) => ({ key, value: `v-${key}`, flags: 9 })));

      const migrating: Topology = beginMigration(stable, [s1, s2, s3, s4], {
        executionId: 'race-test',
        startedAt: new Date().toISOString(),
      });
      // The old replicas hold everything the client wrote since they started: complete, as the workflow knows them.
      await markComplete([s1, s2, s3], 'race');
      source.set(migrating);
      await client.refreshTopology();
      const gained = new Set(pullsFor(planMigration(migrating), s4.id).map((p) => p.vbucket));
      const moving = keys.filter((k) => gained.has(vbucketOf(k, 1024)));
      const doomed = moving.filter((_, i) => i % 2 === 0);
      const kept = moving.filter((_, i) => i % 2 === 1);

      // Given the agent running, when the client deletes half of the moving keys in small batches meanwhile...
      let resyncDone = false;
      const resync = runResync({
        topology: migrating,
        node: s4.id,
        local: s4.address,
        progressIntervalMs: 60_000,
      }).finally(() => (resyncDone = true));
      let deletedDuringResync = 0;
      for (let i = 0; i < doomed.length; i += 50) {
        await Promise.all(doomed.slice(i, i + 50).map((k) => client.delete(k)));
        if (!resyncDone) deletedDuringResync += Math.min(50, doomed.length - i);
      }
      const report = await resync;
      expect(report.status).toBe('succeeded');
      expect(deletedDuringResync).toBeGreaterThan(0);

      // ...then after the commit, every deleted key stays deleted and every other moving key is there.
      source.set(commitMigration(migrating));
      await client.refreshTopology();
      const doomedRead = await client.getMulti(doomed);
      const resurrected = doomed.filter((_, i) => doomedRead[i] !== undefined);
      expect(resurrected).toEqual([]);
      const keptRead = await client.getMulti(kept);
      const lost = kept.filter(
        (k, i) => keptRead[i]?.value.toString() !== `v-${k}` || keptRead[i]?.flags !== 9,
      );
      expect(lost).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
