import {
  DescribeExecutionCommand,
  DescribeExecutionCommandOutput,
  ExecutionStatus,
  GetExecutionHistoryCommand,
  HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { parseArgs } from '../../../cli/args';
import { main } from '../../../cli/astaire';
import { createWaitSyncCommand } from '../../../cli/commands/wait-sync';

const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:astaire-web';
const exec = (name: string) => `arn:aws:states:eu-west-1:111122223333:execution:astaire-web:${name}`;

function described(
  arn: string,
  status: ExecutionStatus,
  extra: Partial<DescribeExecutionCommandOutput> = {},
) {
  return {
    executionArn: arn,
    stateMachineArn: MACHINE,
    status,
    startDate: new Date(0),
    $metadata: {},
    ...extra,
  };
}
const entered = (id: number, name: string): HistoryEvent => ({
  id,
  type: 'TaskStateEntered',
  timestamp: new Date(0),
  stateEnteredEventDetails: { name },
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** wait-sync with a fake clock: sleeping advances time instead of waiting. */
async function runWithClock(...argv: string[]) {
  let now = 0;
  const sleeps: number[] = [];
  const command = createWaitSyncCommand({
    sfn: () => new SFNClient({}),
    ssm: () => new SSMClient({}),
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    now: () => now,
  });
  const out: string[] = [];
  const err: string[] = [];
  const code = await command.run(parseArgs(argv, command.options), {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err, sleeps };
}

beforeEach(() => {
  sfn.reset();
  ssm.reset();
  ssm
    .on(GetParameterCommand, { Name: '/astaire/web/state-machine-arn' })
    .resolves({ Parameter: { Value: MACHINE } });
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
});

describe('astaire wait-sync', () => {
  test('given the latest execution succeeded and none runs, when wait-sync runs, then it exits 0', async () => {
    sfn.on(ListExecutionsCommand, { statusFilter: 'RUNNING' }).resolves({ executions: [] });
    sfn.on(ListExecutionsCommand, { maxResults: 1 }).resolves({
      executions: [
        {
          executionArn: exec('a'),
          stateMachineArn: MACHINE,
          name: 'a',
          status: 'SUCCEEDED',
          startDate: new Date(0),
        },
      ],
    });
    sfn.on(DescribeExecutionCommand).resolves(described(exec('a'), ExecutionStatus.SUCCEEDED));
    const { code, out } = await run('wait-sync', '--cluster', 'web');
    expect(code).toBe(0);
    expect(out).toEqual(['a: SUCCEEDED', 'cluster web is in sync']);
  });

  test.each([ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED])(
    'given the latest execution ended %s, when wait-sync runs, then it exits 1 and says why (unlike Clearwater)',
    async (status) => {
      sfn.on(ListExecutionsCommand, { statusFilter: 'RUNNING' }).resolves({ executions: [] });
      sfn.on(ListExecutionsCommand, { maxResults: 1 }).resolves({
        executions: [
          { executionArn: exec('a'), stateMachineArn: MACHINE, name: 'a', status, startDate: new Date(0) },
        ],
      });
      sfn
        .on(DescribeExecutionCommand)
        .resolves(described(exec('a'), status, { error: 'ResyncFailed', cause: 'vbucket 7 had no source' }));
      const { code, out, err } = await run('wait-sync', '--cluster', 'web');
      expect(code).toBe(1);
      expect(out).not.toContain('cluster web is in sync');
      expect(err.join('\n')).toContain(`a ${status}: ResyncFailed: vbucket 7 had no source`);
    },
  );

  test('given a running execution, when it later succeeds, then wait-sync polls, prints each new state once, and exits 0', async () => {
    sfn.on(ListExecutionsCommand, { statusFilter: 'RUNNING' }).resolves({
      executions: [
        {
          executionArn: exec('a'),
          stateMachineArn: MACHINE,
          name: 'a',
          status: 'RUNNING',
          startDate: new Date(0),
        },
      ],
    });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce(described(exec('a'), ExecutionStatus.RUNNING))
      .resolvesOnce(described(exec('a'), ExecutionStatus.RUNNING))
      .resolves(described(exec('a'), ExecutionStatus.SUCCEEDED));
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [entered(3, 'PlanMigration'), entered(2, 'TakeLock')] })
      .resolvesOnce({ events: [entered(5, 'ResyncNode'), entered(3, 'PlanMigration')] })
      .resolves({
        events: [
          {
            id: 9,
            type: 'MapIterationSucceeded',
            timestamp: new Date(0),
            mapIterationSucceededEventDetails: { index: 0 },
          },
          entered(5, 'ResyncNode'),
        ],
      });
    const { code, out, sleeps } = await runWithClock('--cluster', 'web', '--interval', '5');
    expect(code).toBe(0);
    expect(out).toEqual([
      'a: entered TakeLock',
      'a: entered PlanMigration',
      'a: RUNNING',
      'a: entered ResyncNode',
      'a: node resync 0 done',
      'a: SUCCEEDED',
      'cluster web is in sync',
    ]);
    expect(sleeps).toEqual([5000, 5000]);
  });

  test('given two running executions (one waiting for the lock), when one fails, then wait-sync waits for both and exits 1', async () => {
    sfn.on(ListExecutionsCommand, { statusFilter: 'RUNNING' }).resolves({
      executions: [
        {
          executionArn: exec('newer'),
          stateMachineArn: MACHINE,
          name: 'newer',
          status: 'RUNNING',
          startDate: new Date(1),
        },
        {
          executionArn: exec('older'),
          stateMachineArn: MACHINE,
          name: 'older',
          status: 'RUNNING',
          startDate: new Date(0),
        },
      ],
    });
    sfn
      .on(DescribeExecutionCommand, { executionArn: exec('older') })
      .resolves(described(exec('older'), ExecutionStatus.SUCCEEDED));
    sfn
      .on(DescribeExecutionCommand, { executionArn: exec('newer') })
      .resolvesOnce(described(exec('newer'), ExecutionStatus.RUNNING))
      .resolves(described(exec('newer'), ExecutionStatus.FAILED, { error: 'States.Timeout' }));
    const { code, out, err } = await runWithClock('--cluster', 'web');
    expect(code).toBe(1);
    expect(out).toEqual(['older: SUCCEEDED', 'newer: RUNNING', 'newer: FAILED']);
    expect(err).toEqual([
      'astaire wait-sync: newer FAILED: States.Timeout; see its history in the Step Functions console, then astaire resync --cluster web',
    ]);
  });

  test('given an execution that outlives --timeout, when wait-sync runs, then it gives up with exit 1 naming it', async () => {
    sfn.on(DescribeExecutionCommand).resolves(described(exec('a'), ExecutionStatus.RUNNING));
    const { code, err, sleeps } = await runWithClock(
      '--cluster',
      'web',
      '--execution',
      exec('a'),
      '--timeout',
      '25',
      '--interval',
      '10',
    );
    expect(code).toBe(1);
    expect(err).toEqual([
      `astaire wait-sync: still running after 25s: ${exec('a')}; wait longer (--timeout S)`,
    ]);
    expect(sleeps).toEqual([10000, 10000, 5000]);
    expect(sfn).not.toHaveReceivedCommand(ListExecutionsCommand);
  });

  test('given a cluster whose workflow never ran, when wait-sync runs, then it exits 1 rather than claiming success', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    const { code, out, err } = await run('wait-sync', '--cluster', 'web');
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/never run/);
  });

  test('given bad usage, when wait-sync runs, then it exits 2 without calling Step Functions', async () => {
    for (const argv of [
      ['wait-sync'],
      ['wait-sync', '--cluster', 'web', '--timeout', '0'],
      ['wait-sync', '--cluster', 'web', '--timeout', 'soon'],
      ['wait-sync', '--cluster', 'web', '--execution', 'i-123'],
      [
        'wait-sync',
        '--cluster',
        'web',
        '--execution',
        'arn:aws:states:eu-west-1:111122223333:execution:other-machine:x',
      ],
      ['wait-sync', '--cluster', 'web', '--bogus'],
    ])
      expect({ argv, code: (await run(...argv)).code }).toEqual({ argv, code: 2 });
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
    expect(sfn).not.toHaveReceivedCommand(ListExecutionsCommand);
  });
});
