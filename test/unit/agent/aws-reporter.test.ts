import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsReporter } from '../../../agent/aws-reporter';
import { ResyncProgress, ResyncReport } from '../../../core';
import { METRIC_NAMESPACE, METRIC_UNITS, MetricName } from '../../../core/metrics';

const sfn = mockClient(SFNClient);
const cw = mockClient(CloudWatchClient);
const progress: ResyncProgress = {
  type: 'progress',
  cluster: 'c1',
  node: 'i-1',
  vbuckets: 10,
  vbucketsDone: 4,
  items: 100,
  bytes: 2048,
  seconds: 2,
  bytesPerSec: 1024,
};
const base = { ...progress, type: 'result' as const, epoch: 3 };

function reporter(taskToken?: string) {
  return new AwsReporter({ sfn: new SFNClient({}), cloudWatch: new CloudWatchClient({}), taskToken });
}

describe('AwsReporter', () => {
  beforeEach(() => {
    sfn.reset();
    cw.reset();
  });

  it('given a task token, when progress is reported, then it heartbeats and puts metrics per cluster and per node', async () => {
    await reporter('tok').progress(progress);
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)[0].args[0].input).toEqual({ taskToken: 'tok' });
    const data = cw.commandCalls(PutMetricDataCommand)[0].args[0].input.MetricData ?? [];
    const items = data.filter((d) => d.MetricName === 'ResyncItems');
    expect(items.map((d) => d.Dimensions)).toEqual([
      [{ Name: 'Cluster', Value: 'c1' }],
      [
        { Name: 'Cluster', Value: 'c1' },
        { Name: 'Node', Value: 'i-1' },
      ],
    ]);
    expect(data.find((d) => d.MetricName === 'VbucketsPending')?.Value).toBe(6);
    expect(data.find((d) => d.MetricName === 'VbucketsDone')?.Value).toBe(4);
  });

  it('given cleanup mode, when it heartbeats and fails, then the task fails with CleanupFailed and no resync metric is put', async () => {
    const r = new AwsReporter({
      sfn: new SFNClient({}),
      cloudWatch: new CloudWatchClient({}),
      taskToken: 'tok',
      mode: 'cleanup',
    });
    await r.progress(progress);
    await r.finish({ ...base, status: 'failed', error: 'LocalMemcachedError: down' });
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)).toHaveLength(1);
    expect(sfn.commandCalls(SendTaskFailureCommand)[0].args[0].input).toMatchObject({
      taskToken: 'tok',
      error: 'CleanupFailed',
      cause: expect.stringContaining('LocalMemcachedError: down'),
    });
    expect(cw.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });

  it('given push mode, when it fails, then the task fails with PushFailed and no resync metric is put (its receivers count the data)', async () => {
    const r = new AwsReporter({
      sfn: new SFNClient({}),
      cloudWatch: new CloudWatchClient({}),
      taskToken: 'tok',
      mode: 'push',
    });
    await r.progress(progress);
    await r.finish({ ...base, status: 'failed', error: 'SourceIncompleteError: restarted' });
    expect(sfn.commandCalls(SendTaskFailureCommand)[0].args[0].input).toMatchObject({
      taskToken: 'tok',
      error: 'PushFailed',
    });
    expect(cw.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });

  it('when metrics are put, then every name, unit, namespace and dimension is the core/metrics contract the alarms read', async () => {
    await reporter('tok').finish({ ...base, status: 'succeeded' });
    const input = cw.commandCalls(PutMetricDataCommand)[0].args[0].input;
    expect(input.Namespace).toBe(METRIC_NAMESPACE);
    const data = input.MetricData ?? [];
    const names = new Set(data.map((d) => d.MetricName));
    // Every published name is a known one, and the end of a resync publishes all of them but the heal's.
    expect([...names].sort()).toEqual(
      Object.values(MetricName)
        .filter((n) => n !== MetricName.HealFailures)
        .sort(),
    );
    for (const d of data) {
      expect(d.Unit).toBe(METRIC_UNITS[d.MetricName as MetricName]);
      expect(d.Dimensions?.map((x) => x.Name)).toEqual(
        d.Dimensions?.length === 1 ? ['Cluster'] : ['Cluster', 'Node'],
      );
    }
    // Each datum goes out per cluster and per node.
    expect(data).toHaveLength(2 * names.size);
    expect(data.find((d) => d.MetricName === 'ResyncSeconds')?.Value).toBe(2);
    expect(data.find((d) => d.MetricName === 'ResyncFailures')?.Value).toBe(0);
  });

  it('given a successful report, when finished, then SendTaskSuccess carries the report as output', async () => {
    const report: ResyncReport = { ...base, status: 'succeeded' };
    await reporter('tok').finish(report);
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output ?? '')).toEqual(
      report,
    );
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
  });

  it('given a failed report, when finished, then SendTaskFailure names ResyncFailed with the vbuckets in the cause', async () => {
    await reporter('tok').finish({
      ...base,
      status: 'failed',
      failedVbuckets: [7, 9],
      error: 'VbucketsUnavailableError: x',
    });
    const input = sfn.commandCalls(SendTaskFailureCommand)[0].args[0].input;
    expect(input.error).toBe('ResyncFailed');
    expect(JSON.parse(input.cause ?? '').failedVbuckets).toEqual([7, 9]);
    const data = cw.commandCalls(PutMetricDataCommand)[0].args[0].input.MetricData ?? [];
    expect(data.find((d) => d.MetricName === 'ResyncFailures')?.Value).toBe(1);
  });

  it('given a heal that failed and declared vbuckets lost, when finished, then HealFailures and VbucketsLost carry it, not ResyncFailures', async () => {
    await reporter().finish({
      ...base,
      status: 'failed',
      mode: 'heal',
      vbucketsLost: [1, 2, 3],
      error: 'VbucketsUnavailableError: x',
    });
    const data = cw.commandCalls(PutMetricDataCommand)[0].args[0].input.MetricData ?? [];
    expect(data.find((d) => d.MetricName === 'HealFailures')?.Value).toBe(1);
    expect(data.find((d) => d.MetricName === 'VbucketsLost')?.Value).toBe(3);
    expect(data.find((d) => d.MetricName === 'ResyncFailures')).toBeUndefined();
  });

  it('given no task token, when progress is reported, then only metrics are sent', async () => {
    await reporter().progress(progress);
    expect(sfn.calls()).toHaveLength(0);
    expect(cw.commandCalls(PutMetricDataCommand)).toHaveLength(1);
  });
});
