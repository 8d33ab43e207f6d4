/**
 * The CloudWatch metrics agents and the workflow publish and the alarms and dashboard read.
 * A contract between `agent/`, `lambdas/` and `cdk/`: changing a name silently blinds an alarm.
 */

/** Custom namespace of every Astaire metric (never `AWS/...`, which CloudWatch reserves). */
export const METRIC_NAMESPACE = 'Astaire';

export const MetricName = {
  /** At the end of each node's resync: 1 when it failed, 0 when it succeeded (Sum it). */
  ResyncFailures: 'ResyncFailures',
  /** Bytes copied so far by the running resync (a running total; Maximum it). */
  ResyncBytes: 'ResyncBytes',
  /** Items copied so far by the running resync (a running total; Maximum it). */
  ResyncItems: 'ResyncItems',
  /**
   * vbuckets this node still has to pull (Maximum it). Published at least once a minute while a
   * resync runs and not at all otherwise: the long-migration alarm relies on both.
   */
  VbucketsPending: 'VbucketsPending',
  /** vbuckets this node has pulled in the running resync (Maximum it). */
  VbucketsDone: 'VbucketsDone',
  /** Copy rate over the last interval (Average it). */
  ResyncBytesPerSecond: 'ResyncBytesPerSecond',
  /** At the end of each node's resync: how long it took. */
  ResyncSeconds: 'ResyncSeconds',
  /** At the end of each heal that had work to do: 1 when it failed, 0 when it succeeded (Sum it). */
  HealFailures: 'HealFailures',
  /**
   * vbuckets declared lost (no replica holds their data any more), by a resync, a heal or a commit
   * (Sum it). Published with every result, 0 included, so an alarm on it has data.
   */
  VbucketsLost: 'VbucketsLost',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/** The unit each metric is published with (CloudWatch `StandardUnit` names). */
export const METRIC_UNITS: Readonly<Record<MetricName, 'Count' | 'Bytes' | 'Bytes/Second' | 'Seconds'>> = {
  ResyncFailures: 'Count',
  ResyncBytes: 'Bytes',
  ResyncItems: 'Count',
  VbucketsPending: 'Count',
  VbucketsDone: 'Count',
  ResyncBytesPerSecond: 'Bytes/Second',
  ResyncSeconds: 'Seconds',
  HealFailures: 'Count',
  VbucketsLost: 'Count',
};

export const MetricDimension = {
  Cluster: 'Cluster',
  /** The node id (EC2 instance id on AWS). */
  Node: 'Node',
} as const;

/**
 * The dimension sets to publish every datum under. CloudWatch does not aggregate across
 * dimensions, so each datum goes out twice: per cluster (what alarms watch) and per node
 * (what the dashboard breaks down).
 */
export function metricDimensions(cluster: string, node: string): Array<Record<string, string>> {
  return [
    { [MetricDimension.Cluster]: cluster },
    { [MetricDimension.Cluster]: cluster, [MetricDimension.Node]: node },
  ];
}
