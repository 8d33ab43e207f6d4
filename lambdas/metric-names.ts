/** Metric names the handlers publish (namespace METRIC_NAMESPACE, dimension `Cluster`). cdk/workflow.ts mirrors them. */
export const MetricNames = {
  migrationFailed: 'MigrationFailed',
  lifecycleActionGone: 'LifecycleActionGone',
  /** A node could not delete the vbuckets it lost in a committed migration. */
  cleanupFailed: 'CleanupFailed',
} as const;
