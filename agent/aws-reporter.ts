import { CloudWatchClient, MetricDatum, PutMetricDataCommand, StandardUnit } from '@aws-sdk/client-cloudwatch';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ResyncProgress, ResyncReport } from '../core';
import { ResyncReporter } from './reporter';

export interface AwsReporterOptions {
  readonly sfn: SFNClient;
  readonly cloudWatch: CloudWatchClient;
  /** The Step Functions task token of the `.waitForTaskToken` SSM task; without it, metrics only. */
  readonly taskToken?: string;
  /** @default 'Astaire' */
  readonly namespace?: string;
}

/** SendTaskFailure limit on the cause, in characters. */
const CAUSE_MAX = 32768;

/**
 * AWS: Step Functions heartbeats while running and success/failure at the end
 * (the workflow's Catch matches the error name `ResyncFailed`), plus CloudWatch
 * metrics per cluster and per node for the dashboard and alarms.
 */
export class AwsReporter implements ResyncReporter {
  private readonly namespace: string;

  constructor(private readonly o: AwsReporterOptions) {
    this.namespace = o.namespace ?? 'Astaire';
  }

  async progress(p: ResyncProgress): Promise<void> {
    const calls: Promise<unknown>[] = [this.putMetrics(p, [])];
    if (this.o.taskToken) calls.push(this.o.sfn.send(new SendTaskHeartbeatCommand({ taskToken: this.o.taskToken })));
    await Promise.all(calls);
  }

  async finish(r: ResyncReport): Promise<void> {
    const failed = r.status === 'failed';
    const calls: Promise<unknown>[] = [
      this.putMetrics(r, [
        { MetricName: 'ResyncFailures', Value: failed ? 1 : 0, Unit: StandardUnit.Count },
        { MetricName: 'ResyncSeconds', Value: r.seconds, Unit: StandardUnit.Seconds },
      ]),
    ];
    if (this.o.taskToken) {
      const taskToken = this.o.taskToken;
      if (failed)
        calls.push(
          this.o.sfn.send(
            new SendTaskFailureCommand({
              taskToken,
              error: 'ResyncFailed',
              // Only the first vbuckets fit the 32 KB cause; the count says how many failed.
              cause: truncate(JSON.stringify({ ...r, failedVbuckets: r.failedVbuckets?.slice(0, 1000) }), CAUSE_MAX),
            }),
          ),
        );
      else calls.push(this.o.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(r) })));
    }
    await Promise.all(calls);
  }

  private async putMetrics(p: ResyncProgress | ResyncReport, extra: Omit<MetricDatum, 'Dimensions'>[]): Promise<void> {
    const base: Omit<MetricDatum, 'Dimensions'>[] = [
      { MetricName: 'ResyncItems', Value: p.items, Unit: StandardUnit.Count },
      { MetricName: 'ResyncBytes', Value: p.bytes, Unit: StandardUnit.Bytes },
      { MetricName: 'ResyncBytesPerSecond', Value: p.bytesPerSec, Unit: StandardUnit.Bytes_Second },
      { MetricName: 'ResyncVbucketsRemaining', Value: p.vbuckets - p.vbucketsDone, Unit: StandardUnit.Count },
      ...extra,
    ];
    const perCluster = [{ Name: 'Cluster', Value: p.cluster }];
    const perNode = [...perCluster, { Name: 'Node', Value: p.node }];
    const data = base.flatMap((d) => [
      { ...d, Dimensions: perCluster },
      { ...d, Dimensions: perNode },
    ]);
    await this.o.cloudWatch.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData: data }));
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}
