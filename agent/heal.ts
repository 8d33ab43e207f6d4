import { placementOf, Server, Topology, VbucketPull } from '../core';
import { UsageError } from './errors';
import { isComplete, readNodeState } from './marker';
import { AgentResyncReport, DEFAULT_LOCAL, PullOptions, runPulls } from './pulls';

export interface HealOptions extends PullOptions {
  /** The cluster's current topology (a migration may be in progress). */
  readonly topology: Topology;
}

/** The heal's verdict when it had nothing to do (the report is undefined then). */
export type HealSkip = 'complete' | 'not-a-member';

/**
 * Refills a member whose memcached restarted (or was flushed): for every vbucket the node serves in
 * `servers`' placement, pull its items from the other replicas that prove themselves complete, in add
 * mode (a value a client wrote since the restart wins), then mark the node complete. A vbucket whose
 * other replicas all restarted too (or that has none, with `replicas: 1`) is declared lost: nobody holds
 * its data any more. A replica that cannot be reached is different: it may come back, so the heal fails
 * and the next check tries again.
 *
 * Resolves `{ skipped }` without touching anything when the node is complete already (its marker is
 * there: the common case, one `stats` and one `mg` on the local node) or is not a member.
 */
export async function runHeal(
  o: HealOptions,
): Promise<{ report: AgentResyncReport; skipped?: undefined } | { skipped: HealSkip; report?: undefined }> {
  const { topology, node } = o;
  const self = topology.servers.find((s) => s.id === node);
  // A node joining in a migration in progress is filled by its resync, not here.
  if (!self) return { skipped: 'not-a-member' };
  const local = o.local ?? DEFAULT_LOCAL;
  try {
    if (isComplete(await readNodeState(local, o), topology.cluster, node)) return { skipped: 'complete' };
  } catch {
    // Unreachable: runPulls reports it as the failure it is.
  }
  if (topology.servers.length === 0) throw new UsageError(`cluster ${topology.cluster} has no servers`);
  return {
    report: await runPulls(o, {
      mode: 'heal',
      topology,
      pulls: healPulls(topology, node),
      sources: new Map<string, Server>(topology.servers.map((s) => [s.id, s])),
      purge: false,
      incompleteMeansLost: true,
      markWhen: () => true,
    }),
  };
}

/** Every vbucket `node` serves under `servers`, with the other replicas as sources, best first. */
export function healPulls(topology: Topology, node: string): VbucketPull[] {
  const placement = placementOf(topology, 'servers');
  const pulls: VbucketPull[] = [];
  for (let v = 0; v < topology.vbuckets; v++) {
    const replicas = placement.replicasOf(v);
    if (replicas.includes(node)) pulls.push({ vbucket: v, sources: replicas.filter((id) => id !== node) });
  }
  return pulls;
}
