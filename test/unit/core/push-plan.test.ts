import {
  beginMigration,
  commitMigration,
  designatedFirst,
  emptyTopology,
  parseTopology,
  planMigration,
  planPushes,
  pushersOf,
  pushesFor,
} from '../../../core';
import { instanceIds } from '../../support/ids';

const s = (n: number) => ({ id: `node-${n}`, address: `127.0.0.1:${11210 + n}` });
const topo = (servers: number[], newServers: number[], extra: object = {}) =>
  parseTopology(
    {
      cluster: 'c',
      epoch: 7,
      vbuckets: 1024,
      replicas: 2,
      servers: servers.map(s),
      newServers: newServers.map(s),
      ...extra,
    },
    't',
  );

/** Every (vbucket, receiver) pair the plan pushes, as `vbucket:receiver`, with its pusher. */
function designated(t: ReturnType<typeof topo>): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of planPushes(planMigration(t), t).pushes)
    for (const v of p.vbuckets) for (const r of v.receivers) out.set(`${v.vbucket}:${r}`, p.node);
  return out;
}

describe('planPushes', () => {
  it('given 5 -> 4 servers, then only the leaving node pushes, every vbucket-receiver pair the plan pulls exactly once', () => {
    const t = topo([1, 2, 3, 4, 5], [1, 2, 3, 4]);
    const migration = planMigration(t);
    const plan = planPushes(migration, t);

    expect(plan.pushes.map((p) => p.node)).toEqual(['node-5']);
    expect(plan.pushes[0].address).toBe('127.0.0.1:11215');
    const pairs = migration.pulls.flatMap((p) => p.vbuckets.map((v) => `${v.vbucket}:${p.node}`)).sort();
    expect([...designated(t).keys()].sort()).toEqual(pairs);
    expect(new Set(plan.pushes[0].vbuckets.flatMap((v) => v.receivers)).size).toBe(4);
  });

  it('given 3 -> 5 servers, then every old node pushes to both new ones, each its share within 25% of the mean, only from the vbucket sources', () => {
    const t = topo([1, 2, 3], [1, 2, 3, 4, 5]);
    const migration = planMigration(t);
    const plan = planPushes(migration, t);

    expect(plan.pushes.map((p) => p.node)).toEqual(['node-1', 'node-2', 'node-3']);
    const counts = plan.pushes.map((p) => p.vbuckets.reduce((n, v) => n + v.receivers.length, 0));
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    for (const c of counts) expect(Math.abs(c - mean) / mean).toBeLessThan(0.25);
    for (const p of plan.pushes)
      for (const v of p.vbuckets)
        for (const r of v.receivers) {
          const pull = migration.pulls
            .find((x) => x.node === r)!
            .vbuckets.find((x) => x.vbucket === v.vbucket)!;
          expect(pull.sources).toContain(p.node);
        }
  });

  it('given 3 -> 4 servers (each source has one receiver), then nobody pushes and the receiver pulls each vbucket from its designated source first', () => {
    const t = topo([1, 2, 3], [1, 2, 3, 4]);
    const migration = planMigration(t);
    const plan = planPushes(migration, t);

    expect(plan.pushes).toEqual([]);
    const pulls = designatedFirst(plan, 'node-4', migration.pulls[0].vbuckets);
    const firsts = new Map<string, number>();
    pulls.forEach((p, i) => {
      expect([...p.sources].sort()).toEqual([...migration.pulls[0].vbuckets[i].sources].sort());
      expect(p.sources[0]).toBe(plan.designated.get('node-4')!.get(p.vbucket));
      firsts.set(p.sources[0], (firsts.get(p.sources[0]) ?? 0) + 1);
    });
    // Balanced over the three sources, where the placement's primaries alone are not.
    const counts = [...firsts.values()];
    expect(counts).toHaveLength(3);
    expect(Math.max(...counts) / Math.min(...counts)).toBeLessThan(1.05);
    expect(designatedFirst(plan, 'node-9', migration.pulls[0].vbuckets)).toEqual(migration.pulls[0].vbuckets);
  });

  it('given a vbucket whose old replicas are all gone, then nobody pushes it (it is lost, not pushed)', () => {
    const t = topo([1, 2, 3], [3, 4, 5], {
      migration: { executionId: 'x', startedAt: '2026-11-23T10:00:00Z', gone: ['node-1', 'node-2'] },
    });
    const migration = planMigration(t);
    const plan = planPushes(migration, t);

    expect(migration.vbucketsLost.length).toBeGreaterThan(0);
    const pushed = new Set(plan.pushes.flatMap((p) => p.vbuckets.map((v) => v.vbucket)));
    for (const v of migration.vbucketsLost) expect(pushed.has(v)).toBe(false);
    expect(plan.pushes.map((p) => p.node)).toEqual(['node-3']);
  });

  it('given a receiver, then pushersOf names the pusher of each vbucket it gains and pushesFor what a source pushes', () => {
    const t = topo([1, 2, 3, 4, 5], [1, 2, 3, 4]);
    const plan = planPushes(planMigration(t), t);
    const gained = planMigration(t)
      .pulls.find((p) => p.node === 'node-2')!
      .vbuckets.map((v) => v.vbucket);

    const pushers = pushersOf(plan, 'node-2');

    expect([...pushers.keys()].sort((a, b) => a - b)).toEqual([...gained].sort((a, b) => a - b));
    expect(new Set(pushers.values())).toEqual(new Set(['node-5']));
    expect(pushesFor(plan, 'node-5')).toBe(plan.pushes[0].vbuckets);
    expect(pushesFor(plan, 'node-1')).toEqual([]);
  });
});

/**
 * docs/scale.md: the agent commands of a one-node scaling are bounded by the leaving (or joining) node's
 * slots, 2 x 16384 / N, not by N: at 1000 servers a scale-in has fewer receivers than at 100.
 */
describe.each([10, 100, 1000])(
  'one server in or out of a balanced cluster of %i (16384 vbuckets, 2 replicas)',
  (n) => {
    const owner = { executionId: 'test', startedAt: '2026-11-27T00:00:00Z' };
    const servers = instanceIds(n + 1).map((id, i) => ({
      id,
      address: `10.0.${i >> 8}.${i & 255}:11211`,
      zone: `eu-west-1${'abc'[i % 3]}`,
    }));
    const stable = commitMigration(beginMigration(emptyTopology('c'), servers.slice(0, n), owner));
    const growing = beginMigration(stable, servers, owner);
    const shrinking = beginMigration(commitMigration(growing), servers.slice(0, n), owner);
    /** A node's slots with balanced placement, at most 10% over the mean (balanced-placement.test). */
    const share = (members: number) => Math.ceil((1.1 * 2 * 16384) / members);

    it('given a scale-out by one, then the newcomer alone pulls, nobody pushes, and at most its share of nodes clean up', () => {
      const plan = planMigration(growing);
      expect(plan.pulls.map((p) => p.node)).toEqual([servers[n].id]);
      expect(planPushes(plan, growing).pushes).toEqual([]);
      expect(plan.cleanups.length).toBeGreaterThan(0);
      expect(plan.cleanups.length).toBeLessThanOrEqual(Math.min(n, share(n + 1)));
    });

    it('given a scale-in by one, then the leaver alone pushes, to at most its share of receivers, and nobody cleans up', () => {
      const plan = planMigration(shrinking);
      expect(planPushes(plan, shrinking).pushes.map((p) => p.node)).toEqual([servers[n].id]);
      expect(plan.pulls.length).toBeGreaterThan(0);
      expect(plan.pulls.length).toBeLessThanOrEqual(Math.min(n, share(n + 1)));
      expect(plan.cleanups).toEqual([]);
    });
  },
);
