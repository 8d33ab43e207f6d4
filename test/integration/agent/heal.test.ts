import { parseTopology, Placement, Server, Topology, vbucketOf } from '../../../core';
import { runHeal } from '../../../agent';
import { MemcachedCluster } from '../../support/memcached';
import { Item, load, makeItems, mismatches, pipeline, readAll, setCommand } from './support';

const VBUCKETS = 1024;
const MEMCACHED = { memoryMb: 128 };
const MARKER = Buffer.from('astaire:complete');

function topology(servers: Server[], replicas = 2): Topology {
  return parseTopology({ cluster: 'itest', epoch: 4, vbuckets: VBUCKETS, replicas, servers }, 'test');
}

function fail(what: unknown): never {
  throw new Error(`unexpected answer: ${String(what)}`);
}

describe('astaire-agent heal against real memcached', () => {
  jest.setTimeout(60000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  const items = makeItems(20000, 5).filter((i) => i.value.length <= 4096);

  it('given a member whose memcached restarted empty, when healed, then it holds every item of its vbuckets again (values, flags, TTLs), keeps what clients wrote since, and is marked complete', async () => {
    cluster = await MemcachedCluster.start(3, MEMCACHED);
    const servers = cluster.servers();
    await load(servers, VBUCKETS, 2, items);
    await cluster.nodes[1].restart();
    // A client writes to both replicas after the restart: its value must survive the heal (add mode).
    const t = topology(servers);
    const placement = new Placement(
      servers.map((s) => s.id),
      VBUCKETS,
      2,
    );
    const onNode2 = items.filter((i) => placement.replicasOf(vbucketOf(i.key, VBUCKETS)).includes('node-2'));
    const rewritten: Item[] = onNode2
      .slice(0, 100)
      .map((i) => ({ ...i, value: Buffer.from('new'), flags: 7 }));
    for (const s of servers)
      await pipeline(
        s.address,
        rewritten
          .filter((i) => placement.replicasOf(vbucketOf(i.key, VBUCKETS)).includes(s.id))
          .map((i) => setCommand(i)),
        { value: fail, error: fail, status: fail },
      );
    const expected = items.map((i) => rewritten.find((r) => r.key.equals(i.key)) ?? i);
    const [before] = await readAll(servers[1].address, [MARKER]);

    const healed = await runHeal({ topology: t, node: 'node-2', local: servers[1].address });

    expect(before).toBeUndefined();
    expect(healed.report?.status).toBe('succeeded');
    expect(healed.report?.mode).toBe('heal');
    expect(healed.report?.markedComplete).toBe(true);
    expect(healed.report?.items).toBeGreaterThan(onNode2.length - rewritten.length - 10);
    expect(await mismatches(servers, servers, VBUCKETS, 2, expected)).toEqual([]);
    const again = await runHeal({ topology: t, node: 'node-2', local: servers[1].address });
    expect(again.skipped).toBe('complete');
  });

  it('given both replicas of some vbuckets restarted, when one heals, then it declares exactly those vbuckets lost and still heals the rest', async () => {
    cluster = await MemcachedCluster.start(3, MEMCACHED);
    const servers = cluster.servers();
    await load(servers, VBUCKETS, 2, items);
    await cluster.nodes[0].restart();
    await cluster.nodes[1].restart();
    const placement = new Placement(
      servers.map((s) => s.id),
      VBUCKETS,
      2,
    );
    const shared: number[] = [];
    for (let v = 0; v < VBUCKETS; v++) {
      const r = placement.replicasOf(v);
      if (r.includes('node-1') && r.includes('node-2')) shared.push(v);
    }

    const healed = await runHeal({ topology: topology(servers), node: 'node-1', local: servers[0].address });

    expect(shared.length).toBeGreaterThan(0);
    expect(healed.report?.status).toBe('succeeded');
    expect(healed.report?.vbucketsLost).toEqual(shared);
    const fromNode3 = items.filter((i) => {
      const r = placement.replicasOf(vbucketOf(i.key, VBUCKETS));
      return r.includes('node-1') && r.includes('node-3');
    });
    const got = await readAll(
      servers[0].address,
      fromNode3.map((i) => i.key),
    );
    expect(got.filter((g) => g === undefined)).toHaveLength(0);
  });

  it('given the other replica of some vbuckets is unreachable, when healing, then the heal fails (it may come back) and the node stays unmarked', async () => {
    cluster = await MemcachedCluster.start(3, MEMCACHED);
    const servers = cluster.servers();
    await load(servers, VBUCKETS, 2, items);
    await cluster.nodes[0].restart();
    await cluster.nodes[2].kill();

    const healed = await runHeal({
      topology: topology(servers),
      node: 'node-1',
      local: servers[0].address,
      connectTimeoutMs: 500,
    });

    expect(healed.report?.status).toBe('failed');
    expect(healed.report?.error).toMatch(/VbucketsUnavailableError/);
    expect(healed.report?.vbucketsLost).toBeUndefined();
    const [marker] = await readAll(servers[0].address, [MARKER]);
    expect(marker).toBeUndefined();
  });

  it('given replicas: 1, when the only replica heals, then its vbuckets are declared lost and it is marked complete', async () => {
    cluster = await MemcachedCluster.start(2, MEMCACHED);
    const servers = cluster.servers();
    await load(servers, VBUCKETS, 1, items);
    await cluster.nodes[0].restart();

    const healed = await runHeal({
      topology: topology(servers, 1),
      node: 'node-1',
      local: servers[0].address,
    });

    expect(healed.report?.status).toBe('succeeded');
    expect(healed.report?.vbucketsLost?.length).toBe(healed.report?.vbuckets);
    expect(healed.report?.markedComplete).toBe(true);
  });

  it('given a node that is not a member, when healed, then nothing happens', async () => {
    cluster = await MemcachedCluster.start(2, MEMCACHED);
    const servers = cluster.servers();
    const healed = await runHeal({
      topology: topology([servers[0]]),
      node: 'node-2',
      local: servers[1].address,
    });
    expect(healed.skipped).toBe('not-a-member');
  });
});
