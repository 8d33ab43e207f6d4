import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE, MetricDimension, MetricName } from '../core/metrics';
import { IWorkflowMetrics, WorkflowMetricNames, workflowMetrics } from './workflow';

/** Agents publish at least once a minute while they run; five-minute buckets never miss one. */
const LONG_MIGRATION_PERIOD = Duration.minutes(5);

export interface ClusterAlarmsProps {
  readonly clusterName: string;
  /** The cluster's workflow: its failed and timed-out executions alarm. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * The metrics the workflow's handlers publish (`MigrationFailed`): pass the `AstaireWorkflow`.
   * @default the workflow metrics of `clusterName` in the `Astaire` namespace
   */
  readonly workflow?: IWorkflowMetrics;
  /**
   * Where alarms go.
   * @default a new SNS topic, encrypted with a new customer-managed KMS key that CloudWatch may use
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * A migration still moving data after this long raises the long-migration alarm (Clearwater's
   * "too long clustering"). Rounded up to whole 5-minute periods; 5 minutes to 1 day.
   * @default Duration.minutes(30)
   */
  readonly maxMigrationDuration?: Duration;
  /**
   * The dead-letter queue of the lifecycle events' EventBridge target: any message in it raises the
   * undelivered-lifecycle-events alarm. @default no such alarm
   */
  readonly lifecycleDeadLetters?: sqs.IQueue;
}

/**
 * The alarms an operator of the cluster needs, all sent to one SNS topic: failed executions,
 * timed-out executions, migrations the workflow recorded as failed, cleanups after a commit that
 * failed, agent-reported resync failures, a migration that runs too long, and lifecycle events that never started the workflow.
 */
export class ClusterAlarms extends Construct {
  readonly topic: sns.ITopic;
  readonly failedExecutions: cloudwatch.Alarm;
  readonly timedOutExecutions: cloudwatch.Alarm;
  readonly migrationFailures: cloudwatch.Alarm;
  readonly cleanupFailures: cloudwatch.Alarm;
  readonly resyncFailures: cloudwatch.Alarm;
  /** A member's heal (refill after its memcached restarted) failed: it serves with missing items. */
  readonly healFailures: cloudwatch.Alarm;
  /** Data was declared lost: vbuckets no replica held any more. */
  readonly vbucketsLost: cloudwatch.Alarm;
  readonly longMigration: cloudwatch.Alarm;
  readonly undeliveredLifecycleEvents: cloudwatch.Alarm | undefined;

  constructor(scope: Construct, id: string, props: ClusterAlarmsProps) {
    super(scope, id);
    const limit = props.maxMigrationDuration ?? Duration.minutes(30);
    const periods = Math.ceil(limit.toSeconds() / LONG_MIGRATION_PERIOD.toSeconds());
    if (periods < 1 || periods * LONG_MIGRATION_PERIOD.toSeconds() > Duration.days(1).toSeconds())
      throw new Error(`maxMigrationDuration must be from 5 minutes to 1 day, got ${limit.toHumanString()}`);

    this.topic = props.alarmTopic ?? this.createTopic();
    const cluster = props.clusterName;
    const minute = Duration.minutes(1);
    /** An agent metric of this cluster, summed per minute. */
    const clusterSum = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        dimensionsMap: { [MetricDimension.Cluster]: cluster },
        period: minute,
        statistic: 'Sum',
      });
    /** An alarm on the first datum at or above 1 in a period; no data is not breaching. */
    const alarmAtFirst = (id: string, alarmDescription: string, metric: cloudwatch.IMetric) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });

    this.failedExecutions = alarmAtFirst(
      'FailedExecutions',
      `Astaire ${cluster}: a scaling workflow failed. See the execution's history: before the commit the topology was restored and a launch abandoned; a CleanupFailed error came after the commit, which stands.`,
      props.stateMachine.metricFailed({ period: minute, statistic: 'Sum' }),
    );
    this.timedOutExecutions = alarmAtFirst(
      'TimedOutExecutions',
      `Astaire ${cluster}: a scaling workflow hit its timeout; the lifecycle action and the cluster lock may need attention.`,
      props.stateMachine.metricTimedOut({ period: minute, statistic: 'Sum' }),
    );
    // Published by the workflow's RecordFailure step, on its way to the Fail state, per cluster.
    this.migrationFailures = alarmAtFirst(
      'MigrationFailures',
      `Astaire ${cluster}: the scaling workflow recorded a failed migration (${WorkflowMetricNames.migrationFailed}); the topology was restored (a launching instance abandoned). See the execution's history, then run a resync.`,
      (props.workflow ?? workflowMetrics(cluster)).metric(WorkflowMetricNames.migrationFailed, {
        period: minute,
        statistic: 'Sum',
      }),
    );
    // Published by the workflow's RecordCleanupFailure step: the migration committed, but a node could not
    // delete the vbuckets it lost, so it may serve them stale if a later migration hands them back.
    this.cleanupFailures = alarmAtFirst(
      'CleanupFailures',
      `Astaire ${cluster}: a node could not delete the vbuckets it lost after a committed migration (${WorkflowMetricNames.cleanupFailed}); the topology stands. See the execution's history and run astaire-agent cleanup on that node.`,
      (props.workflow ?? workflowMetrics(cluster)).metric(WorkflowMetricNames.cleanupFailed, {
        period: minute,
        statistic: 'Sum',
      }),
    );
    this.resyncFailures = alarmAtFirst(
      'ResyncFailures',
      `Astaire ${cluster}: a node reported that its resync failed (some vbuckets had no reachable source).`,
      clusterSum(MetricName.ResyncFailures),
    );
    this.healFailures = alarmAtFirst(
      'HealFailures',
      `Astaire ${cluster}: a node whose memcached restarted could not refill itself (a peer replica was unreachable); it keeps serving with missing items and retries every 30 s. See the node's astaire-heal journal.`,
      clusterSum(MetricName.HealFailures),
    );
    this.vbucketsLost = alarmAtFirst(
      'VbucketsLost',
      `Astaire ${cluster}: cached data was declared lost: every replica of some vbuckets restarted or left at once (${MetricName.VbucketsLost} counts them). Clients refill it on misses; check why several nodes restarted together.`,
      clusterSum(MetricName.VbucketsLost),
    );
    // Agents publish VbucketsPending only while they run, so "pending > 0 in every period of the
    // limit" means a migration has been moving data that long. A dead agent stops publishing: the
    // task's heartbeat timeout then fails the execution and FailedExecutions fires instead.
    this.longMigration = new cloudwatch.Alarm(this, 'LongMigration', {
      alarmDescription: `Astaire ${cluster}: a migration has been moving data for more than ${limit.toHumanString()}.`,
      metric: new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName: MetricName.VbucketsPending,
        dimensionsMap: { [MetricDimension.Cluster]: cluster },
        period: LONG_MIGRATION_PERIOD,
        statistic: 'Maximum',
      }),
      threshold: 0,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // A lifecycle event that never started the workflow: its instance waits in Pending:Wait or
    // Terminating:Wait until the hook's timeout applies the default result.
    this.undeliveredLifecycleEvents = props.lifecycleDeadLetters
      ? new cloudwatch.Alarm(this, 'UndeliveredLifecycleEvents', {
          alarmDescription: `Astaire ${cluster}: a lifecycle event could not start the scaling workflow; it waits in the dead-letter queue ${props.lifecycleDeadLetters.queueName}.`,
          metric: props.lifecycleDeadLetters.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(5),
            statistic: 'Maximum',
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        })
      : undefined;

    const action = new actions.SnsAction(this.topic);
    for (const alarm of this.alarms) alarm.addAlarmAction(action);
    this.longMigration.addOkAction(action);
  }

  get alarms(): cloudwatch.Alarm[] {
    return [
      this.failedExecutions,
      this.timedOutExecutions,
      this.migrationFailures,
      this.cleanupFailures,
      this.resyncFailures,
      this.healFailures,
      this.vbucketsLost,
      this.longMigration,
      ...(this.undeliveredLifecycleEvents ? [this.undeliveredLifecycleEvents] : []),
    ];
  }

  private createTopic(): sns.Topic {
    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the Astaire alarm topic',
      enableKeyRotation: true,
    });
    // CloudWatch must encrypt the messages it publishes to the topic; the AWS-managed SNS key would refuse it.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    return new sns.Topic(this, 'Topic', { masterKey: key, enforceSSL: true });
  }
}
