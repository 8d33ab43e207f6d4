import { crc32, murmurBlock, murmurFinish } from './hash';
import { Placement } from './placement';
import type { Server } from './topology';

const HOLE = -1;
const utf8 = new TextEncoder();

/**
 * A balanced, zone-aware vbucket map for `servers` (indices in their order), derived from
 * `previous` (the members' current placement) so that little moves:
 *
 * 1. Every vbucket keeps its previous replicas that stay members, in rank order (a primary that
 *    leaves is replaced by its secondary); with no previous placement the start is rendezvous.
 * 2. A replica that breaks the zone rule becomes a hole. Zone rule: a vbucket holds at most
 *    ceil(replicas / zones) replicas per zone, so when the members span at least `replicas`
 *    zones, every replica is in a distinct zone. A server without `zone` is a zone of its own.
 * 3. Holes go to the least loaded eligible server (a leaving server's slots are spread evenly).
 * 4. A server below its share (a newcomer: floor(slots / N)) takes slots from servers above the
 *    share, visiting vbuckets in the order of its rendezvous score (so the map stays close to
 *    rendezvous) and taking each from its most loaded replica.
 * 5. A server above ceil(slots / N) + slack gives its lowest-scoring slots to the least loaded.
 *
 * `slack` is 0 for a fresh map (every share is floor or ceil of the mean) and about 3% of the
 * mean when deriving, so that a scale-out moves slots only onto the newcomers and a scale-in
 * only the leaver's slots. Deterministic: the same inputs give the same map.
 */
export function balancedPlacement(
  previous: Placement | undefined,
  servers: readonly Server[],
  vbuckets: number,
  requestedReplicas: number,
): Placement {
  const ids = servers.map((s) => s.id);
  const n = ids.length;
  const r = Math.min(requestedReplicas, n);
  const table = new Int32Array(vbuckets * r).fill(HOLE);
  if (r === 0) return new Placement(ids, vbuckets, requestedReplicas, new Uint16Array(0));

  const index = new Map(ids.map((id, i) => [id, i]));
  const fresh = previous === undefined || previous.ids.length === 0;
  startFrom(fresh ? new Placement(ids, vbuckets, r) : previous, index, table, r);

  const zoneKeys = new Map<string, number>();
  const zone = Int32Array.from(servers, (s) => {
    const key = s.zone === undefined ? `#${s.id}` : `=${s.zone}`;
    if (!zoneKeys.has(key)) zoneKeys.set(key, zoneKeys.size);
    return zoneKeys.get(key)!;
  });
  const ctx: Ctx = {
    table,
    r,
    vbuckets,
    zone,
    perZone: Math.ceil(r / zoneKeys.size),
    load: new Int32Array(n),
    seeds: Uint32Array.from(ids, (id) => crc32(utf8.encode(id))),
    blocks: Int32Array.from({ length: vbuckets }, (_, v) => murmurBlock(v)),
  };
  repairZones(ctx);
  for (const s of table) if (s !== HOLE) ctx.load[s]++;
  fillHoles(ctx);

  const mean = (vbuckets * r) / n;
  const slack = fresh ? 0 : Math.max(1, Math.floor(mean * 0.03));
  const newcomers = new Set(fresh ? [] : ids.filter((id) => !previous.ids.includes(id)));
  for (let u = 0; u < n; u++) {
    const trigger = newcomers.has(ids[u]) ? Math.floor(mean) : Math.floor(mean) - slack;
    if (ctx.load[u] < trigger) receive(ctx, u, Math.floor(mean));
  }
  for (let o = 0; o < n; o++) if (ctx.load[o] > Math.ceil(mean) + slack) give(ctx, o, Math.ceil(mean));
  return new Placement(ids, vbuckets, r, Uint16Array.from(table));
}

interface Ctx {
  readonly table: Int32Array;
  readonly r: number;
  readonly vbuckets: number;
  /** Zone number of each server. */
  readonly zone: Int32Array;
  /** At most this many replicas of a vbucket in one zone. */
  readonly perZone: number;
  readonly load: Int32Array;
  readonly seeds: Uint32Array;
  readonly blocks: Int32Array;
}

/** Copies the surviving replicas of `from` into `table` (indices of `index`), rank order kept, holes last. */
function startFrom(from: Placement, index: Map<string, number>, table: Int32Array, r: number): void {
  const translate = from.ids.map((id) => index.get(id) ?? HOLE);
  for (let v = 0; v < from.vbuckets; v++) {
    let k = 0;
    for (let j = 0; j < from.replicas && k < r; j++) {
      const s = translate[from.table[v * from.replicas + j]];
      if (s !== HOLE) table[v * r + k++] = s;
    }
  }
}

/** Makes a hole of every replica beyond its zone's share in its vbucket (later ranks first to go). */
function repairZones(ctx: Ctx): void {
  const { table, r, vbuckets } = ctx;
  for (let v = 0; v < vbuckets; v++)
    for (let k = 1; k < r; k++) {
      const s = table[v * r + k];
      if (s !== HOLE && !fits(ctx, v, s, k)) table[v * r + k] = HOLE;
    }
}

/** Whether server `s` may hold rank `k` of vbucket `v` (distinct servers, zone rule), ignoring rank k's holder. */
function fits(ctx: Ctx, v: number, s: number, k: number): boolean {
  const { table, r, zone, perZone } = ctx;
  let sameZone = 0;
  for (let j = 0; j < r; j++) {
    if (j === k) continue;
    const other = table[v * r + j];
    if (other === HOLE) continue;
    if (other === s) return false;
    if (zone[other] === zone[s]) sameZone++;
  }
  return sameZone < perZone;
}

function score(ctx: Ctx, v: number, s: number): number {
  return murmurFinish(ctx.blocks[v], ctx.seeds[s]);
}

/** Fills every hole with the least loaded server that fits (ties: the higher rendezvous score). */
function fillHoles(ctx: Ctx): void {
  const { table, r, vbuckets, load } = ctx;
  for (let v = 0; v < vbuckets; v++)
    for (let k = 0; k < r; k++) {
      if (table[v * r + k] !== HOLE) continue;
      const s = leastLoaded(ctx, v, k, Infinity);
      table[v * r + k] = s;
      if (s !== HOLE) load[s]++;
    }
}

/** The least loaded server that fits rank `k` of `v` with load below `below`, or HOLE. */
function leastLoaded(ctx: Ctx, v: number, k: number, below: number): number {
  const { load } = ctx;
  let best = HOLE;
  let bestScore = -1;
  for (let s = 0; s < load.length; s++) {
    if (load[s] >= below || !fits(ctx, v, s, k)) continue;
    if (best !== HOLE && load[s] > load[best]) continue;
    const sc = score(ctx, v, s);
    if (best === HOLE || load[s] < load[best] || sc > bestScore) {
      best = s;
      bestScore = sc;
    }
  }
  return best;
}

/** Server `u` takes slots until it holds `target`, from replicas above `target`, in its score order. */
function receive(ctx: Ctx, u: number, target: number): void {
  const { table, r, load } = ctx;
  for (const v of byScore(ctx, u, target - load[u])) {
    if (load[u] >= target) break;
    let donorRank = -1;
    for (let k = 0; k < r; k++) {
      const d = table[v * r + k];
      if (d === u) {
        donorRank = -1;
        break;
      }
      if (
        load[d] > target &&
        fits(ctx, v, u, k) &&
        (donorRank < 0 || load[d] > load[table[v * r + donorRank]])
      )
        donorRank = k;
    }
    if (donorRank < 0) continue;
    load[table[v * r + donorRank]]--;
    table[v * r + donorRank] = u;
    load[u]++;
  }
}

/** Server `o` gives its lowest-scoring slots to the least loaded servers below `target` until it holds `target`. */
function give(ctx: Ctx, o: number, target: number): void {
  const { table, r, load } = ctx;
  const held: number[] = [];
  for (let i = 0; i < table.length; i++) if (table[i] === o) held.push(Math.floor(i / r));
  const scores = new Map(held.map((v) => [v, score(ctx, v, o)]));
  held.sort((a, b) => scores.get(a)! - scores.get(b)!);
  for (const v of held) {
    if (load[o] <= target) break;
    const k = table.subarray(v * r, v * r + r).indexOf(o);
    if (k < 0) continue;
    const s = leastLoaded(ctx, v, k, target);
    if (s === HOLE) continue;
    table[v * r + k] = s;
    load[s]++;
    load[o]--;
  }
}

/**
 * vbuckets by server `s`'s rendezvous score, best first. A caller that
 * needs about `wanted` of them mostly stops early: the best-scoring few are sorted first, and the
 * rest (all, sorted; repeats are harmless to the callers) only if it goes on.
 */
function* byScore(ctx: Ctx, s: number, wanted: number): Generator<number> {
  const { vbuckets } = ctx;
  const scores = Float64Array.from({ length: vbuckets }, (_, v) => -score(ctx, v, s));
  const sorted = (vs: Uint32Array) => vs.sort((a, b) => scores[a] - scores[b] || a - b);
  // Scores are uniform on 32 bits: the `head` share of vbuckets whose score is the most extreme.
  const head = Math.min(1, (8 * wanted + 64) / vbuckets);
  if (head < 0.5) {
    const threshold = -(1 - head) * 2 ** 32;
    yield* sorted(Uint32Array.from({ length: vbuckets }, (_, v) => v).filter((v) => scores[v] < threshold));
  }
  yield* sorted(Uint32Array.from({ length: vbuckets }, (_, v) => v));
}
