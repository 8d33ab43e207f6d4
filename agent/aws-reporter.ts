import {
  CloudWatchClient,
  MetricDatum,
  PutMetricDataCommand,
  StandardUnit,
} from '@aws-sdk/client-cloudwatch';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { ResyncProgress, ResyncReport } from '../core';
import { METRIC_NAMESPACE, METRIC_UNITS, metricDimensions, MetricName } from '../core/metrics';
import { ResyncReporter } from './reporter';

export interface AwsReporterOptions {
  readonly sfn: SFNClient;
  readonly cloudWatch: CloudWatchClient;
  /** The Step Functions task token of the `.waitForTaskToken` SSM task; without it, metrics only. */
  readonly taskToken?: string;
  /** @default METRIC_NAMESPACE ('Astaire'): what the CDK alarms and dashboard read. */
  readonly namespace?: string;
  /**
   * `cleanup`: the task fails with `CleanupFailed` and no resync metric is put (a cleanup moves no data;
   * the workflow counts its failures). `push`: likewise, with `PushFailed` (its receivers count the data
   * it moved). @default 'resync'
   */
  readonly mode?: 'resync' | 'heal' | 'cleanup' | 'push';
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
    this.namespace = o.namespace ?? METRIC_NAMESPACE;
  }

  async progress(p: ResyncProgress): Promise<void> {
    const calls: Promise<unknown>[] = this.movesNoData() ? [] : [this.putMetrics(p, [])];
    if (this.o.taskToken)
      calls.push(this.o.sfn.send(new SendTaskHeartbeatCommand({ taskToken: this.o.taskToken })));
    await Promise.all(calls);
  }

  async finish(r: ResyncReport): Promise<void> {
    const failed = r.status === 'failed';
    const heal = r.mode === 'heal';
    // A cleanup moves no data: no resync metric (the workflow counts its failures, CleanupFailed).
    const calls: Promise<unknown>[] = this.movesNoData()
      ? []
      : [
          this.putMetrics(r, [
            datum(heal ? MetricName.HealFailures : MetricName.ResyncFailures, failed ? 1 : 0),
            datum(MetricName.ResyncSeconds, r.seconds),
            datum(MetricName.VbucketsLost, r.vbucketsLost?.length ?? 0),
          ]),
        ];
    if (this.o.taskToken) {
      const taskToken = this.o.taskToken;
      if (failed)
        calls.push(
          this.o.sfn.send(
            new SendTaskFailureCommand({
              taskToken,
              error:
                this.o.mode === 'cleanup'
                  ? 'CleanupFailed'
                  : this.o.mode === 'push'
                    ? 'PushFailed'
                    : heal
                      ? 'HealFailed'
                      : 'ResyncFailed',
              // Only the first vbuckets fit the 32 KB cause; the count says how many failed.
              cause: truncate(
                JSON.stringify({ ...r, failedVbuckets: r.failedVbuckets?.slice(0, 1000) }),
                CAUSE_MAX,
              ),
            }),
          ),
        );
      else calls.push(this.o.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(r) })));
    }
    await Promise.all(calls);
  }

  /** A cleanup deletes, a push's data is counted by its receivers: neither puts the resync metrics. */
  private movesNoData(): boolean {
    return this.o.mode === 'cleanup' || this.o.mode === 'push';
  }

  private async putMetrics(
    p: ResyncProgress | ResyncReport,
    extra: Omit<MetricDatum, 'Dimensions'>[],
  ): Promise<void> {
    // Names, units and dimensions are the contract in core/metrics.ts: the CDK alarms and dashboard read them.
    const base: Omit<MetricDatum, 'Dimensions'>[] = [
      datum(MetricName.ResyncItems, p.items),
      datum(MetricName.ResyncBytes, p.bytes),
      datum(MetricName.ResyncBytesPerSecond, p.bytesPerSec),
      datum(MetricName.VbucketsPending, p.vbuckets - p.vbucketsDone),
      datum(MetricName.VbucketsDone, p.vbucketsDone),
      ...extra,
    ];
    const dimensionSets = metricDimensions(p.cluster, p.node).map((set) =>
      Object.entries(set).map(([Name, Value]) => ({ Name, Value })),
    );
    const data = base.flatMap((d) => dimensionSets.map((Dimensions) => ({ ...d, Dimensions })));
    await this.o.cloudWatch.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData: data }));
  }
}

function datum(name: MetricName, value: number): Omit<MetricDatum, 'Dimensions'> {
  return { MetricName: name, Value: value, Unit: METRIC_UNITS[name] as StandardUnit };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}
