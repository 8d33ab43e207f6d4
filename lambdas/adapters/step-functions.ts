import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  InvalidArn,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { Executions } from '../ports';

type SfnLike = Pick<SFNClient, 'send'>;

export class SfnExecutions implements Executions {
  constructor(private readonly sfn: SfnLike) {}

  async isRunning(executionId: string): Promise<boolean> {
    try {
      const out = await this.sfn.send(new DescribeExecutionCommand({ executionArn: executionId }));
      return out.status === 'RUNNING';
    } catch (error) {
      // No such execution (or not an execution ARN): it cannot be running.
      if (error instanceof ExecutionDoesNotExist || error instanceof InvalidArn) return false;
      throw error;
    }
  }
}
