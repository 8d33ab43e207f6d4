import { requireEnv } from './env';
import { normaliseRequest, type RequestScope, type WorkflowRequest } from './request';

/** State `Normalise`: `{ input: <execution input>, executionId: $$.Execution.Id }`. */
export interface NormaliseInput {
  readonly input: unknown;
  readonly executionId: string;
}

/** Validates the execution input (a lifecycle event or a manual input) into a WorkflowRequest. */
export function createNormaliseHandler(scope: RequestScope) {
  return async (event: NormaliseInput): Promise<WorkflowRequest> => {
    const request = normaliseRequest(event?.input, event?.executionId, scope);
    console.log(JSON.stringify({ message: 'request', request }));
    return request;
  };
}

let wired: ReturnType<typeof createNormaliseHandler> | undefined;
export const handler = (event: NormaliseInput) =>
  (wired ??= createNormaliseHandler({
    cluster: requireEnv('CLUSTER_NAME'),
    autoScalingGroupName: requireEnv('AUTO_SCALING_GROUP_NAME'),
  }))(event);
