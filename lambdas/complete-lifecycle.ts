import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AutoScalingLifecycleActions } from './adapters/auto-scaling';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CloudWatchMetrics } from './adapters/cloudwatch';
import { SsmTopologyStore } from './adapters/ssm-parameters';
import { configuredName, requireEnv } from './env';
import { MetricNames } from './metric-names';
import type { LifecycleActions, LifecycleCallOutcome, Metrics, TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

export interface CompleteLifecyclePorts {
  readonly lifecycle: LifecycleActions;
  readonly metrics: Metrics;
  /** Read before an ABANDON: an instance the committed topology lists holds its data and continues. */
  readonly topology?: TopologyStore;
}

/** States `ContinueLifecycle` (result CONTINUE) and `AbandonLaunch` (result ABANDON). */
export interface CompleteLifecycleInput {
  readonly request: WorkflowRequest;
  readonly result: 'CONTINUE' | 'ABANDON';
}

/** Output (at `$.lifecycle`). */
export interface CompleteLifecycleResult {
  readonly result: 'CONTINUE' | 'ABANDON';
  readonly outcome: LifecycleCallOutcome | 'none';
}

/**
 * Completes the request's lifecycle action. An action that was already completed (a duplicate
 * event, or another execution) or has expired is `gone`: not a failure of the data move, which
 * is committed by then; it is counted (LifecycleActionGone) and logged. If an expired launch was
 * abandoned by Auto Scaling, the topology lists an instance that is going away: the next scaling
 * event or a manual `resync` drops it (its vbuckets keep their other replicas meanwhile).
 */
export function createCompleteLifecycleHandler(ports: CompleteLifecyclePorts) {
  return async ({ request, result: asked }: CompleteLifecycleInput): Promise<CompleteLifecycleResult> => {
    let result = asked;
    if (result !== 'CONTINUE' && result !== 'ABANDON')
      throw new TypeError(`result must be CONTINUE or ABANDON (got ${String(result)})`);
    if (!request.lifecycle) return { result, outcome: 'none' };
    if (result === 'ABANDON' && (await committedMember(ports.topology, request))) {
      // Abandoning would terminate a node that clients and the topology already count on.
      console.warn(
        JSON.stringify({
          message: 'not abandoning a launch the committed topology lists: continuing it',
          action: request.lifecycle,
        }),
      );
      result = 'CONTINUE';
    }
    const outcome = await ports.lifecycle.complete(request.lifecycle, result);
    if (outcome === 'gone') {
      console.warn(
        JSON.stringify({
          message: 'lifecycle action already completed or expired',
          action: request.lifecycle,
          result,
        }),
      );
      await ports.metrics.count(request.cluster, MetricNames.lifecycleActionGone);
    }
    return { result, outcome };
  };
}

/** True when the request's instance is a member of the committed topology (no migration in progress). */
async function committedMember(
  topology: TopologyStore | undefined,
  request: WorkflowRequest,
): Promise<boolean> {
  if (!topology || !request.lifecycle) return false;
  const t = await topology.read(request.cluster);
  return !t.newServers && t.servers.some((s) => s.id === request.lifecycle!.instanceId);
}

const autoScaling = new AutoScalingClient({});
const ssm = new SSMClient({});
const cloudwatch = new CloudWatchClient({});
let wired: ReturnType<typeof createCompleteLifecycleHandler> | undefined;
export const handler = (event: CompleteLifecycleInput) =>
  (wired ??= createCompleteLifecycleHandler({
    lifecycle: new AutoScalingLifecycleActions(autoScaling),
    metrics: new CloudWatchMetrics(cloudwatch, requireEnv('METRIC_NAMESPACE')),
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
  }))(event);
