import { AstaireClient, InMemoryTopologySource, ReadRepair } from '../../../client';
import { Routing, Server, Topology, vbucketOf } from '../../../core';
import { MemcachedCluster } from '../../support/memcached';
import { metaRaw } from './support';

const topologyOf = (servers: Server[], epoch: number, newServers?: Server[]) => ({
  cluster: 'it',
  epoch,
  vbuckets: 1024,
  replicas: 2,
  servers,
  ...(newServers
    ? { newServers, migration: { executionId: 'test', startedAt: '2025-01-01T00:00:00Z' } }
    : {}),
});

/** The client's private request method, replaced in the race tests to act between read and repair. */
interface Internals {
  call(server: Server, parts: Buffer[], value?: unknown): Promise<unknown>;
}

function waitForEpoch(client: AstaireClient, epoch: number): Promise<void> {
  if (client.topology.epoch === epoch) return Promise.resolve();
  return new Promise((resolve) => client.on('topology', (t) => t.epoch === epoch && resolve()));
}

/** Parses `mg <key> v f t` from a raw server. */
async function rawItem(
  server: Server,
  key: string,
): Promise<{ value: string; flags: number; ttl: number } | undefined> {
  const reply = (await metaRaw(server.address, `mg ${key} v f t\r\n`)).toString('latin1');
  if (reply === 'EN\r\n') return undefined;
  const m = /^VA \d+ f(\d+) t(-?\d+)\r\n([\s\S]*)\r\n$/.exec(reply);
  if (!m) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  return { flags: Number(m[1]), ttl: Number(m[2]), value: m[3] };
}

async function cmdSets(servers: Server[]): Promise<number[]> {
  return Promise.all(
    servers.map(async (s) => {
      const stats = (await metaRaw(s.address, 'stats\r\n')).toString();
      return Number(/STAT cmd_set (\d+)/.exec(stats)![1]);
    }),
  );
}

const TOMBSTONE = 'ms %KEY% 17 F4294967295 T600 MS\r\nastaire:tombstone\r\n';

describe('read-repair during a migration (3 -> 4 nodes, agent not run)', () => {
  let cluster: MemcachedCluster;
  let client: AstaireClient | undefined;
  let source: InMemoryTopologySource;
  let old: Server[];
  let all: Server[];
  let oldRouting: Routing;
  let newRouting: Routing;

  beforeEach(async () => {
    cluster = await MemcachedCluster.start(4);
    all = cluster.servers();
    old = all.slice(0, 3);
    oldRouting = new Routing(topologyOf(old, 1) as Topology);
    newRouting = new Routing(topologyOf(all, 3) as Topology);
    source = new InMemoryTopologySource(topologyOf(old, 1));
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cluster.stop();
  });

  const oldReplicas = (key: string) => oldRouting.readOrder(vbucketOf(key, 1024));
  const newReplicas = (key: string) => newRouting.readOrder(vbucketOf(key, 1024));
  /** The new replicas the agent fills: new replicas that are not old ones. */
  const newOnly = (key: string) =>
    newReplicas(key).filter((s) => !oldReplicas(key).some((o) => o.id === s.id));
  /** Keys with a new-only replica; `first`: it is read first (else a shared replica is, and it is probed). */
  const keysWhere = (prefix: string, count: number, first: boolean) => {
    const keys: string[] = [];
    for (let i = 0; i < 20000 && keys.length < count; i++) {
      const k = `${prefix}-${i}`;
      const only = newOnly(k);
      if (only.length > 0 && only.some((s) => s.id === newReplicas(k)[0].id) === first) keys.push(k);
    }
    expect(keys).toHaveLength(count);
    return keys;
  };

  /** Opens the client on the old topology, runs `seed`, then starts the migration. */
  const openAndMigrate = async (seed: (c: AstaireClient) => Promise<void>, options: object = {}) => {
    const c = (client = await AstaireClient.open({ source, pollIntervalMs: 0, ...options }));
    await seed(c);
    source.set(topologyOf(old, 2, all));
    await waitForEpoch(c, 2);
    return c;
  };

  it('given an item only on old replicas, when read, then it is returned, copied with identical value, flags and TTL, and the next read is served by the new replica', async () => {
    const [missedFirst] = keysWhere('first', 1, true);
    const [probed] = keysWhere('probed', 1, false);
    const [long] = keysWhere('long', 1, true);
    const c = await openAndMigrate(async (c) => {
      await c.set(missedFirst, 'value-1', { flags: 7, ttl: 3600 });
      await c.set(probed, 'value-2', { flags: 8 });
      await c.set(long, 'value-3', { flags: 9, ttl: 40 * 86400 });
    });
    for (const k of [missedFirst, probed, long])
      for (const s of newOnly(k)) expect(await rawItem(s, k)).toBeUndefined();
    const events: ReadRepair[] = [];
    c.on('readRepair', (r) => events.push(r));

    expect(await c.get(missedFirst)).toMatchObject({ value: Buffer.from('value-1'), flags: 7 });
    expect(await c.get(probed)).toEqual({ value: Buffer.from('value-2'), flags: 8, ttl: -1 });
    expect((await c.get(long))!.value.toString()).toBe('value-3');
    await c.settleRepairs();

    const pairs = [missedFirst, probed, long].flatMap((k) => newOnly(k).map((s) => [k, s] as const));
    expect(events).toHaveLength(pairs.length);
    expect(events.every((e) => e.outcome === 'stored')).toBe(true);
    expect(c.readRepairStats).toEqual({
      started: pairs.length,
      stored: pairs.length,
      exists: 0,
      failed: 0,
      skippedExpiring: 0,
    });
    for (const [k, s] of pairs) {
      const copy = (await rawItem(s, k))!;
      const original = (await rawItem(oldReplicas(k)[0], k))!;
      expect(copy.value).toBe(original.value);
      expect(copy.flags).toBe(original.flags);
      // Over 30 days the copy's absolute time is on this host's clock: allow memcached's skew.
      expect(Math.abs(copy.ttl - original.ttl)).toBeLessThanOrEqual(k === long ? 5 : 2);
    }
    expect((await rawItem(newOnly(probed)[0], probed))!.ttl).toBe(-1);

    // The old replicas lose it: a read now can only be served by the new replica.
    for (const s of oldReplicas(missedFirst))
      expect((await metaRaw(s.address, `md ${missedFirst}\r\n`)).toString()).toBe('HD\r\n');
    expect(await c.get(missedFirst)).toMatchObject({ value: Buffer.from('value-1'), flags: 7 });
    await c.settleRepairs();
    expect(c.readRepairStats.started).toBe(pairs.length);
  });

  it('given a write to the new replica between the read and the repair, when the repair lands, then the write is kept (add mode)', async () => {
    const [key] = keysWhere('race-write', 1, true);
    const target = newOnly(key)[0];
    const c = await openAndMigrate((c) => c.set(key, 'stale', { flags: 1, ttl: 3600 }));
    const internals = c as unknown as Internals;
    const call = internals.call.bind(c);
    let raced = 0;
    jest.spyOn(internals, 'call').mockImplementation(async (server, parts, value) => {
      if (server.id === target.id && parts[0].toString('latin1').startsWith(`ms ${key} `) && !raced++)
        // Another client's set lands first.
        expect((await metaRaw(target.address, `ms ${key} 5 F2 T0 MS\r\nfresh\r\n`)).toString()).toBe(
          'HD\r\n',
        );
      return call(server, parts, value);
    });

    expect((await c.get(key))!.value.toString()).toBe('stale');
    await c.settleRepairs();
    expect(raced).toBe(1);
    expect(c.readRepairStats).toMatchObject({ started: 1, exists: 1, stored: 0, failed: 0 });
    expect(await rawItem(target, key)).toEqual({ value: 'fresh', flags: 2, ttl: -1 });
  });

  it('given a tombstone on the new replica, before the read or between the read and the repair, then it is not replaced and the key stays deleted', async () => {
    const [before, between] = keysWhere('tomb', 2, true);
    const c = await openAndMigrate((c) =>
      c.setMulti([before, between].map((key) => ({ key, value: 'doomed', ttl: 3600 }))),
    );
    // Before: a tombstone on the new replica while the old replicas still hold the item
    // (the old replicas' delete failed): the read stops at the tombstone, nothing is copied.
    for (const s of newOnly(before))
      expect((await metaRaw(s.address, TOMBSTONE.replace('%KEY%', before))).toString()).toBe('HD\r\n');
    expect(await c.get(before)).toBeUndefined();
    await c.settleRepairs();
    expect(c.readRepairStats.started).toBe(0);
    for (const s of newOnly(before)) expect((await rawItem(s, before))!.flags).toBe(0xffffffff);

    // Between: the client's own delete lands after the read and before the repair.
    const internals = c as unknown as Internals;
    const call = internals.call.bind(c);
    let raced = 0;
    let deleted: Promise<boolean> | undefined;
    jest.spyOn(internals, 'call').mockImplementation(async (server, parts, value) => {
      const line = parts[0].toString('latin1');
      if (line.startsWith(`ms ${between} `) && line.includes(' ME')) {
        raced++;
        // Every repair add (one per new replica) waits for the one delete.
        deleted ??= c.delete(between);
        expect(await deleted).toBe(true);
      }
      return call(server, parts, value);
    });
    expect((await c.get(between))!.value.toString()).toBe('doomed');
    await c.settleRepairs();
    expect(raced).toBe(newOnly(between).length);
    expect(c.readRepairStats).toMatchObject({ stored: 0, failed: 0 });
    expect(c.readRepairStats.exists).toBe(newOnly(between).length);
    for (const s of newOnly(between)) expect((await rawItem(s, between))!.value).toBe('astaire:tombstone');
    expect(await c.get(between)).toBeUndefined();

    source.set(topologyOf(all, 3));
    await waitForEpoch(c, 3);
    expect(await c.getMulti([before, between])).toEqual([undefined, undefined]);
  });

  it('given many keys only on old replicas, when read with getMulti, then each is copied to its new replicas', async () => {
    const keys = [...keysWhere('multi-a', 15, true), ...keysWhere('multi-b', 15, false)];
    const c = await openAndMigrate((c) =>
      c.setMulti(keys.map((key, i) => ({ key, value: `v${i}`, flags: i, ttl: 600 }))),
    );
    const read = await c.getMulti([...keys, 'absent-key']);
    expect(read.map((i) => i?.value.toString())).toEqual([...keys.map((_, i) => `v${i}`), undefined]);
    await c.settleRepairs();
    const pairs = keys.flatMap((k, i) => newOnly(k).map((s) => [k, i, s] as const));
    expect(c.readRepairStats).toMatchObject({ started: pairs.length, stored: pairs.length, failed: 0 });
    for (const [k, i, s] of pairs) {
      const copy = (await rawItem(s, k))!;
      expect(copy).toMatchObject({ value: `v${i}`, flags: i });
      expect(copy.ttl).toBeGreaterThanOrEqual(597);
      expect(copy.ttl).toBeLessThanOrEqual(600);
    }
  });

  it('given readRepair: false, when items only on old replicas are read, then nothing is copied', async () => {
    const keys = [...keysWhere('off-a', 3, true), ...keysWhere('off-b', 3, false)];
    const c = await openAndMigrate((c) => c.setMulti(keys.map((key) => ({ key, value: key }))), {
      readRepair: false,
    });
    const sets = await cmdSets(all);
    expect((await c.getMulti(keys)).map((i) => i?.value.toString())).toEqual(keys);
    await c.settleRepairs();
    expect(c.readRepairStats.started).toBe(0);
    for (const k of keys) for (const s of newOnly(k)) expect(await rawItem(s, k)).toBeUndefined();
    expect(await cmdSets(all)).toEqual(sets);
  });

  it('given an item about to expire, when read, then it is not copied', async () => {
    const [key] = keysWhere('expiring', 1, true);
    const c = await openAndMigrate((c) => c.set(key, 'brief', { ttl: 1 }));
    const item = await c.get(key);
    await c.settleRepairs();
    // Read within its last second, or already gone: either way nothing is copied.
    expect(c.readRepairStats.started).toBe(0);
    if (item) expect(c.readRepairStats.skippedExpiring).toBe(1);
    for (const s of newOnly(key)) expect(await rawItem(s, key)).toBeUndefined();
  });

  it('given no migration, when a read misses on one replica and hits on the next, then there is no repair traffic', async () => {
    const key = 'steady';
    const [first, second] = oldReplicas(key);
    const c = (client = await AstaireClient.open({ source, pollIntervalMs: 0 }));
    expect((await metaRaw(second.address, `ms ${key} 2 F3 T0 MS\r\nv2\r\n`)).toString()).toBe('HD\r\n');
    const events: ReadRepair[] = [];
    c.on('readRepair', (r) => events.push(r));
    const sets = await cmdSets(all);
    expect(await c.get(key)).toEqual({ value: Buffer.from('v2'), flags: 3, ttl: -1 });
    await c.settleRepairs();
    expect(await cmdSets(all)).toEqual(sets);
    expect(await rawItem(first, key)).toBeUndefined();
    expect(events).toEqual([]);
    expect(c.readRepairStats.started).toBe(0);
  });
});
