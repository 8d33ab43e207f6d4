import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE, MetricDimension, MetricName } from '../core/metrics';
import { IWorkflowMetrics, WorkflowMetricNames, workflowMetrics } from './workflow';

/** The keep-alive puts the execution's age every keepAliveInterval (30 s by default): one-minute buckets. */
const LONG_MIGRATION_PERIOD = Duration.minutes(1);

export interface ClusterAlarmsProps {
  readonly clusterName: string;
  /** The cluster's workflow: its failed and timed-out executions alarm. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * The metrics the workflow's handlers publish (`LifecycleActionGone`, `MigrationSeconds`): pass the
   * `AstaireWorkflow`.
   * @default the workflow metrics of `clusterName` in the `Astaire` namespace
   */
  readonly workflow?: IWorkflowMetrics;
  /**
   * Where alarms go.
   * @default a new SNS topic, encrypted with a new customer-managed KMS key that CloudWatch may use
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * An address the alarm topic sends every alarm to (SNS asks it to confirm the subscription first).
   * @default no subscription: subscribe to `topic` yourself
   */
  readonly alarmEmail?: string;
  /**
   * An execution still running after this long, waiting for the lock or moving data, raises the
   * long-migration alarm (Clearwater's "too long clustering"). 1 minute to 1 day.
   * @default Duration.minutes(30)
   */
  readonly maxMigrationDuration?: Duration;
  /**
   * The dead-letter queue of the lifecycle events' EventBridge target: any message in it raises the
   * undelivered-lifecycle-events alarm. @default no such alarm
   */
  readonly lifecycleDeadLetters?: sqs.IQueue;
  /**
   * The EventBridge rule that starts the workflow: its failed invocations raise the same
   * undelivered-lifecycle-events alarm as the dead letters they become. @default not watched
   */
  readonly lifecycleRule?: events.IRule;
}

/**
 * The alarms an operator of the cluster needs, all sent to one SNS topic, one alarm per cause: a failed
 * execution (a failed migration, rolled back, or a failed cleanup after a commit: the execution's error
 * says which), a timed-out execution, a failed heal, data declared lost, an execution that runs too long,
 * a lifecycle action the workflow found gone, and lifecycle events that never started the workflow.
 * The workflow's MigrationFailed and CleanupFailed counts and the agents' ResyncFailures describe the same
 * failed executions: they are on the dashboard, not alarmed a second time. docs/aws.md is the runbook.
 */
export class ClusterAlarms extends Construct {
  readonly topic: sns.ITopic;
  readonly failedExecutions: cloudwatch.Alarm;
  readonly timedOutExecutions: cloudwatch.Alarm;
  /** A member's heal (refill after its memcached restarted) failed: it serves with missing items. */
  readonly healFailures: cloudwatch.Alarm;
  /** Data was declared lost: vbuckets no replica held any more. */
  readonly vbucketsLost: cloudwatch.Alarm;
  readonly longMigration: cloudwatch.Alarm;
  /** A lifecycle action had expired or was completed by someone else when the workflow came to it. */
  readonly lifecycleActionsGone: cloudwatch.Alarm;
  readonly undeliveredLifecycleEvents: cloudwatch.Alarm | undefined;

  constructor(scope: Construct, id: string, props: ClusterAlarmsProps) {
    super(scope, id);
    const limit = props.maxMigrationDuration ?? Duration.minutes(30);
    if (limit.toSeconds() < 60 || limit.toSeconds() > Duration.days(1).toSeconds())
      throw new Error(`maxMigrationDuration must be from 1 minute to 1 day, got ${limit.toHumanString()}`);
    if (props.alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(props.alarmEmail))
      throw new Error(`alarmEmail must be an email address, got ${JSON.stringify(props.alarmEmail)}`);

    this.topic = props.alarmTopic ?? this.createTopic();
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const cluster = props.clusterName;
    const workflow = props.workflow ?? workflowMetrics(cluster);
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
      `Astaire ${cluster}: a scaling workflow failed. Its error says which: CleanupFailed came after the commit, which stands (run astaire-agent cleanup on the node); any other error came before it: the topology was restored and a launch abandoned (see the execution's history, then run a resync). docs/aws.md has the runbook.`,
      props.stateMachine.metricFailed({ period: minute, statistic: 'Sum' }),
    );
    this.timedOutExecutions = alarmAtFirst(
      'TimedOutExecutions',
      `Astaire ${cluster}: a scaling workflow hit its timeout; the lifecycle action and the cluster lock may need attention.`,
      props.stateMachine.metricTimedOut({ period: minute, statistic: 'Sum' }),
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
    this.lifecycleActionsGone = alarmAtFirst(
      'LifecycleActionsGone',
      `Astaire ${cluster}: the workflow came to complete a lifecycle action that had already expired or been completed (${WorkflowMetricNames.lifecycleActionGone}): Auto Scaling applied the hook's default result (a launch abandoned, a termination continued). Check hookHeartbeatTimeout and the keep-alive; a resync brings the topology back to the group.`,
      workflow.metric(WorkflowMetricNames.lifecycleActionGone, { period: minute, statistic: 'Sum' }),
    );
    // The keep-alive puts the execution's age while it waits for the lock or moves data: the whole
    // execution up to the commit, the lock wait and SendCommand's retries included. An execution that
    // ends stops putting it, so the alarm returns to OK on its own.
    this.longMigration = new cloudwatch.Alarm(this, 'LongMigration', {
      alarmDescription: `Astaire ${cluster}: a scaling workflow has been waiting for the lock or moving data for more than ${limit.toHumanString()}.`,
      metric: workflow.metric(WorkflowMetricNames.migrationSeconds, {
        period: LONG_MIGRATION_PERIOD,
        statistic: 'Maximum',
      }),
      threshold: limit.toSeconds(),
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // A lifecycle event that never started the workflow: its instance waits in Pending:Wait or
    // Terminating:Wait until the hook's timeout applies the default result. EventBridge counts the
    // invocation as failed and puts the event in the dead-letter queue: one cause, one alarm on both.
    const undelivered: Record<string, cloudwatch.IMetric> = {};
    if (props.lifecycleDeadLetters)
      undelivered.queued = props.lifecycleDeadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      });
    if (props.lifecycleRule)
      undelivered.failed = new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: props.lifecycleRule.ruleName },
        period: Duration.minutes(5),
        statistic: 'Sum',
      });
    const names = Object.keys(undelivered);
    this.undeliveredLifecycleEvents = names.length
      ? new cloudwatch.Alarm(this, 'UndeliveredLifecycleEvents', {
          alarmDescription: `Astaire ${cluster}: a lifecycle event could not start the scaling workflow${props.lifecycleDeadLetters ? `; it waits in the dead-letter queue ${props.lifecycleDeadLetters.queueName}` : ''}. See docs/aws.md to re-drive it.`,
          metric: new cloudwatch.MathExpression({
            expression: names.map((n) => `FILL(${n}, 0)`).join(' + '),
            usingMetrics: undelivered,
            period: Duration.minutes(5),
            label: 'undelivered lifecycle events',
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
      this.healFailures,
      this.vbucketsLost,
      this.longMigration,
      this.lifecycleActionsGone,
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
