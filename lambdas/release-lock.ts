import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoLockStore } from './adapters/dynamodb-lock';
import { requireEnv } from './env';
import type { LockStore } from './ports';
import type { WorkflowRequest } from './request';

/**
 * States `ReleaseUnchangedLock` (the members already match, nothing to move) and `ReleaseLock` (the
 * migration committed and its cleanup ended): let the next execution in. Someone else's lock is
 * never touched (the store's release is conditional on the owner).
 */
export function createReleaseLockHandler(ports: { readonly locks: LockStore }) {
  return async ({ request }: { request: WorkflowRequest }): Promise<{ released: boolean }> => ({
    released: await ports.locks.release(request.cluster, request.executionId),
  });
}

const dynamodb = new DynamoDBClient({});
let wired: ReturnType<typeof createReleaseLockHandler> | undefined;
export const handler = (event: { request: WorkflowRequest }) =>
  (wired ??= createReleaseLockHandler({
    locks: new DynamoLockStore(dynamodb, requireEnv('LOCK_TABLE_NAME')),
  }))(event);
