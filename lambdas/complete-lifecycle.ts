import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { AutoScalingLifecycleActions } from './adapters/auto-scaling';
import { CloudWatchMetrics } from './adapters/cloudwatch';
import { requireEnv } from './env';
import { MetricNames } from './metric-names';
import type { LifecycleActions, LifecycleCallOutcome, Metrics } from './ports';
import type { WorkflowRequest } from './request';

export interface CompleteLifecyclePorts {
  readonly lifecycle: LifecycleActions;
  readonly metrics: Metrics;
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
  return async ({ request, result }: CompleteLifecycleInput): Promise<CompleteLifecycleResult> => {
    if (result !== 'CONTINUE' && result !== 'ABANDON')
      throw new TypeError(`result must be CONTINUE or ABANDON (got ${String(result)})`);
    if (!request.lifecycle) return { result, outcome: 'none' };
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

const autoScaling = new AutoScalingClient({});
const cloudwatch = new CloudWatchClient({});
let wired: ReturnType<typeof createCompleteLifecycleHandler> | undefined;
export const handler = (event: CompleteLifecycleInput) =>
  (wired ??= createCompleteLifecycleHandler({
    lifecycle: new AutoScalingLifecycleActions(autoScaling),
    metrics: new CloudWatchMetrics(cloudwatch, requireEnv('METRIC_NAMESPACE')),
  }))(event);
