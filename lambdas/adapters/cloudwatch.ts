import { PutMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { Metrics } from '../ports';

type CloudWatchLike = Pick<CloudWatchClient, 'send'>;

export class CloudWatchMetrics implements Metrics {
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
}
