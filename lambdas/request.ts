import { describeValue, isValidClusterName } from '../core';
import { MalformedInputError } from './errors';
import type { LifecycleActionRef } from './ports';

/**
 * What the workflow does, normalised from its input (the state `$.request` of every later step).
 *
 * Accepted execution inputs:
 *
 * 1. An EventBridge event from Auto Scaling for this cluster's group:
 *    `detail-type` "EC2 Instance-launch Lifecycle Action" or "EC2 Instance-terminate Lifecycle
 *    Action", `detail` with AutoScalingGroupName, LifecycleHookName, LifecycleActionToken,
 *    EC2InstanceId, LifecycleTransition.
 * 2. Manual input (console "Start execution", or `astaire resync`); unknown fields are rejected:
 *    - `{"cluster": "NAME", "action": "resync"}`: make the topology match the group's live
 *      members (InService, Pending*, Standby), moving data as needed; completes no lifecycle action.
 *      Use it after a failed or expired migration.
 *    - `{"cluster": "NAME", "action": "launch", "instanceId": "i-...", "lifecycleHookName": "HOOK"}`
 *      and the same with `"action": "terminate"`: re-drive the lifecycle action of an instance
 *      still waiting in Pending:Wait / Terminating:Wait (completed by instance id), for example
 *      after the execution its event started failed.
 */
export interface WorkflowRequest {
  readonly cluster: string;
  /** This execution's id ($$.Execution.Id): owner of the lock and of the migration. */
  readonly executionId: string;
  readonly action: 'launch' | 'terminate' | 'resync';
  /** The lifecycle action to complete (launch and terminate only). */
  readonly lifecycle?: LifecycleActionRef;
  /** 'event' (EventBridge) or 'manual'. */
  readonly source: 'event' | 'manual';
}

/** Where the request must point: this workflow serves one cluster and one group. */
export interface RequestScope {
  readonly cluster: string;
  readonly autoScalingGroupName: string;
}

const DETAIL_TYPES: Record<string, { action: 'launch' | 'terminate'; transition: string }> = {
  'EC2 Instance-launch Lifecycle Action': {
    action: 'launch',
    transition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
  },
  'EC2 Instance-terminate Lifecycle Action': {
    action: 'terminate',
    transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
  },
};
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const HOOK_NAME = /^[A-Za-z0-9\-_/]{1,255}$/;
const TOKEN = /^[A-Za-z0-9-]{1,36}$/;
const MANUAL_FIELDS = new Set(['cluster', 'action', 'instanceId', 'lifecycleHookName']);

/** Validates an execution input; throws MalformedInputError naming the offending field. */
export function normaliseRequest(input: unknown, executionId: string, scope: RequestScope): WorkflowRequest {
  const bad = (message: string): never => {
    throw new MalformedInputError(`execution input: ${message}`, input);
  };
  if (typeof executionId !== 'string' || executionId === '') bad('no execution id was passed to the handler');
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return bad(`must be a JSON object (got ${describeValue(input)})`);
  const d = input as Record<string, unknown>;
  if ('detail-type' in d || 'detail' in d) return fromEvent(d, executionId, scope, bad);
  return fromManual(d, executionId, scope, bad);
}

function fromEvent(
  d: Record<string, unknown>,
  executionId: string,
  scope: RequestScope,
  bad: (message: string) => never,
): WorkflowRequest {
  if (d.source !== 'aws.autoscaling')
    bad(`source must be "aws.autoscaling" (got ${describeValue(d.source)})`);
  const kind = DETAIL_TYPES[d['detail-type'] as string];
  if (!kind)
    bad(
      `detail-type must be one of ${Object.keys(DETAIL_TYPES)
        .map((t) => JSON.stringify(t))
        .join(', ')} (got ${describeValue(d['detail-type'])})`,
    );
  const detail = d.detail as Record<string, unknown>;
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail))
    return bad('detail must be an object');
  const group = detail.AutoScalingGroupName;
  if (group !== scope.autoScalingGroupName)
    bad(
      `detail.AutoScalingGroupName must be ${JSON.stringify(scope.autoScalingGroupName)}, the group of cluster ${scope.cluster} (got ${describeValue(group)})`,
    );
  if (detail.LifecycleTransition !== kind!.transition)
    bad(
      `detail.LifecycleTransition must be ${kind!.transition} for a ${d['detail-type'] as string} (got ${describeValue(detail.LifecycleTransition)})`,
    );
  const instanceId = detail.EC2InstanceId;
  if (typeof instanceId !== 'string' || !INSTANCE_ID.test(instanceId))
    bad(`detail.EC2InstanceId must be an instance id (got ${describeValue(instanceId)})`);
  const hook = detail.LifecycleHookName;
  if (typeof hook !== 'string' || !HOOK_NAME.test(hook))
    bad(`detail.LifecycleHookName is invalid (got ${describeValue(hook)})`);
  const token = detail.LifecycleActionToken;
  if (typeof token !== 'string' || !TOKEN.test(token))
    bad(`detail.LifecycleActionToken must be a lifecycle action token (got ${describeValue(token)})`);
  return {
    cluster: scope.cluster,
    executionId,
    action: kind!.action,
    source: 'event',
    lifecycle: {
      autoScalingGroupName: group as string,
      lifecycleHookName: hook as string,
      instanceId: instanceId as string,
      lifecycleActionToken: token as string,
    },
  };
}

function fromManual(
  d: Record<string, unknown>,
  executionId: string,
  scope: RequestScope,
  bad: (message: string) => never,
): WorkflowRequest {
  const unknown = Object.keys(d).filter((k) => !MANUAL_FIELDS.has(k));
  if (unknown.length > 0)
    bad(
      `unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; a manual input has cluster, action and, for launch/terminate, instanceId and lifecycleHookName`,
    );
  if (typeof d.cluster !== 'string' || !isValidClusterName(d.cluster))
    bad(`cluster must be a cluster name (got ${describeValue(d.cluster)})`);
  if (d.cluster !== scope.cluster)
    bad(
      `cluster must be ${JSON.stringify(scope.cluster)}, the cluster this workflow manages (got ${describeValue(d.cluster)})`,
    );
  const action = d.action;
  if (action === 'resync') {
    if (d.instanceId !== undefined || d.lifecycleHookName !== undefined)
      bad('a resync takes no instanceId or lifecycleHookName');
    return { cluster: scope.cluster, executionId, action: 'resync', source: 'manual' };
  }
  if (action !== 'launch' && action !== 'terminate')
    return bad(`action must be "resync", "launch" or "terminate" (got ${describeValue(action)})`);
  if (typeof d.instanceId !== 'string' || !INSTANCE_ID.test(d.instanceId))
    bad(`instanceId must be an instance id for action ${action} (got ${describeValue(d.instanceId)})`);
  if (typeof d.lifecycleHookName !== 'string' || !HOOK_NAME.test(d.lifecycleHookName))
    bad(
      `lifecycleHookName must be the hook's name for action ${action} (got ${describeValue(d.lifecycleHookName)})`,
    );
  return {
    cluster: scope.cluster,
    executionId,
    action,
    source: 'manual',
    lifecycle: {
      autoScalingGroupName: scope.autoScalingGroupName,
      lifecycleHookName: d.lifecycleHookName as string,
      instanceId: d.instanceId as string,
    },
  };
}
