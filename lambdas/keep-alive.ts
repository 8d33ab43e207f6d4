import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CloudWatchMetrics } from './adapters/cloudwatch';
import { AutoScalingLifecycleActions } from './adapters/auto-scaling';
import { SsmTopologyStore } from './adapters/ssm-parameters';
import { configuredName, requireEnv } from './env';
import { MetricNames } from './metric-names';
import type { Clock, Gauges, LifecycleActions, LifecycleCallOutcome, TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

export interface KeepAlivePorts {
  readonly topology: TopologyStore;
  readonly lifecycle: LifecycleActions;
  /** Where the execution's age is put (MigrationSeconds); none locally. */
  readonly gauges?: Gauges;
  readonly clock?: Clock;
}

/** States `RecordHeartbeat` and `RecordHeartbeatWhileWaiting` input. */
export interface KeepAliveInput {
  readonly request: WorkflowRequest;
  /** $$.Execution.StartTime: the age put is measured from it. */
  readonly startedAt?: string;
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
  return async ({ request, startedAt }: KeepAliveInput): Promise<KeepAliveResult> => {
    if (ports.gauges && startedAt) await putAge(ports.gauges, request.cluster, startedAt, ports.clock);
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

/**
 * The execution's age, whole: the lock wait and SendCommand's retries included (the agents' own metrics
 * start only once data moves). A failure to put it never fails the keep-alive.
 */
async function putAge(gauges: Gauges, cluster: string, startedAt: string, clock?: Clock): Promise<void> {
  const seconds = Math.max(0, ((clock?.now() ?? new Date()).getTime() - Date.parse(startedAt)) / 1000);
  if (!Number.isFinite(seconds)) return;
  try {
    await gauges.seconds(cluster, MetricNames.migrationSeconds, Math.round(seconds));
  } catch (error) {
    console.warn(JSON.stringify({ message: 'could not put the migration age', error: String(error) }));
  }
}

const ssm = new SSMClient({});
const autoScaling = new AutoScalingClient({});
const cloudwatch = new CloudWatchClient({});
let wired: ReturnType<typeof createKeepAliveHandler> | undefined;
export const handler = (event: KeepAliveInput) =>
  (wired ??= createKeepAliveHandler({
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
    lifecycle: new AutoScalingLifecycleActions(autoScaling),
    gauges: new CloudWatchMetrics(cloudwatch, requireEnv('METRIC_NAMESPACE')),
  }))(event);
