import { InvalidArgumentError, Placement } from '../../../core';
import { instanceIds, shuffled } from '../../support/ids';

const VBUCKETS = 16384;
const REPLICAS = 2;
const ids = instanceIds(65);

/** vbucket-replica slots of `after` that `before` did not hold, by the server that gained them. */
function gainedSlots(before: Placement, after: Placement): Map<string, number> {
  const gained = new Map<string, number>();
  for (let v = 0; v < after.vbuckets; v++) {
    const old = before.replicasOf(v);
    for (const id of after.replicasOf(v)) if (!old.includes(id)) gained.set(id, (gained.get(id) ?? 0) + 1);
  }
  return gained;
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('rendezvous placement with 16384 vbuckets and 2 replicas, N = 1..64 servers', () => {
  const placements = new Map<number, Placement>();
  const placement = (n: number) => {
    if (!placements.has(n)) placements.set(n, new Placement(ids.slice(0, n), VBUCKETS, REPLICAS));
    return placements.get(n)!;
  };

  it('given the same server set in any order, then every vbucket has the same replica list', () => {
    for (const n of [1, 2, 3, 7, 16, 64]) {
      const a = placement(n);
      const b = new Placement(shuffled(ids.slice(0, n), n), VBUCKETS, REPLICAS);
      expect(Buffer.from(b.table.buffer).equals(Buffer.from(a.table.buffer))).toBe(true);
      expect(b.ids).toEqual(a.ids);
    }
  });

  it('given N servers, then each vbucket has min(2, N) distinct replicas', () => {
    for (let n = 1; n <= 64; n++) {
      const p = placement(n);
      expect(p.replicas).toBe(Math.min(REPLICAS, n));
      let bad = 0;
      for (let v = 0; v < VBUCKETS; v++) if (new Set(p.replicasOf(v)).size !== p.replicas) bad++;
      expect({ n, bad }).toEqual({ n, bad: 0 });
    }
  });

  it("given N servers, then every server's share of slots is within ±15% of the mean", () => {
    for (let n = 1; n <= 64; n++) {
      const counts = [...placement(n).slotCounts().values()];
      const mean = (VBUCKETS * Math.min(REPLICAS, n)) / n;
      const worst = Math.max(...counts.map((c) => Math.abs(c - mean) / mean));
      expect({ n, worst }).toEqual({ n, worst: expect.any(Number) });
      expect(worst).toBeLessThanOrEqual(0.15);
    }
  });

  it('given N servers, when one is added, then at most 1.2/(N+1) of the slots move, all onto the new server', () => {
    for (let n = 1; n <= 64; n++) {
      const after = placement(n + 1);
      const gained = gainedSlots(placement(n), after);
      expect([...gained.keys()]).toEqual([ids[n]]);
      expect(total(gained) / (VBUCKETS * after.replicas)).toBeLessThanOrEqual(1.2 / (n + 1));
    }
  });

  it('given N servers, when one is removed, then only the slots it held move', () => {
    for (let n = 2; n <= 64; n++) {
      const before = placement(n);
      const removed = ids[(n * 7) % n];
      const after = new Placement(
        ids.slice(0, n).filter((id) => id !== removed),
        VBUCKETS,
        REPLICAS,
      );
      // A vbucket changes only when it held the removed server; then exactly one newcomer replaces it
      // (none when the replica count drops with N), and the survivors keep their relative order.
      const violations: number[] = [];
      let moved = 0;
      for (let v = 0; v < VBUCKETS; v++) {
        const old = before.replicasOf(v);
        const now = after.replicasOf(v);
        const newcomers = now.filter((id) => !old.includes(id));
        const survivors = old.filter((id) => id !== removed);
        const ok = !old.includes(removed)
          ? now.join() === old.join()
          : newcomers.length === (old.length === now.length ? 1 : 0) &&
            now.filter((id) => survivors.includes(id)).join() === survivors.slice(0, now.length).join();
        if (!ok) violations.push(v);
        moved += newcomers.length;
      }
      expect({ n, violations }).toEqual({ n, violations: [] });
      expect(moved).toBe(n - 1 >= REPLICAS ? before.slotCounts().get(removed) : 0);
    }
  });

  it('given the same inputs twice, then the placement is identical (deterministic)', () => {
    const a = new Placement(ids.slice(0, 10), 1024, 3);
    const b = new Placement(ids.slice(0, 10), 1024, 3);
    expect(a.replicasOf(5)).toEqual(b.replicasOf(5));
    expect([...a.table]).toEqual([...b.table]);
  });
});

describe('placement edge cases', () => {
  it('given no servers, then vbuckets have no replicas', () => {
    const p = new Placement([], 16, 2);
    expect(p.replicas).toBe(0);
    expect(p.replicasOf(3)).toEqual([]);
    expect(p.slotCounts().size).toBe(0);
  });

  it('given a duplicate id, then it is rejected', () => {
    expect(() => new Placement(['a', 'b', 'a'], 16, 2)).toThrow(InvalidArgumentError);
    expect(() => new Placement(['a', 'b', 'a'], 16, 2)).toThrow(/a is listed twice/);
  });

  it('given a bad vbucket or replica count, then it is rejected with the value', () => {
    expect(() => new Placement(['a'], 0, 2)).toThrow(/vbuckets must be a positive integer, got 0/);
    expect(() => new Placement(['a'], 16, 0)).toThrow(/replicas must be a positive integer, got 0/);
  });

  it('given more than 65535 servers, then it is rejected', () => {
    const many = Array.from({ length: 65536 }, (_, i) => `n${i}`);
    expect(() => new Placement(many, 1, 1)).toThrow(/at most 65535 servers/);
  });

  it('given two ids with equal scores, then the id that sorts first ranks first', () => {
    // "plumless" and "buckeroo" share a CRC-32 (0x4ddb0c25), so their scores tie on every vbucket.
    expect(new Placement(['plumless', 'buckeroo'], 8, 1).replicasOf(3)).toEqual(['buckeroo']);
    expect(new Placement(['buckeroo', 'plumless'], 8, 2).replicasOf(5)).toEqual(['buckeroo', 'plumless']);
  });
});
