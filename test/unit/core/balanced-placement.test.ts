import {
  balancedPlacement,
  decodePlacementMap,
  encodePlacementMap,
  Placement,
  placementOf,
  Server,
} from '../../../core';
import { instanceIds } from '../../support/ids';

const VBUCKETS = 16384;
const REPLICAS = 2;

/** `n` servers with EC2-like ids, round-robin over `zones` (no zone when 0). */
function fleet(n: number, zones: number, seed = 1): Server[] {
  return instanceIds(n, seed).map((id, i) => ({
    id,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:11211`,
    ...(zones > 0 ? { zone: `eu-west-1${'abcdef'[i % zones]}` } : {}),
  }));
}

/** Largest relative distance of a server's slot count from the mean. */
function worstShare(p: Placement): number {
  const mean = p.table.length / p.ids.length;
  return Math.max(...[...p.slotCounts().values()].map((c) => Math.abs(c - mean) / mean));
}

/** vbuckets whose replicas share a zone. */
function sameZoneVbuckets(p: Placement, servers: readonly Server[]): number {
  const zoneOf = new Map(servers.map((s) => [s.id, s.zone]));
  let bad = 0;
  for (let v = 0; v < p.vbuckets; v++) {
    const zones = p.replicasOf(v).map((id) => zoneOf.get(id));
    if (new Set(zones).size !== zones.length) bad++;
  }
  return bad;
}

/** Slots of `after` that `before` did not hold, by the server that gained them. */
function gained(before: Placement, after: Placement): Map<string, number> {
  const out = new Map<string, number>();
  for (let v = 0; v < after.vbuckets; v++) {
    const old = before.replicasOf(v);
    for (const id of after.replicasOf(v)) if (!old.includes(id)) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe.each([10, 100, 1000])('a balanced map of %i servers in 3 zones, 16384 vbuckets, 2 replicas', (n) => {
  const servers = fleet(n + 1, 3);
  const members = servers.slice(0, n);
  const start = balancedPlacement(undefined, members, VBUCKETS, REPLICAS);

  it("given a new cluster, then every server's share is within ±10% of the mean and replicas are in distinct zones", () => {
    expect(worstShare(start)).toBeLessThanOrEqual(0.1);
    expect(sameZoneVbuckets(start, members)).toBe(0);
    expect(start.replicas).toBe(2);
  });

  it('given one server added, then at most 1.2/(N+1) of the slots move, all onto it, and the rules still hold', () => {
    const after = balancedPlacement(start, servers, VBUCKETS, REPLICAS);
    const moved = gained(start, after);
    expect([...moved.keys()]).toEqual([servers[n].id]);
    expect(sum(moved) / after.table.length).toBeLessThanOrEqual(1.2 / (n + 1));
    expect(worstShare(after)).toBeLessThanOrEqual(0.1);
    expect(sameZoneVbuckets(after, servers)).toBe(0);
  });

  it('given one server removed, then only its slots move, and the rules still hold', () => {
    const leaving = members[n >> 1];
    const staying = members.filter((s) => s !== leaving);
    const after = balancedPlacement(start, staying, VBUCKETS, REPLICAS);
    expect(sum(gained(start, after))).toBe(start.slotCounts().get(leaving.id));
    expect(worstShare(after)).toBeLessThanOrEqual(0.1);
    expect(sameZoneVbuckets(after, staying)).toBe(0);
  });
});

describe('balanced maps through several scalings', () => {
  it('given 10 servers in 3 zones, when 4 join one by one and 5 leave one by one, then the rules hold at every step', () => {
    const servers = fleet(14, 3);
    let members = servers.slice(0, 10);
    let p = balancedPlacement(undefined, members, VBUCKETS, REPLICAS);
    const steps: Server[][] = [];
    for (let i = 10; i < 14; i++) steps.push(servers.slice(0, i + 1));
    for (let i = 0; i < 5; i++) steps.push(servers.slice(i + 1, 14));
    for (const next of steps) {
      const after = balancedPlacement(p, next, VBUCKETS, REPLICAS);
      const moved = sum(gained(p, after));
      const change = next.length > members.length ? 1.2 / next.length : 1;
      expect({ n: next.length, ok: moved / after.table.length <= change }).toEqual({
        n: next.length,
        ok: true,
      });
      expect(worstShare(after)).toBeLessThanOrEqual(0.1);
      expect(sameZoneVbuckets(after, next)).toBe(0);
      [members, p] = [next, after];
    }
  });

  it('given a rendezvous cluster of 64 servers without zones, when one joins, then the new map is balanced within ±5%', () => {
    const servers = fleet(65, 0);
    const rendezvous = new Placement(
      servers.slice(0, 64).map((s) => s.id),
      VBUCKETS,
      REPLICAS,
    );
    expect(worstShare(rendezvous)).toBeGreaterThan(0.05);
    const after = balancedPlacement(rendezvous, servers, VBUCKETS, REPLICAS);
    expect(worstShare(after)).toBeLessThanOrEqual(0.05);
    expect(gained(rendezvous, after).get(servers[64].id)).toBeGreaterThan(0);
  });

  it('given 2 zones and 3 replicas, then every vbucket spans both zones', () => {
    const servers = fleet(8, 2);
    const p = balancedPlacement(undefined, servers, 1024, 3);
    const zoneOf = new Map(servers.map((s) => [s.id, s.zone]));
    let oneZone = 0;
    for (let v = 0; v < 1024; v++)
      if (new Set(p.replicasOf(v).map((id) => zoneOf.get(id))).size < 2) oneZone++;
    expect(oneZone).toBe(0);
    expect(worstShare(p)).toBeLessThanOrEqual(0.1);
  });

  it('given one server and 2 replicas requested, then each vbucket has the one replica; and no server gives an empty map', () => {
    const one = fleet(1, 1);
    expect(balancedPlacement(undefined, one, 64, 2).replicasOf(5)).toEqual([one[0].id]);
    expect(balancedPlacement(undefined, [], 64, 2).table.length).toBe(0);
  });

  it('given a primary that leaves, then its secondary becomes the primary (it has the data)', () => {
    const servers = fleet(4, 0);
    const p = balancedPlacement(undefined, servers, 64, 2);
    const v = p.replicasOf(0);
    const after = balancedPlacement(
      p,
      servers.filter((s) => s.id !== v[0]),
      64,
      2,
    );
    expect(after.replicasOf(0)[0]).toBe(v[1]);
  });
});

describe('the placement map encoding', () => {
  it.each([1, 2, 3, 10, 1000])('given %i servers, then a map round-trips slot for slot', (n) => {
    const servers = fleet(n, 3);
    const p = balancedPlacement(undefined, servers, 1024, 2);
    const map = encodePlacementMap(p, servers);
    const width = Math.max(1, Math.ceil(Math.log2(n)));
    expect(Buffer.from(map, 'base64').length).toBe(Math.ceil((1024 * Math.min(2, n) * width) / 8));
    const back = decodePlacementMap(map, servers, 1024, 2);
    for (const v of [0, 1, 511, 1023]) expect(back.replicasOf(v)).toEqual(p.replicasOf(v));
  });

  it('given 3 servers, then the bits are packed least significant first (the documented format)', () => {
    const servers = fleet(3, 0);
    const table = Uint16Array.from([2, 0, 1, 2]);
    const p = new Placement(
      servers.map((s) => s.id),
      2,
      2,
      table,
    );
    // 2 bits per slot: 10 00 01 10 from bit 0 on -> byte 0b10_01_00_10.
    expect(Buffer.from(encodePlacementMap(p, servers), 'base64')).toEqual(Buffer.from([0b10010010]));
  });

  it('given a topology without a map, then its placement is rendezvous; with one, the map', () => {
    const servers = fleet(5, 0);
    const topology = { cluster: 'c', epoch: 1, vbuckets: 256, replicas: 2, servers };
    const rendezvous = new Placement(
      servers.map((s) => s.id),
      256,
      2,
    );
    expect(placementOf(topology).replicasOf(7)).toEqual(rendezvous.replicasOf(7));
    const balanced = balancedPlacement(undefined, servers, 256, 2);
    const mapped = placementOf({ ...topology, map: encodePlacementMap(balanced, servers) });
    expect(mapped.replicasOf(7)).toEqual(balanced.replicasOf(7));
    expect(placementOf(topology, 'newServers').table.length).toBe(0);
  });

  it('given an explicit table of the wrong length, then it is rejected', () => {
    expect(() => new Placement(['a', 'b'], 4, 2, new Uint16Array(3))).toThrow(/has 8 slots, got 3/);
  });
});
