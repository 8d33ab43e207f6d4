import { SSMClient } from '@aws-sdk/client-ssm';
import { abortMigration, planMigration, type Topology } from '../core';
import { SsmTopologyStore } from './adapters/ssm-parameters';
import { configuredName } from './env';
import { TopologyNotFoundError } from './errors';
import type { CleanupItem } from './plan-migration';
import type { TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

export interface RestoreTopologyPorts {
  readonly topology: TopologyStore;
}

/** State `RestoreTopology` output (at `$.restore`). */
export interface RestoreResult {
  /** True when this execution's uncommitted migration was rolled back to the old servers. */
  readonly restored: boolean;
  /** Epoch of the restored topology (present when `restored`): the rollback cleanup runs against it. */
  readonly epoch?: number;
  /**
   * The members of the restored topology that were planned to pull (items of the RollbackCleanupNodes
   * Map): they may keep partial copies of vbuckets they do not hold, which a later migration handing
   * those vbuckets back would serve. Empty when nothing was restored. `vbuckets` counts what each was
   * planned to pull.
   */
  readonly cleanups: readonly CleanupItem[];
}

/**
 * Failure path: if the topology still holds this execution's migration (not committed), go
 * back to the old servers (abortMigration; clients wrote to both sets, so nothing is lost), and
 * name the restored members that were planned to pull: they clean up before the lock is released
 * (state ReleaseLockAfterRollback), so that no later migration publishes while they hold copies.
 * Touches nothing that belongs to another execution, so it is safe from any failed state,
 * including before the lock was taken.
 */
export function createRestoreTopologyHandler(ports: RestoreTopologyPorts) {
  return async ({
    request,
    error,
  }: {
    request: WorkflowRequest;
    error?: unknown;
  }): Promise<RestoreResult> => {
    const { cluster, executionId: me } = request;
    let result: RestoreResult = { restored: false, cleanups: [] };
    try {
      const topology = await ports.topology.read(cluster);
      if (topology.migration?.executionId === me) {
        const restored = abortMigration(topology);
        await ports.topology.write(restored);
        result = { restored: true, epoch: restored.epoch, cleanups: stayersThatPulled(topology) };
      }
    } catch (e) {
      if (!(e instanceof TopologyNotFoundError)) throw e;
    }
    console.warn(
      JSON.stringify({
        message: 'rolled back',
        cluster,
        restored: result.restored,
        cleanups: result.cleanups.map((c) => c.node),
        error,
      }),
    );
    return result;
  };
}

/** The old servers that stay in `migrating`'s newServers and gain vbuckets: those its agents pull into. */
function stayersThatPulled(migrating: Topology): CleanupItem[] {
  const old = new Set(migrating.servers.map((s) => s.id));
  return planMigration(migrating)
    .pulls.filter((p) => old.has(p.node))
    .map((p) => ({ node: p.node, address: p.address, vbuckets: p.vbuckets.length }));
}

const ssm = new SSMClient({});
let wired: ReturnType<typeof createRestoreTopologyHandler> | undefined;
export const handler = (event: { request: WorkflowRequest; error?: unknown }) =>
  (wired ??= createRestoreTopologyHandler({
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
  }))(event);
