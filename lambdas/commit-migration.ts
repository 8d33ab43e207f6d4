import { SSMClient } from '@aws-sdk/client-ssm';
import { commitMigration } from '../core';
import { SsmTopologyStore } from './adapters/ssm-parameters';
import { configuredName } from './env';
import { MigrationNotOwnedError } from './errors';
import type { TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

export interface CommitMigrationPorts {
  readonly topology: TopologyStore;
}

/** State `CommitMigration` input: the request and the planned target ids (`$.plan.newServers`). */
export interface CommitMigrationInput {
  readonly request: WorkflowRequest;
  readonly newServers: readonly string[];
}

/** State `CommitMigration` output (at `$.commit`). */
export interface CommitResult {
  readonly epoch: number;
  readonly servers: readonly string[];
  /** True when an earlier invocation had committed already (a retry). */
  readonly alreadyCommitted: boolean;
}

/**
 * servers := newServers, epoch + 1. Idempotent; never commits someone else's migration. The lock stays
 * held: the nodes that lost vbuckets clean them up before the next migration may start (ReleaseLock).
 */
export function createCommitMigrationHandler(ports: CommitMigrationPorts) {
  return async ({ request, newServers }: CommitMigrationInput): Promise<CommitResult> => {
    const { cluster, executionId: me } = request;
    const topology = await ports.topology.read(cluster);
    let alreadyCommitted = false;
    let epoch = topology.epoch;
    if (topology.migration?.executionId === me) {
      const committed = commitMigration(topology);
      await ports.topology.write(committed);
      epoch = committed.epoch;
    } else {
      const ids = topology.servers.map((s) => s.id);
      const done =
        !topology.migration && ids.length === newServers.length && newServers.every((id) => ids.includes(id));
      if (!done) throw new MigrationNotOwnedError(cluster, me, topology.migration?.executionId);
      alreadyCommitted = true;
    }
    return { epoch, servers: newServers, alreadyCommitted };
  };
}

const ssm = new SSMClient({});
let wired: ReturnType<typeof createCommitMigrationHandler> | undefined;
export const handler = (event: CommitMigrationInput) =>
  (wired ??= createCommitMigrationHandler({
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
  }))(event);
