import { InvalidArgumentError, parseTopology, Routing, Topology } from '../../../core';

const s = (n: number) => ({ id: `node-${n}`, address: `127.0.0.1:${11210 + n}` });
const stable: Topology = parseTopology(
  { cluster: 'c', epoch: 1, vbuckets: 256, replicas: 2, servers: [s(1), s(2), s(3)] },
  't',
);
const migrating: Topology = parseTopology({ ...stable, newServers: [s(1), s(2), s(3), s(4)] }, 't');
const ids = (list: { id: string }[]) => list.map((x) => x.id);

describe('Routing', () => {
  it('given no migration, then reads and writes use the replicas in rank order', () => {
    const r = new Routing(stable);
    for (let v = 0; v < 256; v++) {
      expect(ids(r.readOrder(v))).toEqual(r.current.replicasOf(v));
      expect(ids(r.writeSet(v))).toEqual(r.current.replicasOf(v));
    }
    expect(r.next).toBeUndefined();
  });

  it('given a migration, then reads try the new replicas first, then the old ones, without repeats', () => {
    const r = new Routing(migrating);
    let sawNewNodeFirst = false;
    for (let v = 0; v < 256; v++) {
      const order = ids(r.readOrder(v));
      const fresh = r.next!.replicasOf(v);
      const old = r.current.replicasOf(v);
      expect(order.slice(0, fresh.length)).toEqual(fresh);
      expect(order).toEqual([...fresh, ...old.filter((id) => !fresh.includes(id))]);
      expect(new Set(order).size).toBe(order.length);
      if (order[0] === 'node-4') sawNewNodeFirst = true;
    }
    expect(sawNewNodeFirst).toBe(true);
  });

  it('given a migration, then writes reach the union of old and new replicas (so a rollback loses nothing)', () => {
    const r = new Routing(migrating);
    for (let v = 0; v < 256; v++) {
      const set = ids(r.writeSet(v));
      for (const id of [...r.current.replicasOf(v), ...r.next!.replicasOf(v)]) expect(set).toContain(id);
    }
  });

  it('given a server id, then its address is known from either list', () => {
    const r = new Routing(migrating);
    expect(r.server('node-4')?.address).toBe('127.0.0.1:11214');
    expect(r.server('node-1')?.address).toBe('127.0.0.1:11211');
    expect(r.server('node-9')).toBeUndefined();
  });

  it('given a server whose address differs between the lists, then it is rejected', () => {
    const bad = parseTopology({ ...stable, newServers: [{ id: 'node-1', address: '127.0.0.1:9' }] }, 't');
    expect(() => new Routing(bad)).toThrow(
      /node-1 has address 127.0.0.1:11211 in servers but 127.0.0.1:9 in newServers/,
    );
  });

  it('given a vbucket out of range, then it is rejected', () => {
    const r = new Routing(stable);
    expect(() => r.readOrder(256)).toThrow(InvalidArgumentError);
    expect(() => r.writeSet(-1)).toThrow(/\[0, 256\), got -1/);
  });
});
