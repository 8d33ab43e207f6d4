/** Metric names the handlers publish (namespace METRIC_NAMESPACE, dimension `Cluster`). cdk/workflow.ts mirrors them. */
export const MetricNames = {
  migrationFailed: 'MigrationFailed',
  lifecycleActionGone: 'LifecycleActionGone',
} as const;
