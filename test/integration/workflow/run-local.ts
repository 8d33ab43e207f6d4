import type { AslDefinition } from '../../../cdk/definition';
import { WAIT_STATES } from '../../../cdk/state-names';
import type { FakeWorld } from './fake-world';

// aws-local-stepfunctions 3 uses Promise.withResolvers (Node 22); Node 20 needs it polyfilled.
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StateMachine } = require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions');

export type RunResult =
  | { status: 'SUCCEEDED'; output: Record<string, unknown> }
  | { status: 'FAILED'; error: string; cause: string };

let counter = 0;

/** Runs the synthesized definition once against the world's handlers, as local mode will. */
export async function runLocal(
  definition: AslDefinition,
  world: FakeWorld,
  input: unknown,
  executionId?: string,
): Promise<RunResult> {
  const id = executionId ?? `arn:aws:states:us-east-1:123456789012:execution:astaire-local:run-${++counter}`;
  world.running.add(id);
  const machine = new StateMachine(definition as never, {
    validationOptions: { checkArn: false, checkPaths: false },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: world.handlers() as never,
      waitTimeOverrides: Object.fromEntries(WAIT_STATES.map((s) => [s, 5])),
      retryIntervalOverrides: {
        ResyncNode: 1,
        CleanupNode: 1,
        RollbackCleanupNode: 1,
        TakeLock: 1,
        Normalise: 1,
        RecordHeartbeat: 1,
        AbandonLaunch: 1,
      },
    },
    context: {
      Execution: { Id: id, Name: id.split(':').pop(), Input: input, StartTime: new Date().toISOString() },
      Task: { Token: `token-of-${id}` },
    } as never,
  });
  try {
    const output = (await execution.result) as Record<string, unknown>;
    return { status: 'SUCCEEDED', output };
  } catch (e) {
    const cause = (e as { cause?: Error }).cause ?? (e as Error);
    return { status: 'FAILED', error: cause.name, cause: cause.message };
  } finally {
    world.running.delete(id);
  }
}
