import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmLockStore } from './adapters/ssm-parameters';
import { configuredName } from './env';
import { releaseIfOwner } from './lock';
import type { LockStore } from './ports';
import type { WorkflowRequest } from './request';

/**
 * States `ReleaseUnchangedLock` (the members already match, nothing to move) and `ReleaseLock` (the
 * migration committed and its cleanup ended): let the next execution in.
 */
export function createReleaseLockHandler(ports: { readonly locks: LockStore }) {
  return async ({ request }: { request: WorkflowRequest }): Promise<{ released: boolean }> => ({
    released: await releaseIfOwner(ports.locks, request.cluster, request.executionId),
  });
}

const ssm = new SSMClient({});
let wired: ReturnType<typeof createReleaseLockHandler> | undefined;
export const handler = (event: { request: WorkflowRequest }) =>
  (wired ??= createReleaseLockHandler({
    locks: new SsmLockStore(ssm, configuredName('LOCK_PARAMETER_NAME')),
  }))(event);
