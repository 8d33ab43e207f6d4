import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ClusterAlarms, ClusterAlarmsProps } from '../../../cdk/alarms';
import { workflowMetrics } from '../../../cdk/workflow';
import { testApp } from './fixtures/synth';

function synth(props: Partial<ClusterAlarmsProps> = {}) {
  const stack = new Stack(testApp());
  const stateMachine = new sfn.StateMachine(stack, 'Workflow', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
  });
  const alarms = new ClusterAlarms(stack, 'Alarms', { clusterName: 'web', stateMachine, ...props });
  return { stack, alarms, template: Template.fromStack(stack) };
}

const topicRef = (template: Template) => ({ Ref: Object.keys(template.findResources('AWS::SNS::Topic'))[0] });

describe('ClusterAlarms', () => {
  const { template } = synth();

  test('given a workflow, when alarms are made, then failed and timed-out executions of that state machine alarm at the first one', () => {
    for (const metricName of ['ExecutionsFailed', 'ExecutionsTimedOut'])
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/States',
        MetricName: metricName,
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: Match.stringLikeRegexp('^Workflow') } }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef(template)],
      });
  });

  test('given a workflow publishing to another namespace, when alarms are made, then its metrics are read from there', () => {
    const t = synth({ workflow: workflowMetrics('web', 'Ops') }).template;
    for (const metricName of ['LifecycleActionGone', 'MigrationSeconds'])
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Ops',
        MetricName: metricName,
        Dimensions: [{ Name: 'Cluster', Value: 'web' }],
      });
  });

  test.each(['HealFailures', 'VbucketsLost'])(
    'given nodes that heal and data that may be declared lost, when alarms are made, then one %s datum of the cluster alarms',
    (metricName) => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Astaire',
        MetricName: metricName,
        Dimensions: [{ Name: 'Cluster', Value: 'web' }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [topicRef(template)],
      });
    },
  );

  test('given the default limit, when alarms are made, then an execution older than 30 minutes alarms, and its end is notified', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Astaire',
      MetricName: 'MigrationSeconds',
      Dimensions: [{ Name: 'Cluster', Value: 'web' }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(template)],
      OKActions: [topicRef(template)],
    });
  });

  test('given a 12-minute limit, when alarms are made, then the threshold is 720 seconds', () => {
    synth({ maxMigrationDuration: Duration.minutes(12) }).template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'MigrationSeconds', Threshold: 720 },
    );
  });

  test('given a limit CloudWatch cannot evaluate, when alarms are made, then construction fails naming the prop', () => {
    expect(() => synth({ maxMigrationDuration: Duration.seconds(0) })).toThrow(/maxMigrationDuration/);
    expect(() => synth({ maxMigrationDuration: Duration.days(2) })).toThrow(/maxMigrationDuration/);
  });

  test('given no topic, when alarms are made, then a new topic is encrypted with a rotating key CloudWatch may use and refuses plain HTTP', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('given an operator topic, when alarms are made, then every alarm notifies it and no topic is created', () => {
    const stack = new Stack(testApp());
    const topic = sns.Topic.fromTopicArn(stack, 'Ops', 'arn:aws:sns:eu-west-1:111122223333:ops');
    const stateMachine = new sfn.StateMachine(stack, 'Workflow', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
    });
    new ClusterAlarms(stack, 'Alarms', { clusterName: 'web', stateMachine, alarmTopic: topic });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::SNS::Topic', 0);
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(6);
    for (const alarm of alarms)
      expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:ops']);
  });

  test('given a lifecycle dead-letter queue, when alarms are made, then one waiting message alarms; without one there is no such alarm', () => {
    const stack = new Stack(testApp());
    const stateMachine = new sfn.StateMachine(stack, 'Workflow', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
    });
    const queue = new sqs.Queue(stack, 'Dlq');
    const alarms = new ClusterAlarms(stack, 'Alarms', {
      clusterName: 'web',
      stateMachine,
      lifecycleDeadLetters: queue,
    });
    const t = Template.fromStack(stack);
    const alarm = Object.values(t.findResources('AWS::CloudWatch::Alarm')).find((a) =>
      JSON.stringify(a.Properties.Metrics ?? []).includes('ApproximateNumberOfMessagesVisible'),
    )!;
    expect(alarm.Properties).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(t)],
    });
    expect(alarm.Properties.Metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Expression: 'FILL(queued, 0)' }),
        expect.objectContaining({
          Id: 'queued',
          MetricStat: expect.objectContaining({
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateNumberOfMessagesVisible',
              Dimensions: [
                { Name: 'QueueName', Value: { 'Fn::GetAtt': [expect.stringMatching(/^Dlq/), 'QueueName'] } },
              ],
            },
            Stat: 'Maximum',
          }),
        }),
      ]),
    );
    expect(alarms.alarms).toContain(alarms.undeliveredLifecycleEvents);
    expect(synth().alarms.undeliveredLifecycleEvents).toBeUndefined();
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(6);
  });
});

describe('ClusterAlarms: one alarm per failure', () => {
  const { template } = synth({ lifecycleDeadLetters: undefined });
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
    (a) => a.Properties as Record<string, unknown>,
  );
  const watching = (metricName: string) =>
    alarms.filter(
      (a) => a.MetricName === metricName || JSON.stringify(a.Metrics ?? []).includes(`"${metricName}"`),
    );

  test('given a failed migration, then only the failed-executions alarm fires: the workflow and agent failure counts it also produces alarm nowhere', () => {
    expect(watching('ExecutionsFailed')).toHaveLength(1);
    for (const sameCause of ['MigrationFailed', 'CleanupFailed', 'ResyncFailures'])
      expect({ sameCause, alarms: watching(sameCause).length }).toEqual({ sameCause, alarms: 0 });
    expect(watching('ExecutionsFailed')[0]!.AlarmDescription).toMatch(/CleanupFailed/);
  });

  test('given a lifecycle action that expired or was completed elsewhere, then one alarm fires', () => {
    expect(watching('LifecycleActionGone')).toEqual([
      expect.objectContaining({ Namespace: 'Astaire', Statistic: 'Sum', Threshold: 1 }),
    ]);
  });

  test('given a migration running longer than the limit, then the alarm measures the whole execution (lock wait and SendCommand retries included), not only the data move', () => {
    expect(watching('VbucketsPending')).toEqual([]);
    expect(watching('MigrationSeconds')).toEqual([
      expect.objectContaining({
        Namespace: 'Astaire',
        Statistic: 'Maximum',
        Threshold: 1800,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      }),
    ]);
  });

  test('given an alarm email, when alarms are made, then the topic subscribes it', () => {
    synth({ alarmEmail: 'ops@example.com' }).template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: Match.anyValue(),
    });
    expect(() => synth({ alarmEmail: 'not an address' })).toThrow(/alarmEmail/);
  });
});
