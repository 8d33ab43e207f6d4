/** Metric names the handlers publish (namespace METRIC_NAMESPACE, dimension `Cluster`). cdk/workflow.ts mirrors them. */
export const MetricNames = {
  migrationFailed: 'MigrationFailed',
  lifecycleActionGone: 'LifecycleActionGone',
  /** A node could not delete the vbuckets it lost in a committed migration. */
  cleanupFailed: 'CleanupFailed',
  /**
   * Seconds since the execution started, put at every keep-alive round while it waits for the lock or
   * moves data (Maximum it): the long-migration alarm.
   */
  migrationSeconds: 'MigrationSeconds',
} as const;
