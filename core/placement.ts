import { InvalidArgumentError } from './errors';
import { crc32, murmurBlock, murmurFinish } from './hash';

/**
 * vbucket -> replica list by rendezvous (highest-random-weight) hashing: each
 * vbucket's replicas are the `replicas` servers with the highest
 * `placementScore(vbucket, id)`, best first; equal scores go to the id that
 * sorts first. It depends only on the set of ids, never on their order, and
 * adding a server moves to it only the slots where it now outranks an old one.
 */
export class Placement {
  /** Distinct server ids (sorted, for rendezvous; as given, for an explicit map); `table` holds indices into it. */
  readonly ids: readonly string[];
  /** Replicas per vbucket: min(requested, number of servers). */
  readonly replicas: number;
  /** `table[vbucket * replicas + rank]` is the index into `ids` of that vbucket's rank-th replica. */
  readonly table: Uint16Array;

  /**
   * Rendezvous placement of `serverIds`; or, given `explicit` (an explicit vbucket map, see
   * placement-map.ts), that table with indices into `serverIds` in the order given.
   */
  constructor(
    serverIds: readonly string[],
    readonly vbuckets: number,
    requestedReplicas: number,
    explicit?: Uint16Array,
  ) {
    if (!Number.isInteger(vbuckets) || vbuckets < 1)
      throw new InvalidArgumentError(`vbuckets must be a positive integer, got ${vbuckets}`);
    if (!Number.isInteger(requestedReplicas) || requestedReplicas < 1)
      throw new InvalidArgumentError(`replicas must be a positive integer, got ${requestedReplicas}`);
    const ids = [...serverIds].sort(compareIds);
    for (let i = 1; i < ids.length; i++)
      if (ids[i] === ids[i - 1]) throw new InvalidArgumentError(`server id ${ids[i]} is listed twice`);
    if (explicit) {
      const r = Math.min(requestedReplicas, ids.length);
      if (explicit.length !== vbuckets * r)
        throw new InvalidArgumentError(
          `an explicit map of ${vbuckets} vbuckets x ${r} replicas has ${vbuckets * r} slots, got ${explicit.length}`,
        );
      this.ids = [...serverIds];
      this.replicas = r;
      this.table = explicit;
      return;
    }
    if (ids.length > 0xffff) throw new InvalidArgumentError(`at most 65535 servers, got ${ids.length}`);
    this.ids = ids;
    const r = Math.min(requestedReplicas, ids.length);
    this.replicas = r;
    this.table = new Uint16Array(vbuckets * r);
    if (r === 0) return;

    const encoder = new TextEncoder();
    const seeds = ids.map((id) => crc32(encoder.encode(id)));
    const bestScore = new Float64Array(r);
    const bestIndex = new Int32Array(r);
    for (let v = 0; v < vbuckets; v++) {
      const block = murmurBlock(v);
      bestScore.fill(-1);
      // Ids are sorted, so on a tie the earlier (smaller) id keeps its rank: strict > below.
      for (let s = 0; s < ids.length; s++) {
        const score = murmurFinish(block, seeds[s]);
        if (score <= bestScore[r - 1]) continue;
        let rank = r - 1;
        while (rank > 0 && score > bestScore[rank - 1]) {
          bestScore[rank] = bestScore[rank - 1];
          bestIndex[rank] = bestIndex[rank - 1];
          rank--;
        }
        bestScore[rank] = score;
        bestIndex[rank] = s;
      }
      for (let k = 0; k < r; k++) this.table[v * r + k] = bestIndex[k];
    }
  }

  /** The replica ids of `vbucket`, best first. */
  replicasOf(vbucket: number): string[] {
    const out: string[] = [];
    for (let k = 0; k < this.replicas; k++) out.push(this.ids[this.table[vbucket * this.replicas + k]]);
    return out;
  }

  /** How many vbucket-replica slots each server holds. */
  slotCounts(): Map<string, number> {
    const counts = new Map<string, number>(this.ids.map((id) => [id, 0]));
    const perIndex = new Uint32Array(this.ids.length);
    for (let i = 0; i < this.table.length; i++) perIndex[this.table[i]]++;
    this.ids.forEach((id, i) => counts.set(id, perIndex[i]));
    return counts;
  }
}

/** Byte-wise order of the ids' UTF-16 code units; ids are ASCII (see topology), so this equals UTF-8 byte order. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
