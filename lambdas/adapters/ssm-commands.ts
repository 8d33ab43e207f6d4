import {
  CancelCommandCommand,
  InvalidCommandId,
  ListCommandsCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { AgentCommands } from '../ports';

type SsmLike = Pick<SSMClient, 'send'>;

/** ListCommands pages read at most (50 commands each): a failed migration has one command per node. */
const MAX_PAGES = 100;

/**
 * The agents' Run Command commands. ListCommands can filter by document, by execution stage
 * (`Executing`: pending or in progress) and by `InvokedAfter`, not by Comment, so the Comment is
 * matched here (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandFilter.html);
 * CancelCommand without InstanceIds cancels the command on every node it was sent to
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CancelCommand.html). AWS does not
 * guarantee that a cancelled command's process stops: the agent also exits on its own once the
 * migration it serves is no longer the topology's.
 */
export class SsmAgentCommands implements AgentCommands {
  constructor(
    private readonly ssm: SsmLike,
    private readonly documentName: string,
  ) {}

  async cancelRunning(comments: readonly string[], since: string): Promise<readonly string[]> {
    const wanted = new Set(comments);
    const ids: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const out = await this.ssm.send(
        new ListCommandsCommand({
          Filters: [
            { key: 'DocumentName', value: this.documentName },
            { key: 'ExecutionStage', value: 'Executing' },
            { key: 'InvokedAfter', value: since },
          ],
          MaxResults: 50,
          NextToken: nextToken,
        }),
      );
      for (const c of out.Commands ?? [])
        if (c.CommandId && wanted.has(c.Comment ?? '')) ids.push(c.CommandId);
      nextToken = out.NextToken;
    } while (nextToken && ++pages < MAX_PAGES);
    const cancelled: string[] = [];
    for (const id of ids) {
      try {
        await this.ssm.send(new CancelCommandCommand({ CommandId: id }));
        cancelled.push(id);
      } catch (error) {
        // Finished between the list and the cancel: nothing left to stop.
        if (!(error instanceof InvalidCommandId)) throw error;
      }
    }
    return cancelled;
  }
}
