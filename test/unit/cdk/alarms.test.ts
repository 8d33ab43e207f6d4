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

  test('given the workflow, when alarms are made, then one MigrationFailed datum it records for the cluster alarms', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Astaire',
      MetricName: 'MigrationFailed',
      Dimensions: [{ Name: 'Cluster', Value: 'web' }],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(template)],
    });
  });

  test('given the workflow, when alarms are made, then one CleanupFailed datum it records for the cluster alarms', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Astaire',
      MetricName: 'CleanupFailed',
      Dimensions: [{ Name: 'Cluster', Value: 'web' }],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [topicRef(template)],
      AlarmDescription: Match.stringLikeRegexp('the topology stands'),
    });
  });

  test('given a workflow publishing to another namespace, when alarms are made, then MigrationFailed is read from there', () => {
    synth({ workflow: workflowMetrics('web', 'Ops') }).template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      { Namespace: 'Ops', MetricName: 'MigrationFailed', Dimensions: [{ Name: 'Cluster', Value: 'web' }] },
    );
  });

  test('given agents that report failures, when alarms are made, then one ResyncFailures datum of the cluster alarms', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Astaire',
      MetricName: 'ResyncFailures',
      Dimensions: [{ Name: 'Cluster', Value: 'web' }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [topicRef(template)],
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

  test('given the default limit, when alarms are made, then vbuckets pending through six 5-minute periods (30 minutes) alarm, and its end is notified', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Astaire',
      MetricName: 'VbucketsPending',
      Dimensions: [{ Name: 'Cluster', Value: 'web' }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 6,
      DatapointsToAlarm: 6,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(template)],
      OKActions: [topicRef(template)],
    });
  });

  test('given a 12-minute limit, when alarms are made, then it is rounded up to three 5-minute periods', () => {
    synth({ maxMigrationDuration: Duration.minutes(12) }).template.hasResourceProperties(
      'AWS::CloudWatch::Alarm',
      {
        MetricName: 'VbucketsPending',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
      },
    );
  });

  test('given a limit CloudWatch cannot evaluate, when alarms are made, then construction fails naming the prop', () => {
    expect(() => synth({ maxMigrationDuration: Duration.seconds(0) })).toThrow(/maxMigrationDuration/);
    expect(() => synth({ maxMigrationDuration: Duration.days(2) })).toThrow(/maxMigrationDuration/);
  });

  test('given no topic, when alarms are made, then a new topic is encrypted with a rotating key CloudWatch may use and refuses plain HTTP', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
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
    expect(alarms).toHaveLength(8);
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
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Dlq'), 'QueueName'] } },
      ],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef(t)],
    });
    expect(alarms.alarms).toContain(alarms.undeliveredLifecycleEvents);
    expect(synth().alarms.undeliveredLifecycleEvents).toBeUndefined();
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(8);
  });
});
