import type { AslDefinition } from '../../../cdk/definition';
import { WAIT_STATES } from '../../../cdk/state-names';
import { ExecutionFailedError, StateMachine, type AslEvent } from '../../../local/asl';
import type { FakeWorld } from './fake-world';

export type RunResult =
  | { status: 'SUCCEEDED'; output: Record<string, unknown> }
  | { status: 'FAILED'; error: string; cause: string };

/** Every Wait of the workflow shortened to 5 ms, and every retry to 1 ms (the intervals are unit-tested in retry.test.ts). */
export const TEST_WAIT_MS = Object.fromEntries(WAIT_STATES.map((s) => [s, 5]));
export const TEST_RETRY_MS = {
  ResyncNode: 1,
  CleanupNode: 1,
  RollbackCleanupNode: 1,
  TakeLock: 1,
  Normalise: 1,
  RecordHeartbeat: 1,
  AbandonLaunch: 1,
};

let counter = 0;

/** Runs the synthesized definition once against the world's handlers, as local mode does (local/asl). */
export async function runLocal(
  definition: AslDefinition,
  world: FakeWorld,
  input: unknown,
  executionId?: string,
  events?: AslEvent[],
): Promise<RunResult> {
  const id = executionId ?? `arn:aws:states:us-east-1:123456789012:execution:astaire-local:run-${++counter}`;
  world.running.add(id);
  const execution = new StateMachine(definition).run(input, {
    handlers: world.handlers(),
    waitMs: TEST_WAIT_MS,
    retryIntervalMs: TEST_RETRY_MS,
    context: { Execution: { Id: id, Name: id.split(':').pop() }, Task: { Token: `token-of-${id}` } },
    onEvent: events ? (e) => events.push(e) : undefined,
  });
  try {
    const output = (await execution.result) as Record<string, unknown>;
    return { status: 'SUCCEEDED', output };
  } catch (e) {
    if (!(e instanceof ExecutionFailedError)) throw e;
    return { status: 'FAILED', error: e.error, cause: e.cause };
  } finally {
    world.running.delete(id);
  }
}
