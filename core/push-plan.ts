import { MigrationPlan, VbucketPull } from './plan';
import { Topology } from './topology';

/** One vbucket a source pushes, with the receivers it pushes it to. */
export interface VbucketPush {
  readonly vbucket: number;
  readonly receivers: readonly string[];
}

/** Everything one source pushes. */
export interface NodePush {
  readonly node: string;
  readonly address: string;
  readonly vbuckets: readonly VbucketPush[];
}

export interface PushPlan {
  readonly cluster: string;
  readonly epoch: number;
  /** Sources with something to push, in `servers` order. */
  readonly pushes: readonly NodePush[];
  /** For each receiver, the source designated for each vbucket it gains (pushed or pulled). */
  readonly designated: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

/**
 * A source designated for fewer receivers than this pulls instead of pushing: a source with one receiver
 * is crawled once per pass either way, and a pull needs no coordination (a scale-out by one pushes nothing).
 */
export const MIN_PUSH_RECEIVERS = 2;

/**
 * Designates, for every vbucket a receiver gains, one pusher among its sources (the old replicas the plan
 * lists): a node leaving the cluster first (its copy goes anyway, and a scale-in then crawls only it), else
 * the source designated the fewest items of work so far (every pusher crawls itself once whatever it
 * pushes; the fetches and writes are what balancing spreads). A pusher that turns out incomplete or fails
 * is the receivers' to replace: they pull what it did not push, from any complete source. Sources
 * designated for fewer than `minReceivers` receivers push nothing: their receivers pull from them.
 */
export function planPushes(
  plan: MigrationPlan,
  topology: Topology,
  minReceivers = MIN_PUSH_RECEIVERS,
): PushPlan {
  const staying = new Set((topology.newServers ?? []).map((s) => s.id));
  const load = new Map<string, number>();
  const perSource = new Map<string, Map<number, string[]>>();
  const designated = new Map<string, Map<number, string>>();
  const receiversOf = new Map<string, Set<string>>();
  for (const pull of plan.pulls)
    for (const { vbucket, sources } of pull.vbuckets) {
      if (sources.length === 0) continue;
      const leaving = sources.filter((id) => !staying.has(id));
      const candidates = leaving.length > 0 ? leaving : sources;
      let best = candidates[0];
      for (const id of candidates) if ((load.get(id) ?? 0) < (load.get(best) ?? 0)) best = id;
      load.set(best, (load.get(best) ?? 0) + 1);
      let mine = designated.get(pull.node);
      if (!mine) designated.set(pull.node, (mine = new Map()));
      mine.set(vbucket, best);
      let receivers = receiversOf.get(best);
      if (!receivers) receiversOf.set(best, (receivers = new Set()));
      receivers.add(pull.node);
      let vbuckets = perSource.get(best);
      if (!vbuckets) perSource.set(best, (vbuckets = new Map()));
      const list = vbuckets.get(vbucket);
      if (list) list.push(pull.node);
      else vbuckets.set(vbucket, [pull.node]);
    }
  return {
    cluster: plan.cluster,
    epoch: plan.epoch,
    pushes: topology.servers
      .filter((s) => (receiversOf.get(s.id)?.size ?? 0) >= minReceivers)
      .map((s) => ({
        node: s.id,
        address: s.address,
        vbuckets: [...perSource.get(s.id)!]
          .sort(([a], [b]) => a - b)
          .map(([vbucket, receivers]) => ({ vbucket, receivers })),
      })),
    designated,
  };
}

/** What `node` pushes (empty when it pushes nothing). */
export function pushesFor(plan: PushPlan, node: string): readonly VbucketPush[] {
  return plan.pushes.find((p) => p.node === node)?.vbuckets ?? [];
}

/** For each vbucket `receiver` gains from a pusher: that pusher's id. */
export function pushersOf(plan: PushPlan, receiver: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const p of plan.pushes)
    for (const { vbucket, receivers } of p.vbuckets)
      if (receivers.includes(receiver)) out.set(vbucket, p.node);
  return out;
}

/**
 * `pulls` of `receiver` with each vbucket's designated source first: what the receiver pulls (from
 * sources that do not push, or after a pusher failed) then crawls each source once per pass, as the
 * designation balanced it, not whichever source the placement ranks first.
 */
export function designatedFirst(
  plan: PushPlan,
  receiver: string,
  pulls: readonly VbucketPull[],
): VbucketPull[] {
  const mine = plan.designated.get(receiver);
  return pulls.map((p) => {
    const first = mine?.get(p.vbucket);
    if (first === undefined || p.sources[0] === first) return p;
    return { vbucket: p.vbucket, sources: [first, ...p.sources.filter((id) => id !== first)] };
  });
}
