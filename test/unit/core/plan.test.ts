import { InvalidArgumentError, parseTopology, Placement, planMigration, pullsFor } from '../../../core';

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

describe('planMigration', () => {
  it('given 3 -> 4 servers, then only the new node pulls, each vbucket from the old replicas primary first', () => {
    const plan = planMigration(topo([1, 2, 3], [1, 2, 3, 4]));
    expect(plan.pulls.map((p) => p.node)).toEqual(['node-4']);
    const old = new Placement(['node-1', 'node-2', 'node-3'], 1024, 2);
    for (const pull of plan.pulls[0].vbuckets) expect(pull.sources).toEqual(old.replicasOf(pull.vbucket));
    expect(plan.pulls[0].address).toBe('127.0.0.1:11214');
    expect(plan.vbucketsMoved).toBe(plan.pulls[0].vbuckets.length);
    expect(plan.slotsMoved).toBe(plan.pulls[0].vbuckets.length);
    expect(plan.slots).toBe(2048);
    expect(plan.movedFraction).toBeCloseTo(plan.slotsMoved / 2048, 12);
    expect(plan.movedFraction).toBeGreaterThan(0.2);
    expect(plan.movedFraction).toBeLessThan(0.3);
  });

  it('given 4 -> 3 servers, then the survivors pull exactly the slots the removed node held', () => {
    const plan = planMigration(topo([1, 2, 3, 4], [1, 2, 3]));
    const held = new Placement(['node-1', 'node-2', 'node-3', 'node-4'], 1024, 2).slotCounts().get('node-4')!;
    const pulled = plan.pulls.reduce((n, p) => n + p.vbuckets.length, 0);
    expect(pulled).toBe(held);
    expect(plan.slotsMoved).toBe(held);
    expect(plan.pulls.map((p) => p.node).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    for (const p of plan.pulls) for (const v of p.vbuckets) expect(v.sources).toContain('node-4');
  });

  it('given no old servers (a new cluster), then there is nothing to pull', () => {
    const plan = planMigration(topo([], [1, 2, 3]));
    expect(plan).toMatchObject({ vbucketsMoved: 0, slotsMoved: 0, movedFraction: 0, pulls: [], slots: 2048 });
  });

  it('given no new servers (scaling to zero), then there is nothing to pull', () => {
    const plan = planMigration(topo([1, 2], []));
    expect(plan).toMatchObject({ pulls: [], slots: 0, movedFraction: 0 });
  });

  it('given 3 -> 4 servers, then each old node cleans up exactly the vbuckets it lost to the new one', () => {
    const plan = planMigration(topo([1, 2, 3], [1, 2, 3, 4]));
    const old = new Placement(['node-1', 'node-2', 'node-3'], 1024, 2);
    const next = new Placement(['node-1', 'node-2', 'node-3', 'node-4'], 1024, 2);
    expect(plan.cleanups.map((c) => c.node)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(plan.cleanups[0].address).toBe('127.0.0.1:11211');
    for (const c of plan.cleanups) {
      const expected = [];
      for (let v = 0; v < 1024; v++)
        if (old.replicasOf(v).includes(c.node) && !next.replicasOf(v).includes(c.node)) expected.push(v);
      expect(c.vbuckets).toEqual(expected);
      expect(c.vbuckets.length).toBeGreaterThan(0);
    }
    // Every slot the new node pulls was lost by exactly one old node.
    const lost = plan.cleanups.reduce((n, c) => n + c.vbuckets.length, 0);
    expect(lost).toBe(plan.pulls[0].vbuckets.length);
  });

  it('given 4 -> 3 servers, then nobody cleans up: the leaving node goes away and the others only gain', () => {
    expect(planMigration(topo([1, 2, 3, 4], [1, 2, 3])).cleanups).toEqual([]);
  });

  it('given one node replacing another (1, 2, 3 -> 1, 2, 4), then only staying nodes that lose vbuckets clean up', () => {
    const plan = planMigration(topo([1, 2, 3], [1, 2, 4]));
    for (const c of plan.cleanups) expect(['node-1', 'node-2']).toContain(c.node);
    expect(plan.cleanups.length).toBeGreaterThan(0);
  });

  it('given a node, then pullsFor returns its vbuckets, and nothing for a node with nothing to pull', () => {
    const plan = planMigration(topo([1, 2, 3], [1, 2, 3, 4]));
    expect(pullsFor(plan, 'node-4')).toBe(plan.pulls[0].vbuckets);
    expect(pullsFor(plan, 'node-1')).toEqual([]);
  });

  it('given a topology without newServers, then planning is an error naming the cluster', () => {
    const stable = parseTopology({ cluster: 'c', epoch: 1, servers: [s(1)] }, 't');
    expect(() => planMigration(stable)).toThrow(InvalidArgumentError);
    expect(() => planMigration(stable)).toThrow(/cluster c has no newServers/);
  });

  it('given old servers gone from the group, then they are no source, and vbuckets they alone held are lost with no sources', () => {
    const migration = { executionId: 'e', startedAt: '2026-11-23T10:00:00Z', gone: ['node-2', 'node-3'] };
    const plan = planMigration(topo([1, 2, 3], [1, 4, 5], { migration }));
    const oldPlacement = new Placement(['node-1', 'node-2', 'node-3'], 1024, 2);
    const lost = [...Array(1024).keys()].filter((v) => !oldPlacement.replicasOf(v).includes('node-1'));
    expect(lost.length).toBeGreaterThan(0);
    expect(plan.vbucketsLost).toEqual(lost);
    for (const pull of plan.pulls.flatMap((p) => p.vbuckets))
      expect(pull.sources).toEqual(lost.includes(pull.vbucket) ? [] : ['node-1']);
    expect(planMigration(topo([1, 2, 3], [1, 2, 3, 4])).vbucketsLost).toEqual([]);
  });

  it('given one replica and 1 -> 2 servers, then half the slots move to the new server', () => {
    const plan = planMigration(topo([1], [1, 2], { replicas: 1 }));
    expect(plan.slots).toBe(1024);
    expect(plan.movedFraction).toBeGreaterThan(0.4);
    expect(plan.movedFraction).toBeLessThan(0.6);
  });
});
