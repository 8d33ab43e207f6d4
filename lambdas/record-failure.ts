import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetrics } from './adapters/cloudwatch';
import { requireEnv } from './env';
import { MetricNames } from './metric-names';
import type { Metrics } from './ports';

/** State `RecordFailure` input: the caught error ({Error, Cause}) and $$.Execution.Id. */
export interface RecordFailureInput {
  readonly error?: { readonly Error?: string; readonly Cause?: string };
  readonly executionId: string;
}

/** Counts the failed migration (MigrationFailed) for the cluster's alarm, and logs why. */
export function createRecordFailureHandler(ports: { readonly metrics: Metrics; readonly cluster: string }) {
  return async (event: RecordFailureInput): Promise<{ recorded: true }> => {
    console.error(JSON.stringify({ message: 'migration failed', cluster: ports.cluster, ...event }));
    await ports.metrics.count(ports.cluster, MetricNames.migrationFailed);
    return { recorded: true };
  };
}

const cloudwatch = new CloudWatchClient({});
let wired: ReturnType<typeof createRecordFailureHandler> | undefined;
export const handler = (event: RecordFailureInput) =>
  (wired ??= createRecordFailureHandler({
    metrics: new CloudWatchMetrics(cloudwatch, requireEnv('METRIC_NAMESPACE')),
    cluster: requireEnv('CLUSTER_NAME'),
  }))(event);
