import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AutoScalingLifecycleActions } from './adapters/auto-scaling';
import { SsmTopologyStore } from './adapters/ssm-parameters';
import { configuredName } from './env';
import type { LifecycleActions, LifecycleCallOutcome, TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

export interface KeepAlivePorts {
  readonly topology: TopologyStore;
  readonly lifecycle: LifecycleActions;
}

/** States `RecordHeartbeat` (output at `$.keepAlive`) and `RecordHeartbeatWhileWaiting` (discarded). */
export interface KeepAliveResult {
  /** True while the topology holds this execution's uncommitted migration: the keep-alive loop goes on. */
  readonly migrating: boolean;
  /** 'none' for a request without a lifecycle action. */
  readonly lifecycle: LifecycleCallOutcome | 'none';
}

/**
 * Keeps the triggering lifecycle action alive (RecordLifecycleActionHeartbeat) while this
 * execution waits for the lock or moves data, and tells the keep-alive loop whether the
 * migration is still running: CommitMigration (or a rollback) ends it.
 */
export function createKeepAliveHandler(ports: KeepAlivePorts) {
  return async ({ request }: { request: WorkflowRequest }): Promise<KeepAliveResult> => {
    const lifecycle = request.lifecycle ? await ports.lifecycle.heartbeat(request.lifecycle) : 'none';
    if (lifecycle === 'gone')
      console.warn(
        JSON.stringify({
          message: 'lifecycle action already completed or expired',
          action: request.lifecycle,
        }),
      );
    const topology = await ports.topology.read(request.cluster);
    return { migrating: topology.migration?.executionId === request.executionId, lifecycle };
  };
}

const ssm = new SSMClient({});
const autoScaling = new AutoScalingClient({});
let wired: ReturnType<typeof createKeepAliveHandler> | undefined;
export const handler = (event: { request: WorkflowRequest }) =>
  (wired ??= createKeepAliveHandler({
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
    lifecycle: new AutoScalingLifecycleActions(autoScaling),
  }))(event);
