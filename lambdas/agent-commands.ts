/** What the SSM document's `mode` parameter asks of the agent (its subcommand). */
export type AgentMode = 'resync' | 'receive' | 'push' | 'cleanup' | 'await-clients' | 'publish';

/**
 * The Comment of the SendCommand that runs `mode` for one migration (`astaire resync of web e42`): the
 * workflow writes it with States.Format, and the failure path finds a migration's commands by it (the
 * waitForTaskToken integration returns no CommandId). SendCommand's Comment takes at most 100
 * characters: with a 64-character cluster name, a 15-digit epoch and `cleanup` this is exactly 100.
 */
export function agentCommandComment(mode: AgentMode, cluster: string, epoch: number | string): string {
  return agentCommandCommentFormat(mode).replace('{}', cluster).replace('{}', String(epoch));
}

/** The same Comment as a States.Format template over (cluster, epoch). */
export function agentCommandCommentFormat(mode: AgentMode): string {
  // `await` (not `await-clients`): the Comment stays within 100 characters, as `cleanup` does.
  return `astaire ${mode === 'await-clients' ? 'await' : mode} of {} e{}`;
}
