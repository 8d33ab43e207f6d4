import { ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { main } from '../../../cli/astaire';

const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const MACHINE = 'arn:aws:states:eu-west-1:111122223333:stateMachine:astaire-web';
const EXECUTION = 'arn:aws:states:eu-west-1:111122223333:execution:astaire-web:5f0c';

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

beforeEach(() => {
  sfn.reset();
  ssm.reset();
  ssm
    .on(GetParameterCommand, { Name: '/astaire/web/state-machine-arn' })
    .resolves({ Parameter: { Value: MACHINE } });
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
});

describe('astaire resync', () => {
  test('given a deployed cluster, when resync runs, then it starts the manual resync input on the recorded state machine and prints the execution ARN', async () => {
    const { code, out } = await run('resync', '--cluster', 'web');
    expect(code).toBe(0);
    expect(out).toEqual([EXECUTION]);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const input = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(input.stateMachineArn).toBe(MACHINE);
    expect(JSON.parse(input.input!)).toEqual({ cluster: 'web', action: 'resync' });
  });

  test('given --state-machine, when resync runs, then Parameter Store is not asked', async () => {
    const other = 'arn:aws:states:us-east-2:111122223333:stateMachine:astaire-web-blue';
    const { code } = await run('resync', '--cluster', 'web', '--state-machine', other);
    expect(code).toBe(0);
    expect(ssm).not.toHaveReceivedCommand(GetParameterCommand);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: other });
  });

  test('given a cluster that is not deployed, when resync runs, then it exits 2 naming the parameter and starts nothing', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const { code, err } = await run('resync', '--cluster', 'nope', '--region', 'eu-west-1');
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/\/astaire\/nope\/state-machine-arn does not exist in eu-west-1/);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('given bad usage, when resync runs, then it exits 2 without calling AWS', async () => {
    for (const argv of [
      ['resync'],
      ['resync', '--cluster', 'bad name'],
      ['resync', '--cluster', 'web', '--state-machine', 'arn:aws:lambda:eu-west-1:111122223333:function:x'],
      ['resync', '--cluster', 'web', '--region', 'Mars'],
      ['resync', '--cluster', 'web', 'extra'],
    ])
      expect({ argv, code: (await run(...argv)).code }).toEqual({ argv, code: 2 });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(ssm).not.toHaveReceivedCommand(GetParameterCommand);
  });

  test('given Step Functions refuses, when resync runs, then it exits 1 with the error', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'state machine is being deleted', $metadata: {} }));
    const { code, err } = await run('resync', '--cluster', 'web');
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/state machine is being deleted/);
  });
});
