import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ClusterDashboard } from '../../../cdk/dashboard';
import { MetricName } from '../../../core/metrics';
import { testApp } from './fixtures/synth';

/** The dashboard body with its tokens (state machine ARN) left as `<token>`. */
function body(): string {
  const stack = new Stack(testApp());
  const stateMachine = new sfn.StateMachine(stack, 'Workflow', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
  });
  new ClusterDashboard(stack, 'Dashboard', { clusterName: 'web', stateMachine });
  const [dashboard] = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'));
  const parts = dashboard.Properties.DashboardBody['Fn::Join'][1] as unknown[];
  return parts.map((p) => (typeof p === 'string' ? p : '<token>')).join('');
}

describe('ClusterDashboard', () => {
  const text = body();
  const widgets = (
    JSON.parse(text) as { widgets: Array<{ properties: { title: string; metrics: unknown[][] } }> }
  ).widgets;

  test('given agent progress metrics, when the dashboard is built, then each is graphed for the cluster', () => {
    for (const name of Object.values(MetricName))
      expect({ name, graphed: new RegExp(`\\\\?"${name}\\\\?"`).test(text) }).toEqual({
        name,
        graphed: true,
      });
    expect(text).toContain('"Astaire","VbucketsPending","Cluster","web"');
  });

  test('given nodes that come and go, when the dashboard is built, then per-node graphs search the Cluster,Node dimension set of this cluster', () => {
    expect(text).toContain(
      `SEARCH('{Astaire,Cluster,Node} MetricName=\\"VbucketsPending\\" Cluster=\\"web\\"', 'Maximum', 60)`,
    );
    expect(text).toContain(`MetricName=\\"ResyncBytesPerSecond\\" Cluster=\\"web\\"', 'Average', 60)`);
  });

  test('given the workflow metrics, when the dashboard is built, then failed migrations and lifecycle actions gone are graphed for the cluster', () => {
    const workflow = widgets.find((w) => w.properties.title.includes('lifecycle actions gone'))!;
    expect(workflow.properties.metrics).toEqual([
      ['Astaire', 'MigrationFailed', 'Cluster', 'web', expect.objectContaining({ stat: 'Sum' })],
      ['Astaire', 'LifecycleActionGone', 'Cluster', 'web', expect.objectContaining({ stat: 'Sum' })],
    ]);
  });

  test('given the workflow, when the dashboard is built, then its failed and timed-out executions are graphed', () => {
    const executions = widgets.find((w) => w.properties.title === 'Scaling workflow executions')!;
    const names = executions.properties.metrics.map((m) => m[1]);
    expect(names).toEqual([
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionsTimedOut',
      'ExecutionsAborted',
    ]);
  });
});
