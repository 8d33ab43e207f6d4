import { runClientsCommand } from '../agent/await-clients';
import { Topology } from '../core';
import type { SendCommandInput } from './agent-runner';

export interface LocalClientsTaskOptions {
  /** The topology as the local Parameter Store holds it. */
  readonly readTopology: (cluster: string) => Promise<Topology>;
  /** AwaitClients' timeout. @default DEFAULT_AWAIT_CLIENTS_TIMEOUT_MS */
  readonly timeoutMs?: number;
}

/**
 * The local stand-in for the SSM command `astaire-agent await-clients|publish` on the publisher: the
 * same function the agent runs, in-process (it needs nothing from the node it runs on but its network).
 */
export function createLocalClientsTask(options: LocalClientsTaskOptions) {
  return async (input: SendCommandInput): Promise<unknown> => {
    const cluster = input.Parameters.cluster?.[0] ?? '';
    const mode = input.Parameters.mode?.[0] === 'publish' ? 'publish' : 'await-clients';
    return runClientsCommand({
      mode,
      topology: await options.readTopology(cluster),
      epoch: Number(input.Parameters.epoch?.[0]),
      timeoutMs: options.timeoutMs,
      log: (line) => console.info(JSON.stringify({ message: line, state: mode })),
    });
  };
}
