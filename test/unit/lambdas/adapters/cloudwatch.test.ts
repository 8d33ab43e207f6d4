import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchMetrics } from '../../../../lambdas/adapters/cloudwatch';

const cloudwatch = mockClient(CloudWatchClient);
beforeEach(() => cloudwatch.reset());

describe('CloudWatchMetrics', () => {
  test('given an execution age, when put, then it is one datum in seconds for the cluster in the namespace', async () => {
    cloudwatch.on(PutMetricDataCommand).resolves({});
    await new CloudWatchMetrics(new CloudWatchClient({}), 'Astaire').seconds('web', 'MigrationSeconds', 95);
    expect(cloudwatch.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input)).toEqual([
      {
        Namespace: 'Astaire',
        MetricData: [
          {
            MetricName: 'MigrationSeconds',
            Dimensions: [{ Name: 'Cluster', Value: 'web' }],
            Value: 95,
            Unit: 'Seconds',
          },
        ],
      },
    ]);
  });
});
