import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE, MetricDimension, MetricName } from '../core/metrics';
import { IWorkflowMetrics, WorkflowMetricNames, workflowMetrics } from './workflow';

export interface ClusterDashboardProps {
  readonly clusterName: string;
  readonly stateMachine: sfn.IStateMachine;
  /**
   * The metrics the workflow's handlers publish: pass the `AstaireWorkflow`.
   * @default the workflow metrics of `clusterName` in the `Astaire` namespace
   */
  readonly workflow?: IWorkflowMetrics;
  /** Shown as an alarm status row at the top. @default no alarm row */
  readonly alarms?: cloudwatch.IAlarm[];
  /**
   * Graph period.
   * @default Duration.minutes(1)
   */
  readonly period?: Duration;
}

/**
 * The agents' resync progress for one cluster: per-cluster totals next to a per-node
 * breakdown (a SEARCH over the `Cluster, Node` dimension set, so new nodes appear unaided),
 * and the workflow's executions and the failures and lost lifecycle actions it records.
 */
export class ClusterDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ClusterDashboardProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(1);
    const cluster = props.clusterName;
    const total = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { [MetricDimension.Cluster]: cluster },
        statistic,
        period,
        label,
      });
    const perNode = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},${MetricDimension.Cluster},${MetricDimension.Node}} MetricName="${metricName}" ${MetricDimension.Cluster}="${cluster}"', '${statistic}', ${period.toSeconds()})`,
        label,
        period,
        usingMetrics: {},
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', {
      dashboardName: `Astaire-${cluster}`,
      defaultInterval: Duration.hours(3),
    });
    if (props.alarms?.length)
      this.dashboard.addWidgets(
        new cloudwatch.AlarmStatusWidget({ title: `${cluster}: alarms`, alarms: props.alarms, width: 24 }),
      );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'vbuckets pending / done (cluster)',
        left: [
          total(MetricName.VbucketsPending, 'Maximum', 'pending'),
          total(MetricName.VbucketsDone, 'Maximum', 'done'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'vbuckets pending by node',
        left: [perNode(MetricName.VbucketsPending, 'Maximum', '')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Bytes and items copied by the running resyncs',
        left: [perNode(MetricName.ResyncBytes, 'Maximum', '')],
        right: [perNode(MetricName.ResyncItems, 'Maximum', '')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Copy rate by node (bytes/s)',
        left: [perNode(MetricName.ResyncBytesPerSecond, 'Average', '')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Resync and heal failures reported by agents, vbuckets declared lost',
        left: [
          total(MetricName.ResyncFailures, 'Sum', 'resync failures'),
          perNode(MetricName.ResyncFailures, 'Sum', ''),
          total(MetricName.HealFailures, 'Sum', 'heal failures'),
          total(MetricName.VbucketsLost, 'Sum', 'vbuckets lost'),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Scaling workflow executions',
        left: [
          props.stateMachine.metricStarted({ period, statistic: 'Sum', label: 'started' }),
          props.stateMachine.metricSucceeded({ period, statistic: 'Sum', label: 'succeeded' }),
          props.stateMachine.metricFailed({ period, statistic: 'Sum', label: 'failed' }),
          props.stateMachine.metricTimedOut({ period, statistic: 'Sum', label: 'timed out' }),
          props.stateMachine.metricAborted({ period, statistic: 'Sum', label: 'aborted' }),
        ],
        width: 12,
      }),
    );
    const workflow = props.workflow ?? workflowMetrics(cluster);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Resync duration by node (seconds)',
        left: [perNode(MetricName.ResyncSeconds, 'Maximum', '')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failed migrations and lifecycle actions gone (workflow)',
        left: [
          workflow.metric(WorkflowMetricNames.migrationFailed, { period, label: 'migrations failed' }),
          workflow.metric(WorkflowMetricNames.lifecycleActionGone, {
            period,
            label: 'lifecycle actions already completed or expired',
          }),
        ],
        width: 12,
      }),
    );
  }
}
