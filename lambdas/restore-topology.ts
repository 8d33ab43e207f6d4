import { SSMClient } from '@aws-sdk/client-ssm';
import { abortMigration } from '../core';
import { SsmLockStore, SsmTopologyStore } from './adapters/ssm-parameters';
import { configuredName } from './env';
import { TopologyNotFoundError } from './errors';
import { releaseIfOwner } from './lock';
import type { LockStore, TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

export interface RestoreTopologyPorts {
  readonly topology: TopologyStore;
  readonly locks: LockStore;
}

/** State `RestoreTopology` output (at `$.restore`). */
export interface RestoreResult {
  /** True when this execution's uncommitted migration was rolled back to the old servers. */
  readonly restored: boolean;
  readonly lockReleased: boolean;
}

/**
 * Failure path: if the topology still holds this execution's migration (not committed), go
 * back to the old servers (abortMigration; clients wrote to both sets, so nothing is lost);
 * then release the lock if this execution holds it. Touches nothing that belongs to another
 * execution, so it is safe from any failed state, including before the lock was taken.
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
    let restored = false;
    try {
      const topology = await ports.topology.read(cluster);
      if (topology.migration?.executionId === me) {
        await ports.topology.write(abortMigration(topology));
        restored = true;
      }
    } catch (e) {
      if (!(e instanceof TopologyNotFoundError)) throw e;
    }
    const lockReleased = await releaseIfOwner(ports.locks, cluster, me);
    console.warn(JSON.stringify({ message: 'rolled back', cluster, restored, lockReleased, error }));
    return { restored, lockReleased };
  };
}

const ssm = new SSMClient({});
let wired: ReturnType<typeof createRestoreTopologyHandler> | undefined;
export const handler = (event: { request: WorkflowRequest; error?: unknown }) =>
  (wired ??= createRestoreTopologyHandler({
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
    locks: new SsmLockStore(ssm, configuredName('LOCK_PARAMETER_NAME')),
  }))(event);
