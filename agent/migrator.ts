import { designatedFirst, pullsFor, planMigration, planPushes, pushersOf, Server, Topology } from '../core';
import { UsageError } from './errors';
import { AgentResyncReport, DEFAULT_LOCAL, PullOptions, runPulls } from './pulls';
import { ExpectPushes, receivePushes } from './push-receive';

export { DEFAULT_LOCAL, DEFAULT_PROGRESS_INTERVAL_MS } from './pulls';
export type { AgentResyncReport } from './pulls';

export interface ResyncOptions extends PullOptions {
  /** The topology with `newServers`: the migration in progress. */
  readonly topology: Topology;
  /**
   * Before copying, delete the local items of the gained vbuckets stored before the resync began (CAS
   * below a watermark read from the local node): stale copies the add-mode copy could not replace.
   * Off only in tests that show what it prevents. @default true
   */
  readonly purge?: boolean;
  /**
   * The migration's sources push (`astaire-agent push`, planPushes): after the purge, this node announces
   * itself ready and waits for its pushers, then pulls only what they did not push. @default pull everything
   */
  readonly expectPushes?: ExpectPushes;
}

/**
 * Pulls every vbucket this node gains in the migration from its old replicas into the local
 * memcached: each old replica is enumerated once per round for all the vbuckets it serves, and used
 * only while it proves itself a complete replica (marker.ts); when one fails or cannot prove it, its
 * unfinished vbuckets move to the next old replica in their source lists and a new round runs.
 * Old replicas the migration records as gone from the group are no source: a vbucket they alone held
 * is declared lost. A new node (not in `servers`) is marked complete at the end, and so is a staying
 * node that was complete at the start; one that restarted before is left to its heal.
 * Resolves with the report (also given to the reporter); throws only on bad input (UsageError).
 */
export async function runResync(o: ResyncOptions): Promise<AgentResyncReport> {
  const { topology, node } = o;
  if (!topology.newServers)
    throw new UsageError(
      `topology of cluster ${topology.cluster} (epoch ${topology.epoch}) has no newServers: no migration is in progress`,
    );
  const known = [...topology.servers, ...topology.newServers].some((s) => s.id === node);
  if (!known)
    throw new UsageError(`node ${node} is in neither servers nor newServers of cluster ${topology.cluster}`);
  const isNew = !topology.servers.some((s) => s.id === node);
  const staysMember = topology.newServers.some((s) => s.id === node);
  const plan = planMigration(topology);
  const expect = o.expectPushes;
  const pushPlan = expect ? planPushes(plan, topology) : undefined;
  return runPulls(o, {
    mode: 'resync',
    topology,
    // With pushers, what is pulled comes from the designated sources, so each is crawled once per pass.
    pulls: pushPlan ? designatedFirst(pushPlan, node, pullsFor(plan, node)) : pullsFor(plan, node),
    sources: new Map<string, Server>(topology.servers.map((s) => [s.id, s])),
    purge: o.purge !== false,
    incompleteMeansLost: false,
    markWhen: (wasComplete) => staysMember && (isNew || wasComplete),
    ...(expect && pushPlan
      ? {
          receive: (signal, onProgress) =>
            receivePushes({
              onProgress,
              ...o,
              ...expect,
              local: o.local ?? DEFAULT_LOCAL,
              cluster: topology.cluster,
              epoch: topology.epoch,
              node,
              pushers: pushersOf(pushPlan, node),
              pusherAddresses: new Map(topology.servers.map((s) => [s.id, s.address])),
              signal,
              log: o.log ?? (() => undefined),
            }),
        }
      : {}),
  });
}
