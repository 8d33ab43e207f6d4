import {
  AstaireClient,
  InMemoryTopologySource,
  KeyTooLongError,
  NoReplicaAvailableError,
  RequestTimeoutError,
  ServerError,
  ValueTooLargeError,
} from '../../../client';
import { Routing, Server, vbucketOf } from '../../../core';
import { MemcachedCluster } from '../../support/memcached';
import { metaRaw } from './support';

const topologyOf = (servers: Server[], epoch = 1, newServers?: Server[]) => ({
  cluster: 'it',
  epoch,
  vbuckets: 1024,
  replicas: 2,
  servers,
  ...(newServers
    ? { newServers, migration: { executionId: 'test', startedAt: '2025-01-01T00:00:00Z' } }
    : {}),
});

function replicasOf(servers: Server[], key: string): Server[] {
  const routing = new Routing(topologyOf(servers) as never);
  return routing.readOrder(vbucketOf(key, 1024));
}

function waitForEpoch(client: AstaireClient, epoch: number): Promise<void> {
  if (client.topology.epoch === epoch) return Promise.resolve();
  return new Promise((resolve) => client.on('topology', (t) => t.epoch === epoch && resolve()));
}

describe('AstaireClient against real memcached', () => {
  let cluster: MemcachedCluster;
  let client: AstaireClient | undefined;
  let source: InMemoryTopologySource;

  beforeEach(async () => {
    cluster = await MemcachedCluster.start(3);
    source = new InMemoryTopologySource(topologyOf(cluster.servers()));
  });
  afterEach(async () => {
    for (const n of cluster.nodes) if (n.pid && n.running) process.kill(n.pid, 'SIGCONT');
    await client?.close();
    client = undefined;
    await cluster.stop();
  });

  const open = async (options: object = {}) =>
    (client = await AstaireClient.open({ source, pollIntervalMs: 0, requestTimeoutMs: 500, ...options }));

  it('given values, flags and TTLs, when set and read back, then each round-trips and lands on both replicas', async () => {
    const c = await open();
    const binaryKey = Buffer.from([0x00, 0x20, 0x0d, 0x0a, 0xff]);
    await c.set('plain', 'hello', { flags: 123, ttl: 100 });
    await c.set(binaryKey, Buffer.from([1, 2, 0, 13, 10]), { flags: 0xfffffffe });
    await c.set('clé', 'ünïcode', { ttl: 40 * 86400 });

    const [plain, binary, utf8, missing] = await c.getMulti(['plain', binaryKey, 'clé', 'absent']);
    expect(plain).toMatchObject({ value: Buffer.from('hello'), flags: 123 });
    expect(plain!.ttl).toBeGreaterThanOrEqual(98);
    expect(plain!.ttl).toBeLessThanOrEqual(100);
    expect(binary).toEqual({ value: Buffer.from([1, 2, 0, 13, 10]), flags: 0xfffffffe, ttl: -1 });
    expect(utf8!.value.toString()).toBe('ünïcode');
    expect(Math.abs(utf8!.ttl - 40 * 86400)).toBeLessThan(5);
    expect(missing).toBeUndefined();

    const replicas = replicasOf(cluster.servers(), 'plain');
    expect(replicas).toHaveLength(2);
    for (const r of replicas)
      expect((await metaRaw(r.address, 'mg plain v f\r\n')).toString()).toBe('VA 5 f123\r\nhello\r\n');
  });

  it('given a 1 s TTL, when 2.2 s pass, then the key is gone from every replica', async () => {
    const c = await open();
    await c.set('short', 'v', { ttl: 1 });
    expect(await c.get('short')).toBeDefined();
    await new Promise((r) => setTimeout(r, 2200));
    expect(await c.get('short')).toBeUndefined();
  });

  it('given add, touch and delete, when used, then they report what was there', async () => {
    const c = await open();
    expect(await c.add('a', '1')).toBe(true);
    expect(await c.add('a', '2')).toBe(false);
    expect((await c.get('a'))!.value.toString()).toBe('1');
    expect(await c.touch('a', 50)).toBe(true);
    expect((await c.get('a'))!.ttl).toBeGreaterThan(45);
    expect(await c.touch('nope', 50)).toBe(false);
    expect(await c.delete('a')).toBe(true);
    expect(await c.delete('a')).toBe(false);
    expect(await c.get('a')).toBeUndefined();
  });

  it('given one replica server stopped, when reading and writing every key, then all succeed and the error names it', async () => {
    const c = await open();
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    await c.setMulti(keys.map((key) => ({ key, value: `v-${key}` })));
    await cluster.nodes[0].kill();
    const errors: ServerError[] = [];
    c.on('serverError', (e) => errors.push(e));

    const read = await c.getMulti(keys);
    expect(read.map((i) => i?.value.toString())).toEqual(keys.map((k) => `v-${k}`));
    await c.setMulti(keys.map((key) => ({ key, value: `w-${key}` })));
    expect((await c.getMulti(keys)).map((i) => i?.value.toString())).toEqual(keys.map((k) => `w-${k}`));
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.message).toContain(`node-1 (${cluster.nodes[0].address})`);
  });

  it('given one replica hung (SIGSTOP), when reading and writing, then requests time out on it alone and succeed', async () => {
    const c = await open({ requestTimeoutMs: 300 });
    const key = 'hung';
    await c.set(key, 'before');
    const [first] = replicasOf(cluster.servers(), key);
    const node = cluster.nodes[cluster.servers().findIndex((s) => s.id === first.id)];
    process.kill(node.pid!, 'SIGSTOP');
    const errors: ServerError[] = [];
    c.on('serverError', (e) => errors.push(e));

    expect((await c.get(key))!.value.toString()).toBe('before');
    await c.set(key, 'after');
    expect((await c.get(key))!.value.toString()).toBe('after');
    expect(errors[0]).toBeInstanceOf(RequestTimeoutError);
    expect(errors[0].message).toBe(`${first.id} (${first.address}): no reply within 300 ms`);
  });

  it('given every replica of a key stopped, when reading it, then NoReplicaAvailableError lists each server', async () => {
    const c = await open();
    const replicas = replicasOf(cluster.servers(), 'k');
    for (const r of replicas) await cluster.nodes[cluster.servers().findIndex((s) => s.id === r.id)].kill();
    const error = await c.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoReplicaAvailableError);
    for (const r of replicas) expect((error as Error).message).toContain(`${r.id} (${r.address})`);
  });

  it('given bad input, when writing, then clear typed errors: key too long, value over the server item size', async () => {
    const c = await open({ maxValueBytes: 2 * 1024 * 1024 });
    await expect(c.set('k'.repeat(251), 'v')).rejects.toThrow(KeyTooLongError);
    const error = await c.set('big', Buffer.alloc(1024 * 1024)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValueTooLargeError);
    expect((error as Error).message).toMatch(
      /value of 1048576 bytes is too large for the item size limit of node-\d/,
    );
    // The connection is still in step after the refused value.
    await c.set('small', 'ok');
    expect((await c.get('small'))!.value.toString()).toBe('ok');
  });
});

describe('AstaireClient during a migration (agent not run)', () => {
  let cluster: MemcachedCluster;
  let client: AstaireClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cluster.stop();
  });

  it('given a counter and a value written before, when a node is being added, then increment continues the old count, replace updates the old replicas, and neither creates the key on the node the agent fills', async () => {
    cluster = await MemcachedCluster.start(3);
    const all = cluster.servers();
    const old = all.slice(0, 2);
    const newcomer = all[2];
    const source = new InMemoryTopologySource(topologyOf(old, 1));
    const c = (client = await AstaireClient.open({ source, pollIntervalMs: 0 }));
    expect(await c.increment('visits', 5, { initial: 10 })).toBe(10n);
    expect(await c.increment('visits', 5)).toBe(15n);
    expect(await c.increment('absent', 1)).toBeUndefined();
    await c.set('profile', 'v1');
    expect(await c.replace('nobody', 'x')).toBe(false);

    // With two old servers and two replicas, the newcomer becomes a new replica of about 2/3 of the
    // vbuckets: pick keys it gains, written before the migration starts.
    const gained = (prefix: string) =>
      Array.from({ length: 50 }, (_, i) => `${prefix}-${i}`).find((k) =>
        replicasOf(all, k).some((s) => s.id === newcomer.id),
      )!;
    const counter = gained('count');
    const profile = gained('profile');
    await Promise.all([c.set(counter, '41'), c.set(profile, 'v1')]);
    source.set(topologyOf(old, 2, all));
    await waitForEpoch(c, 2);

    expect(await c.increment(counter, 1, { initial: 0 })).toBe(42n);
    expect(await c.decrement(counter, 2)).toBe(40n);
    expect(await c.replace(profile, 'v2')).toBe(true);
    const onNewcomer = async (key: string) => (await metaRaw(newcomer.address, `mg ${key} v\r\n`)).toString();
    expect(await onNewcomer(counter)).toBe('EN\r\n');
    expect(await onNewcomer(profile)).toBe('EN\r\n');
    for (const server of old.filter((s) => replicasOf(old, profile).some((r) => r.id === s.id)))
      expect((await metaRaw(server.address, `mg ${profile} v\r\n`)).toString()).toBe('VA 2\r\nv2\r\n');
    expect((await c.get(profile))?.value.toString()).toBe('v2');
    await expect(c.increment(profile, 1)).rejects.toThrow(/not a counter/);
  });

  it('given keys written before, when a node is being added, then all stay readable, and keys written during survive the commit', async () => {
    cluster = await MemcachedCluster.start(4);
    const all = cluster.servers();
    const old = all.slice(0, 3);
    const source = new InMemoryTopologySource(topologyOf(old, 1));
    const c = (client = await AstaireClient.open({ source, pollIntervalMs: 0 }));
    const before = Array.from({ length: 300 }, (_, i) => `before-${i}`);
    await c.setMulti(before.map((key) => ({ key, value: key })));

    source.set(topologyOf(old, 2, all));
    await waitForEpoch(c, 2);
    expect((await c.getMulti(before)).map((i) => i?.value.toString())).toEqual(before);
    const during = Array.from({ length: 300 }, (_, i) => `during-${i}`);
    await c.setMulti(during.map((key) => ({ key, value: key, flags: 9 })));
    const deleted = before.slice(0, 20);
    await Promise.all(deleted.map((k) => c.delete(k)));

    source.set(topologyOf(all, 3));
    await waitForEpoch(c, 3);
    const after = await c.getMulti(during);
    expect(after.map((i) => i?.value.toString())).toEqual(during);
    expect(after.every((i) => i?.flags === 9)).toBe(true);
    expect(await c.getMulti(deleted)).toEqual(deleted.map(() => undefined));
    // Sanity: the new node did receive data during the migration (routing really changed).
    const moved = during.filter((k) => replicasOf(all, k).some((s) => s.id === 'node-4'));
    expect(moved.length).toBeGreaterThan(0);
  });
});

describe('delete during a resync (resync step driven by the test, as the agent does it)', () => {
  let cluster: MemcachedCluster;
  let client: AstaireClient | undefined;
  let source: InMemoryTopologySource;
  let old: Server[];
  let all: Server[];
  let key: string;
  let newReplica: Server;
  let oldReplica: Server;

  beforeEach(async () => {
    cluster = await MemcachedCluster.start(4);
    all = cluster.servers();
    old = all.slice(0, 3);
    // A key whose vbucket gains node-4 as a replica: the agent on node-4 would copy it.
    key = Array.from({ length: 2000 }, (_, i) => `race-${i}`).find(
      (k) =>
        replicasOf(all, k).some((s) => s.id === 'node-4') &&
        !replicasOf(old, k).some((s) => s.id === 'node-4'),
    )!;
    newReplica = all[3];
    oldReplica = replicasOf(old, key)[0];
    source = new InMemoryTopologySource(topologyOf(old, 1));
    client = await AstaireClient.open({ source, pollIntervalMs: 0 });
    await client.set(key, 'doomed', { flags: 5, ttl: 3600 });
    source.set(topologyOf(old, 2, all));
    await waitForEpoch(client, 2);
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cluster.stop();
  });

  const agentFetch = async () => {
    const reply = (await metaRaw(oldReplica.address, `mg ${key} v f t\r\n`)).toString();
    const [, size, flags, ttl, value] = /^VA (\d+) f(\d+) t(-?\d+)\r\n([\s\S]*)\r\n$/.exec(reply)!;
    return { size: Number(size), flags, ttl, value };
  };
  const agentAdd = async (item: { size: number; flags: string; ttl: string; value: string }) =>
    (
      await metaRaw(
        newReplica.address,
        `ms ${key} ${item.size} F${item.flags} T${item.ttl} ME\r\n${item.value}\r\n`,
      )
    ).toString();

  it('given the agent fetched the item, when the client deletes it before the agent adds it, then the add fails and it stays deleted after commit', async () => {
    expect(key).toBeDefined();
    const fetched = await agentFetch();
    expect(fetched.value).toBe('doomed');

    expect(await client!.delete(key)).toBe(true);
    expect(await agentAdd(fetched)).toBe('NS\r\n');
    expect(await client!.get(key)).toBeUndefined();

    source.set(topologyOf(all, 3));
    await waitForEpoch(client!, 3);
    expect(await client!.get(key)).toBeUndefined();
    expect(await client!.getMulti([key])).toEqual([undefined]);
  });

  it('given the agent already copied the item, when the client deletes it, then it is gone after commit', async () => {
    expect(await agentAdd(await agentFetch())).toBe('HD\r\n');
    await client!.delete(key);
    source.set(topologyOf(all, 3));
    await waitForEpoch(client!, 3);
    expect(await client!.get(key)).toBeUndefined();
  });

  it('given a tombstone on the new replica, when the key is written again, then set and add both replace it', async () => {
    await client!.delete(key);
    const raw = (await metaRaw(newReplica.address, `mg ${key} v f t\r\n`)).toString();
    expect(raw).toMatch(/^VA 17 f4294967295 t(599|600)\r\nastaire:tombstone\r\n$/);
    expect(await client!.add(key, 'reborn', { flags: 1 })).toBe(true);
    expect(await client!.get(key)).toMatchObject({ value: Buffer.from('reborn'), flags: 1 });
    await client!.delete(key);
    await client!.set(key, 'again');
    source.set(topologyOf(all, 3));
    await waitForEpoch(client!, 3);
    expect((await client!.get(key))!.value.toString()).toBe('again');
  });

  it('given a tombstone, when touched with TTL 0, then the key stays absent and the tombstone keeps a bounded lifetime', async () => {
    await client!.delete(key);
    expect(await client!.touch(key, 0)).toBe(false);
    const raw = (await metaRaw(newReplica.address, `mg ${key} t\r\n`)).toString();
    expect(raw).toMatch(/^HD t(599|600)\r\n$/);
    expect(await client!.get(key)).toBeUndefined();
  });
});
