import { synthesizeWorkflowDefinition, type AslDefinition } from '../../../cdk/definition';
import { StateNames as S } from '../../../cdk/state-names';
import type { AslEvent } from '../../../local/asl';
import { CLUSTER, FakeWorld, lifecycleEvent } from './fake-world';
import { runLocal, TEST_RETRY_MS, TEST_WAIT_MS, type RunResult } from './run-local';

// The interpreter local mode used before local/asl (issue #16): it needs Promise.withResolvers (Node 22).
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StateMachine: Legacy } =
  require('aws-local-stepfunctions') as typeof import('aws-local-stepfunctions');

interface Seen {
  name: string;
  type: string;
  /** Set by the legacy interpreter on events of a Map iteration. */
  index?: number;
}

/** One run of the synthesized definition by aws-local-stepfunctions, with its state events. */
async function runLegacy(definition: AslDefinition, world: FakeWorld, input: unknown, id: string) {
  world.running.add(id);
  const machine = new Legacy(definition as never, {
    validationOptions: { checkArn: false, checkPaths: false },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: world.handlers() as never,
      waitTimeOverrides: TEST_WAIT_MS,
      retryIntervalOverrides: TEST_RETRY_MS,
    },
    context: {
      Execution: { Id: id, Name: id.split(':').pop() },
      Task: { Token: `token-of-${id}` },
    } as never,
  });
  const seen: Seen[] = [];
  const logs = (async () => {
    for await (const e of execution.eventLogs as AsyncIterable<{ type: string; state?: { name: string } }>)
      if (e.state) seen.push({ name: e.state.name, type: e.type });
  })();
  let result: RunResult;
  try {
    result = { status: 'SUCCEEDED', output: (await execution.result) as Record<string, unknown> };
  } catch (e) {
    const cause = (e as { cause?: Error }).cause ?? (e as Error);
    result = { status: 'FAILED', error: cause.name, cause: cause.message };
  } finally {
    world.running.delete(id);
  }
  await logs;
  return { result, seen };
}

const A = 'i-0000000a';
const B = 'i-0000000b';
const C = 'i-0000000c';
const D = 'i-0000000d';
const E = 'i-0000000e';
const failing = (name: string, message: string) => Object.assign(new Error(message), { name });

/** The scenarios of workflow.test.ts that run one execution (each a fresh world and its input). */
const SCENARIOS: Record<string, () => { world: FakeWorld; input: unknown }> = {
  'launch 3 -> 4': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    return { world, input: lifecycleEvent('launch', D) };
  },
  'terminate 4 -> 3': () => {
    const world = new FakeWorld([A, B, C, D]);
    world.terminate(B);
    return { world, input: lifecycleEvent('terminate', B) };
  },
  'manual resync': () => {
    const world = new FakeWorld([A, B, C]);
    world.members.push({ instanceId: D, lifecycleState: 'InService' });
    return { world, input: { cluster: CLUSTER, action: 'resync' } };
  },
  'malformed input': () => ({
    world: new FakeWorld([A, B, C]),
    input: { cluster: CLUSTER, action: 'rsync' },
  }),
  'terminate of an InService instance': () => ({
    world: new FakeWorld([A, B, C]),
    input: lifecycleEvent('terminate', B),
  }),
  'CONTINUE fails after the commit': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.completeError = failing('ServiceDown', 'Auto Scaling is down');
    return { world, input: lifecycleEvent('launch', D) };
  },
  'cleanup fails after the commit': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.cleanupAgent = async (req) => {
      if (req.Parameters.node[0] === B) throw failing('CleanupFailed', `cleanup of ${B} failed`);
      return world.succeedingCleanup(req);
    };
    return { world, input: lifecycleEvent('launch', D) };
  },
  'agent fails: rollback and ABANDON': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.agent = async () => Promise.reject(failing('ResyncFailed', 'vbuckets 3, 9 had no source'));
    return { world, input: lifecycleEvent('launch', D) };
  },
  'agent fails after stayers pulled: rollback cleanup': () => {
    const world = new FakeWorld([A, B, C, D]);
    world.members.splice(
      world.members.findIndex((m) => m.instanceId === C),
      1,
    );
    world.launch(E);
    const agent = world.agent;
    world.agent = async (req) => {
      if (req.Parameters.node[0] !== E) return agent(req);
      await new Promise((r) => setTimeout(r, 100));
      throw failing('ResyncFailed', 'vbuckets 3, 9 had no source');
    };
    return { world, input: lifecycleEvent('launch', E) };
  },
  'no topology': () => {
    const world = new FakeWorld([A, B, C]);
    world.topology = undefined;
    world.launch(D);
    return { world, input: lifecycleEvent('launch', D) };
  },
  'SSM rejects twice, then accepts': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    let rejections = 2;
    const agent = world.agent;
    world.agent = async (req) => {
      if (rejections-- > 0) throw failing('Ssm.InvalidInstanceIdException', 'instance not registered');
      return agent(req);
    };
    return { world, input: lifecycleEvent('launch', D) };
  },
  'SSM always rejects': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.agent = async () =>
      Promise.reject(failing('Ssm.InvalidInstanceIdException', 'instance not registered'));
    return { world, input: lifecycleEvent('launch', D) };
  },
  'lock store fails twice': () => {
    const world = new FakeWorld([A, B, C]);
    world.lockErrors = [failing('TimeoutError', 'slow'), failing('TimeoutError', 'slow')];
    world.launch(D);
    return { world, input: lifecycleEvent('launch', D) };
  },
  'lock store always fails': () => {
    const world = new FakeWorld([A, B, C]);
    world.lockErrors = Array.from({ length: 50 }, () => failing('TimeoutError', 'slow'));
    world.launch(D);
    return { world, input: lifecycleEvent('launch', D) };
  },
  'lock access denied': () => {
    const world = new FakeWorld([A, B, C]);
    world.lockErrors = Array.from({ length: 5 }, () => failing('AccessDeniedException', 'denied'));
    world.launch(D);
    return { world, input: lifecycleEvent('launch', D) };
  },
  'keep-alive fails after the commit': () => {
    const world = new FakeWorld([A, B, C]);
    world.launch(D);
    world.heartbeatAfterCommitError = failing('Lambda.TooManyRequestsException', 'Rate exceeded');
    return { world, input: lifecycleEvent('launch', D) };
  },
};

const KEEP_ALIVE_LOOP = new Set<string>([S.KeepAliveWait, S.RecordHeartbeat, S.IsMigrationRunning]);

/** What both interpreters must agree on: the outcome, the top-level path, every state run, and what the world saw. */
function observe(definition: AslDefinition, world: FakeWorld, result: RunResult, events: Seen[]) {
  const topLevel = new Set(Object.keys(definition.States as object));
  const entered = events.filter((e) => e.type === 'StateEntered');
  const count = (type: string) =>
    events
      .filter((e) => e.type === type && !KEEP_ALIVE_LOOP.has(e.name))
      .map((e) => e.name)
      .sort();
  return {
    result,
    path: entered.filter((e) => topLevel.has(e.name)).map((e) => e.name),
    // The keep-alive branch loops while the data moves: how often depends on timing, not on the interpreter.
    states: [...new Set(entered.map((e) => e.name))].sort(),
    runs: entered
      .map((e) => e.name)
      .filter((n) => !KEEP_ALIVE_LOOP.has(n))
      .sort(),
    retried: count('StateRetried'),
    caught: count('StateCaught'),
    log: [...world.log].sort(),
    topology: world.topology,
    lock: world.lock,
    completed: world.completed,
    metrics: world.metrics,
    sendCommands: world.sendCommands.map((c) => JSON.stringify(c)).sort(),
  };
}

let definition: AslDefinition;
beforeAll(() => {
  definition = synthesizeWorkflowDefinition({ clusterName: CLUSTER });
}, 120_000);

describe('local/asl against aws-local-stepfunctions, on the synthesized workflow', () => {
  test.each(Object.keys(SCENARIOS))(
    'given the scenario "%s", when both interpreters run it, then the outcome, the states run and the world they leave are the same',
    async (name) => {
      const id = `arn:aws:states:us-east-1:123456789012:execution:astaire-local:${name.replace(/\W+/g, '-')}`;
      const old = SCENARIOS[name]!();
      const legacy = await runLegacy(definition, old.world, old.input, id);
      const fresh = SCENARIOS[name]!();
      const events: AslEvent[] = [];
      const result = await runLocal(definition, fresh.world, fresh.input, id, events);
      const ours = observe(
        definition,
        fresh.world,
        result,
        events.map((e) => ({ name: e.state, type: e.type })),
      );
      expect(ours).toEqual(observe(definition, old.world, legacy.result, legacy.seen));
      expect(ours.path.length).toBeGreaterThan(2);
    },
    30_000,
  );
});
