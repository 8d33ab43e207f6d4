import { InvalidArgumentError } from './errors';
import { placementOf } from './placement-map';
import { Topology } from './topology';

/** One vbucket a node must pull, with the old replicas that may supply it, primary first. */
export interface VbucketPull {
  readonly vbucket: number;
  readonly sources: readonly string[];
}

/** Everything one node must pull. */
export interface NodePull {
  readonly node: string;
  readonly address: string;
  readonly vbuckets: readonly VbucketPull[];
}

/** What one node staying in the cluster loses: vbuckets it held as an old replica and not as a new one. */
export interface NodeCleanup {
  readonly node: string;
  readonly address: string;
  readonly vbuckets: readonly number[];
}

export interface MigrationPlan {
  readonly cluster: string;
  readonly epoch: number;
  /** vbuckets that gain at least one replica. */
  readonly vbucketsMoved: number;
  /** vbucket-replica slots of the new placement that no old replica held. */
  readonly slotsMoved: number;
  /** All vbucket-replica slots of the new placement. */
  readonly slots: number;
  /** slotsMoved / slots: the share of the keyspace's copies that change hands. */
  readonly movedFraction: number;
  /**
   * vbuckets whose every old replica is gone (`migration.gone`): no source is left, their data is
   * declared lost. Their pulls are listed with no sources (the agent counts them and moves on).
   */
  readonly vbucketsLost: readonly number[];
  /** Nodes with something to pull, in newServers order. */
  readonly pulls: readonly NodePull[];
  /**
   * Nodes of both servers and newServers that lose vbuckets, in newServers order: once the migration
   * commits, they delete their copies (a later migration may hand the vbuckets back to them).
   */
  readonly cleanups: readonly NodeCleanup[];
}

/**
 * The migration from `servers` to `newServers`: for every new replica of a
 * vbucket that was not an old replica, a pull from the old replicas. A cluster
 * with no old servers has nothing to pull (it starts empty).
 */
export function planMigration(topology: Topology): MigrationPlan {
  if (!topology.newServers)
    throw new InvalidArgumentError(
      `topology of cluster ${topology.cluster} has no newServers: nothing to plan`,
    );
  const { vbuckets } = topology;
  const oldPlacement = placementOf(topology, 'servers');
  const newPlacement = placementOf(topology, 'newServers');
  const perNode = new Map<string, VbucketPull[]>(topology.newServers.map((s) => [s.id, []]));
  const lost = new Map<string, number[]>(topology.newServers.map((s) => [s.id, []]));
  const gone = new Set(topology.migration?.gone ?? []);
  const vbucketsLost: number[] = [];
  let vbucketsMoved = 0;
  let slotsMoved = 0;
  for (let v = 0; v < vbuckets; v++) {
    const oldReplicas = oldPlacement.replicasOf(v);
    const newReplicas = newPlacement.replicasOf(v);
    for (const id of oldReplicas) if (!newReplicas.includes(id)) lost.get(id)?.push(v);
    const sources = gone.size > 0 ? oldReplicas.filter((id) => !gone.has(id)) : oldReplicas;
    if (oldReplicas.length > 0 && sources.length === 0) vbucketsLost.push(v);
    let moved = false;
    for (const id of newReplicas) {
      if (oldReplicas.includes(id)) continue;
      slotsMoved++;
      moved = true;
      if (oldReplicas.length > 0) perNode.get(id)!.push({ vbucket: v, sources });
    }
    if (moved) vbucketsMoved++;
  }
  const slots = vbuckets * newPlacement.replicas;
  const hasSources = topology.servers.length > 0;
  return {
    cluster: topology.cluster,
    epoch: topology.epoch,
    vbucketsMoved: hasSources ? vbucketsMoved : 0,
    slotsMoved: hasSources ? slotsMoved : 0,
    slots,
    movedFraction: hasSources && slots > 0 ? slotsMoved / slots : 0,
    vbucketsLost,
    pulls: topology.newServers
      .map((s) => ({ node: s.id, address: s.address, vbuckets: perNode.get(s.id)! }))
      .filter((p) => p.vbuckets.length > 0),
    cleanups: topology.newServers
      .map((s) => ({ node: s.id, address: s.address, vbuckets: lost.get(s.id)! }))
      .filter((c) => c.vbuckets.length > 0),
  };
}

/** What node `nodeId` must pull (empty when it has nothing to pull). */
export function pullsFor(plan: MigrationPlan, nodeId: string): readonly VbucketPull[] {
  return plan.pulls.find((p) => p.node === nodeId)?.vbuckets ?? [];
}
