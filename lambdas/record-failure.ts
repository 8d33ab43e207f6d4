import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetrics } from './adapters/cloudwatch';
import { requireEnv } from './env';
import { MetricNames } from './metric-names';
import type { Metrics } from './ports';

/**
 * States `RecordFailure`, `RecordCleanupFailure` and `RecordRollbackCleanupFailure` input: the caught
 * error ({Error, Cause}), $$.Execution.Id, and what failed: the migration (default), the cleanup after
 * its commit, or the cleanup after its rollback.
 */
export interface RecordFailureInput {
  readonly error?: { readonly Error?: string; readonly Cause?: string };
  readonly executionId: string;
  readonly failed?: 'migration' | 'cleanup' | 'rollback-cleanup';
}

/**
 * Counts the failure for the cluster's alarm (MigrationFailed, or CleanupFailed: the topology is
 * committed or restored, but a node may keep copies of vbuckets it does not hold), and logs why.
 */
export function createRecordFailureHandler(ports: { readonly metrics: Metrics; readonly cluster: string }) {
  return async (event: RecordFailureInput): Promise<{ recorded: true }> => {
    const cleanup = event.failed === 'cleanup' || event.failed === 'rollback-cleanup';
    console.error(
      JSON.stringify({
        message:
          event.failed === 'rollback-cleanup'
            ? 'cleanup after rollback failed'
            : cleanup
              ? 'cleanup after commit failed'
              : 'migration failed',
        cluster: ports.cluster,
        ...event,
      }),
    );
    await ports.metrics.count(
      ports.cluster,
      cleanup ? MetricNames.cleanupFailed : MetricNames.migrationFailed,
    );
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
