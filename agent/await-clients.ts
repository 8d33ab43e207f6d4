import { ClusterAdmin, AwaitClientsResult, PublishResult } from '../client/cluster-admin';
import { Topology } from '../core';
import { TopologyMovedOnError } from './errors';

/** How long AwaitClients waits for every live client, by default: well over a client's 10 s acknowledgement TTL. */
export const DEFAULT_AWAIT_CLIENTS_TIMEOUT_MS = 120_000;
/**
 * The awaiter's last look at the acknowledgements is at least this long after it published: a client
 * that read the previous topology just before the publish has acknowledged it by then.
 */
export const DEFAULT_AWAIT_CLIENTS_MIN_MS = 1000;

export interface ClientsCommandOptions {
  /** `await-clients`: publish, then wait for every live client; `publish`: publish only. */
  readonly mode: 'await-clients' | 'publish';
  /** The topology as the source of truth holds it now. */
  readonly topology: Topology;
  /** The epoch the workflow means (the command's `epoch` parameter). */
  readonly epoch: number;
  readonly timeoutMs?: number;
  readonly minWaitMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * `astaire-agent await-clients` / `publish`: the workflow's states AwaitClients, PublishCommitted and
 * PublishRestored (on AWS through SSM on one member; locally in-process, the same code). Throws
 * ClientsNotSwitched (a timeout) or TopologyMovedOn; a node that cannot be written is logged and left to
 * its clients' fail-over.
 */
export async function runClientsCommand(
  o: ClientsCommandOptions,
): Promise<PublishResult | AwaitClientsResult> {
  if (o.topology.epoch !== o.epoch)
    throw new TopologyMovedOnError(
      `astaire-agent ${o.mode}: the topology of cluster ${o.topology.cluster} is at epoch ${o.topology.epoch}, not ${o.epoch} as the workflow asked; nothing was published (a later execution or a rollback moved it on)`,
    );
  const admin = new ClusterAdmin({ log: o.log });
  try {
    const result =
      o.mode === 'publish'
        ? await admin.publish(o.topology)
        : await admin.awaitClients(o.topology, {
            timeoutMs: o.timeoutMs ?? DEFAULT_AWAIT_CLIENTS_TIMEOUT_MS,
            minWaitMs: o.minWaitMs ?? DEFAULT_AWAIT_CLIENTS_MIN_MS,
          });
    for (const f of result.failed) o.log?.(`could not publish epoch ${o.epoch} on ${f.node}: ${f.error}`);
    return result;
  } finally {
    await admin.close();
  }
}
