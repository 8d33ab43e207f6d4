import {
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  RecordLifecycleActionHeartbeatCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { GroupNotFoundError } from '../errors';
import type {
  GroupMember,
  GroupMembers,
  LifecycleActionRef,
  LifecycleActions,
  LifecycleCallOutcome,
} from '../ports';

type AutoScalingLike = Pick<AutoScalingClient, 'send'>;

export class AutoScalingGroupMembers implements GroupMembers {
  constructor(private readonly autoScaling: AutoScalingLike) {}

  async list(groupName: string): Promise<readonly GroupMember[]> {
    const out = await this.autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
    );
    const group = out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === groupName);
    if (!group) throw new GroupNotFoundError(groupName);
    return (group.Instances ?? []).flatMap((i) =>
      i.InstanceId && i.LifecycleState
        ? [{ instanceId: i.InstanceId, lifecycleState: i.LifecycleState }]
        : [],
    );
  }
}

/**
 * Auto Scaling answers a call on an action that was completed already, or has timed out, with
 * a ValidationError "No active Lifecycle Action found": that is `gone`, not a failure.
 */
export class AutoScalingLifecycleActions implements LifecycleActions {
  constructor(private readonly autoScaling: AutoScalingLike) {}

  async complete(action: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON'): Promise<LifecycleCallOutcome> {
    return this.call(
      new CompleteLifecycleActionCommand({ ...target(action), LifecycleActionResult: result }),
    );
  }

  async heartbeat(action: LifecycleActionRef): Promise<LifecycleCallOutcome> {
    return this.call(new RecordLifecycleActionHeartbeatCommand(target(action)));
  }

  private async call(
    command: CompleteLifecycleActionCommand | RecordLifecycleActionHeartbeatCommand,
  ): Promise<LifecycleCallOutcome> {
    try {
      await this.autoScaling.send(command as CompleteLifecycleActionCommand);
      return 'done';
    } catch (error) {
      if (isNoActiveAction(error)) return 'gone';
      throw error;
    }
  }
}

function target(action: LifecycleActionRef) {
  return {
    AutoScalingGroupName: action.autoScalingGroupName,
    LifecycleHookName: action.lifecycleHookName,
    InstanceId: action.instanceId,
    ...(action.lifecycleActionToken ? { LifecycleActionToken: action.lifecycleActionToken } : {}),
  };
}

function isNoActiveAction(error: unknown): boolean {
  const e = error as { name?: string; message?: string };
  return e?.name === 'ValidationError' && /no active lifecycle action/i.test(e.message ?? '');
}
