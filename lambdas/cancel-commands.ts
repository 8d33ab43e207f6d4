import { SSMClient } from '@aws-sdk/client-ssm';
import { agentCommandComment } from './agent-commands';
import { SsmAgentCommands } from './adapters/ssm-commands';
import { requireEnv } from './env';
import type { AgentCommands } from './ports';
import type { WorkflowRequest } from './request';

/** State `CancelAgentCommands` input: the request, the failed migration's epoch and $$.Execution.StartTime. */
export interface CancelCommandsInput {
  readonly request: WorkflowRequest;
  /** The epoch PlanMigration wrote (absent when the plan never ran). */
  readonly epoch?: number;
  readonly startedAt: string;
}

/** The agent commands that move data during a migration: the receivers' and the sources' pushes. */
const MOVING_MODES = ['receive', 'push'] as const;

/**
 * On a failed data move: cancels the receive and push commands of this migration still running on other nodes.
 * A failed Map stops waiting for them, but their agents would pull on for up to the command's execution
 * timeout, and a retried migration could start a second agent on the same node.
 */
export function createCancelCommandsHandler(ports: { readonly commands: AgentCommands }) {
  return async ({ request, epoch, startedAt }: CancelCommandsInput): Promise<{ cancelled: number }> => {
    if (epoch === undefined) return { cancelled: 0 };
    const ids = await ports.commands.cancelRunning(
      MOVING_MODES.map((mode) => agentCommandComment(mode, request.cluster, epoch)),
      startedAt,
    );
    if (ids.length)
      console.log(
        JSON.stringify({
          message: 'cancelled the agents of a failed migration',
          cluster: request.cluster,
          epoch,
          commandIds: ids,
        }),
      );
    return { cancelled: ids.length };
  };
}

const ssm = new SSMClient({});
let wired: ReturnType<typeof createCancelCommandsHandler> | undefined;
export const handler = (event: CancelCommandsInput) =>
  (wired ??= createCancelCommandsHandler({
    commands: new SsmAgentCommands(ssm, requireEnv('AGENT_DOCUMENT_NAME')),
  }))(event);
