import { PutMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { Gauges, Metrics } from '../ports';

type CloudWatchLike = Pick<CloudWatchClient, 'send'>;

export class CloudWatchMetrics implements Metrics, Gauges {
  constructor(
    private readonly cloudwatch: CloudWatchLike,
    private readonly namespace: string,
  ) {}

  async count(cluster: string, name: string): Promise<void> {
    await this.cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: this.namespace,
        MetricData: [
          { MetricName: name, Dimensions: [{ Name: 'Cluster', Value: cluster }], Value: 1, Unit: 'Count' },
        ],
      }),
    );
  }

  async seconds(cluster: string, name: string, value: number): Promise<void> {
    await this.cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: this.namespace,
        MetricData: [
          {
            MetricName: name,
            Dimensions: [{ Name: 'Cluster', Value: cluster }],
            Value: value,
            Unit: 'Seconds',
          },
        ],
      }),
    );
  }
}
