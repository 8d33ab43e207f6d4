import { CancelCommandCommand, InvalidCommandId, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { SsmAgentCommands } from '../../../../lambdas/adapters/ssm-commands';
import { agentCommandComment } from '../../../../lambdas/agent-commands';
import { createCancelCommandsHandler } from '../../../../lambdas/cancel-commands';

const ssm = mockClient(SSMClient);
beforeEach(() => ssm.reset());
const since = '2025-01-01T00:00:00.000Z';
const mine = agentCommandComment('resync', 'web', 7);

describe('SsmAgentCommands', () => {
  const commands = () => new SsmAgentCommands(new SSMClient({}), 'web-resync');

  test('given running commands of several migrations over two pages, when cancelling one migration, then only its commands are cancelled', async () => {
    ssm
      .on(ListCommandsCommand)
      .resolvesOnce({
        Commands: [
          { CommandId: 'c1', Comment: mine },
          { CommandId: 'c2', Comment: agentCommandComment('resync', 'web', 6) },
        ],
        NextToken: 'next',
      })
      .resolvesOnce({ Commands: [{ CommandId: 'c3', Comment: mine }, { CommandId: 'c4' }] });
    ssm.on(CancelCommandCommand).resolves({});
    expect(await commands().cancelRunning([mine], since)).toEqual(['c1', 'c3']);
    const lists = ssm.commandCalls(ListCommandsCommand).map((c) => c.args[0].input);
    expect(lists[0]).toEqual({
      Filters: [
        { key: 'DocumentName', value: 'web-resync' },
        { key: 'ExecutionStage', value: 'Executing' },
        { key: 'InvokedAfter', value: since },
      ],
      MaxResults: 50,
      NextToken: undefined,
    });
    expect(lists[1]).toMatchObject({ NextToken: 'next' });
    // No InstanceIds: the command is cancelled on every node it went to.
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: 'c1' },
      { CommandId: 'c3' },
    ]);
  });

  test('given a command that finished between the list and the cancel, when cancelled, then it is skipped and the others still are', async () => {
    ssm.on(ListCommandsCommand).resolves({
      Commands: [
        { CommandId: 'done', Comment: mine },
        { CommandId: 'c2', Comment: mine },
      ],
    });
    ssm
      .on(CancelCommandCommand, { CommandId: 'done' })
      .rejects(new InvalidCommandId({ message: 'finished', $metadata: {} }));
    ssm.on(CancelCommandCommand, { CommandId: 'c2' }).resolves({});
    expect(await commands().cancelRunning([mine], since)).toEqual(['c2']);
  });

  test('given SSM refusing the cancel otherwise, when cancelled, then the error propagates (the workflow catches it and rolls back anyway)', async () => {
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'c1', Comment: mine }] });
    ssm
      .on(CancelCommandCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(commands().cancelRunning([mine], since)).rejects.toThrow('denied');
  });
});

describe('CancelAgentCommands handler', () => {
  const request = { cluster: 'web', executionId: 'me', action: 'launch' as const, source: 'event' as const };

  test('given a failed migration of epoch 7, when the handler runs, then it cancels the receive and push commands of that epoch sent since the execution started', async () => {
    const calls: unknown[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const handler = createCancelCommandsHandler({
      commands: { cancelRunning: async (comments, from) => (calls.push({ comments, from }), ['c1']) },
    });
    expect(await handler({ request, epoch: 7, startedAt: since })).toEqual({ cancelled: 1 });
    expect(calls).toEqual([
      { comments: ['astaire receive of web e7', 'astaire push of web e7'], from: since },
    ]);
    expect(log).toHaveBeenCalledWith(expect.stringContaining('"commandIds":["c1"]'));
    log.mockRestore();
  });

  test('given no plan (no epoch), when the handler runs, then it asks SSM nothing', async () => {
    const handler = createCancelCommandsHandler({
      commands: {
        cancelRunning: async () => {
          throw new Error('must not be called');
        },
      },
    });
    expect(await handler({ request, startedAt: since })).toEqual({ cancelled: 0 });
  });

  test('given the longest cluster name and epoch, when the Comment is made, then it fits SendCommand limit of 100 characters', () => {
    for (const mode of ['resync', 'cleanup'] as const)
      expect(agentCommandComment(mode, 'c'.repeat(64), 999_999_999_999_999).length).toBeLessThanOrEqual(100);
  });
});
