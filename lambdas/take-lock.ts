import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnExecutions } from './adapters/step-functions';
import { DynamoLockStore } from './adapters/dynamodb-lock';
import { requireEnv, requirePositiveInt } from './env';
import type { Clock, Executions, LockRecord, LockStore } from './ports';
import type { WorkflowRequest } from './request';

export interface TakeLockPorts {
  readonly locks: LockStore;
  readonly executions: Executions;
  readonly clock: Clock;
  /** Lifetime of a lock: at least the workflow's timeout, so an expired lock's owner is dead. */
  readonly lockTtlSeconds: number;
}

/** State `TakeLock` output (at `$.lock`). */
export interface TakeLockResult {
  readonly acquired: boolean;
  /** Who holds the lock now. */
  readonly owner: string;
  /** The dead owner whose lock this execution broke. */
  readonly broke?: string;
}

/**
 * Tries once to take the cluster's lock. Never waits: the state machine loops through
 * WaitForLock while another live execution holds it. A lock whose owner has ended (or has
 * expired) is broken; a lock this execution already holds (a retried invocation) is kept.
 */
export function createTakeLockHandler(ports: TakeLockPorts) {
  const { locks, executions, clock } = ports;
  return async ({ request }: { request: WorkflowRequest }): Promise<TakeLockResult> => {
    const { cluster, executionId: me } = request;
    const now = clock.now();
    const fresh: LockRecord = {
      owner: me,
      acquiredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ports.lockTtlSeconds * 1000).toISOString(),
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await locks.create(cluster, fresh)) return { acquired: true, owner: me };
      const current = await locks.read(cluster);
      if (!current) continue; // released between our create and read: try again
      if (current.owner === me) return { acquired: true, owner: me };
      const expired = !(Date.parse(current.expiresAt) > now.getTime());
      if (!expired && (await executions.isRunning(current.owner)))
        return { acquired: false, owner: current.owner };
      console.warn(
        JSON.stringify({ message: 'breaking a dead owner lock', cluster, stale: current, expired }),
      );
      if (await locks.replaceStale(cluster, current, fresh))
        return { acquired: true, owner: me, broke: current.owner };
      return { acquired: false, owner: current.owner };
    }
    return { acquired: false, owner: 'unknown (the lock changed hands repeatedly)' };
  };
}

const dynamodb = new DynamoDBClient({});
const sfn = new SFNClient({});
let wired: ReturnType<typeof createTakeLockHandler> | undefined;
export const handler = (event: { request: WorkflowRequest }) =>
  (wired ??= createTakeLockHandler({
    locks: new DynamoLockStore(dynamodb, requireEnv('LOCK_TABLE_NAME')),
    executions: new SfnExecutions(sfn),
    clock: { now: () => new Date() },
    lockTtlSeconds: requirePositiveInt('LOCK_TTL_SECONDS'),
  }))(event);
