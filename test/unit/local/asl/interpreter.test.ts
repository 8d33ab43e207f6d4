import {
  AslDefinitionError,
  ExecutionAbortedError,
  StateMachine,
  type AslEvent,
  type RunOptions,
  type TaskContext,
} from '../../../../local/asl';

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

type States = Record<string, Record<string, unknown>>;
const machine = (States: States, StartAt = Object.keys(States)[0]!, extra: Record<string, unknown> = {}) =>
  new StateMachine({ StartAt, States, ...extra });
const task = (more: Record<string, unknown> = {}) => ({
  Type: 'Task',
  Resource: 'arn:aws:lambda:x',
  End: true,
  ...more,
});
const outcome = async (m: StateMachine, input: unknown, options: RunOptions) => {
  try {
    return { output: await m.run(input, options).result };
  } catch (e) {
    return {
      name: (e as Error).name,
      error: (e as { error?: string }).error,
      cause: (e as { cause?: string }).cause,
    };
  }
};
const fails = (name: string, message = 'boom') => Object.assign(new Error(message), { name });

describe('the local ASL interpreter', () => {
  test('given a Task with InputPath, Parameters, ResultSelector, ResultPath and OutputPath, when it runs, then they apply in the spec order', async () => {
    const seen: unknown[] = [];
    const m = machine({
      T: task({
        InputPath: '$.in',
        Parameters: { 'v.$': '$.v', fixed: 1, 'id.$': '$$.Execution.Id', nested: { 'n.$': '$.v' } },
        ResultSelector: { 'got.$': '$.r' },
        ResultPath: '$.out.result',
        OutputPath: '$.out',
      }),
    });
    const result = await outcome(
      m,
      { in: { v: 'x' }, other: 2 },
      {
        handlers: { T: async (input: unknown) => (seen.push(input), { r: 'ok', drop: 1 }) },
        context: { Execution: { Id: 'exec-1' } },
      },
    );
    expect(seen).toEqual([{ v: 'x', fixed: 1, id: 'exec-1', nested: { n: 'x' } }]);
    expect(result).toEqual({ output: { result: { got: 'ok' } } });
  });

  test('given ResultPath null, when a Task runs, then its result is discarded and its raw input passes on', async () => {
    const m = machine({ T: task({ InputPath: '$.a', ResultPath: null }) });
    expect(await outcome(m, { a: 1, b: 2 }, { handlers: { T: async () => 'x' } })).toEqual({
      output: { a: 1, b: 2 },
    });
  });

  test('given Pass, Choice, Wait and Succeed, when they run, then the Choice picks by rule and the Wait lasts its override', async () => {
    const events: AslEvent[] = [];
    const m = machine({
      P: { Type: 'Pass', Result: { go: 'left' }, ResultPath: '$.p', Next: 'C' },
      C: {
        Type: 'Choice',
        Choices: [{ Variable: '$.p.go', StringEquals: 'right', Next: 'Right' }],
        Default: 'W',
      },
      W: { Type: 'Wait', Seconds: 3600, Next: 'Left' },
      Left: { Type: 'Succeed', OutputPath: '$.p' },
      Right: { Type: 'Fail', Error: 'Wrong' },
    });
    const result = await outcome(m, {}, { handlers: {}, waitMs: { W: 1 }, onEvent: (e) => events.push(e) });
    expect(result).toEqual({ output: { go: 'left' } });
    expect(events.filter((e) => e.type === 'StateEntered').map((e) => e.state)).toEqual([
      'P',
      'C',
      'W',
      'Left',
    ]);
  });

  test('given a Choice with no match and no Default, when it runs, then the execution fails with States.NoChoiceMatched', async () => {
    const m = machine({ C: { Type: 'Choice', Choices: [{ Variable: '$.a', IsPresent: true, Next: 'C' }] } });
    expect(await outcome(m, {}, { handlers: {} })).toMatchObject({ error: 'States.NoChoiceMatched' });
  });

  test('given a Task that fails twice, when its retrier allows 2 attempts, then the third attempt succeeds', async () => {
    let calls = 0;
    const m = machine({
      T: task({ Retry: [{ ErrorEquals: ['Flaky'], MaxAttempts: 2, IntervalSeconds: 1 }] }),
    });
    const result = await outcome(
      m,
      {},
      {
        handlers: { T: async () => (++calls < 3 ? Promise.reject(fails('Flaky')) : 'done') },
        retryIntervalMs: { T: 1 },
      },
    );
    expect({ calls, result }).toEqual({ calls: 3, result: { output: 'done' } });
  });

  test('given retries that run out, when a catcher matches, then {Error, Cause} lands at its ResultPath and its Next runs', async () => {
    let calls = 0;
    const m = machine({
      T: task({
        End: undefined,
        Next: 'After',
        Retry: [
          { ErrorEquals: ['Permanent'], MaxAttempts: 0 },
          { ErrorEquals: ['States.ALL'], MaxAttempts: 1 },
        ],
        Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: 'Failed' }],
      }),
      After: { Type: 'Succeed' },
      Failed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
    });
    const permanent = await outcome(
      m,
      { keep: 1 },
      {
        handlers: { T: async () => (calls++, Promise.reject(fails('Permanent', 'denied'))) },
      },
    );
    expect({ calls, permanent }).toEqual({
      calls: 1,
      permanent: { name: 'ExecutionFailedError', error: 'Permanent', cause: 'denied' },
    });
    calls = 0;
    const flaky = await outcome(
      m,
      {},
      {
        handlers: { T: async () => (calls++, Promise.reject(fails('Flaky'))) },
        retryIntervalMs: { T: 1 },
      },
    );
    expect({ calls, flaky }).toEqual({
      calls: 2,
      flaky: { name: 'ExecutionFailedError', error: 'Flaky', cause: 'boom' },
    });
  });

  test('given a States.Runtime error, when States.ALL would catch it, then the execution fails anyway', async () => {
    const m = machine({
      T: task({
        End: undefined,
        Next: 'Ok',
        InputPath: '$.missing',
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Ok' }],
      }),
      Ok: { Type: 'Succeed' },
    });
    expect(await outcome(m, {}, { handlers: { T: async () => 1 } })).toMatchObject({
      error: 'States.Runtime',
    });
  });

  test('given a Task with no local handler, when it runs, then the execution fails with States.Runtime naming it', async () => {
    expect(await outcome(machine({ T: task() }), {}, { handlers: {} })).toMatchObject({
      error: 'States.Runtime',
      cause: expect.stringContaining('Task state T'),
    });
  });

  test('given a Task over its TimeoutSeconds, when it runs, then it fails with States.Timeout and its signal aborts', async () => {
    let signal: AbortSignal | undefined;
    const m = machine({ T: task({ TimeoutSeconds: 0.05 }) });
    const result = await outcome(
      m,
      {},
      {
        handlers: { T: (_: unknown, t: TaskContext) => ((signal = t.signal), new Promise(() => undefined)) },
      },
    );
    expect({ result, aborted: signal?.aborted }).toMatchObject({
      result: { error: 'States.Timeout' },
      aborted: true,
    });
  });

  test('given HeartbeatSeconds, when a Task beats in time it succeeds, and when it stops beating it fails with States.HeartbeatTimeout', async () => {
    const m = machine({ T: task({ HeartbeatSeconds: 0.1, TimeoutSeconds: 10 }) });
    const beating = (_: unknown, t: TaskContext) =>
      new Promise((resolve) => {
        const i = setInterval(() => t.heartbeat(), 20);
        setTimeout(() => (clearInterval(i), resolve('alive')), 300);
      });
    expect(await outcome(m, {}, { handlers: { T: beating } })).toEqual({ output: 'alive' });
    const silent = () => new Promise((resolve) => setTimeout(() => resolve('late'), 1000).unref());
    expect(await outcome(m, {}, { handlers: { T: silent } })).toMatchObject({
      error: 'States.HeartbeatTimeout',
    });
  });

  test('given a Task token in Parameters, when attempts run, then each attempt has its own $$.Task.Token, the one the handler gets', async () => {
    const seen: { param: string; token: string }[] = [];
    const m = machine({
      T: task({
        Parameters: { 'token.$': '$$.Task.Token' },
        Retry: [{ ErrorEquals: ['X'], MaxAttempts: 1 }],
      }),
    });
    await outcome(
      m,
      {},
      {
        handlers: {
          T: async (input: { token: string }, t: TaskContext) => {
            seen.push({ param: input.token, token: t.token });
            if (seen.length === 1) throw fails('X');
          },
        },
        retryIntervalMs: { T: 1 },
      },
    );
    expect(seen.map((s) => s.param === s.token)).toEqual([true, true]);
    expect(seen[0]!.token).not.toBe(seen[1]!.token);
  });

  test('given a Parallel, when its branches succeed, then its result lists their outputs in order, through ResultSelector', async () => {
    const m = machine({
      Par: {
        Type: 'Parallel',
        End: true,
        ResultSelector: { 'first.$': '$[0].r', 'second.$': '$[1]' },
        Branches: [
          { StartAt: 'A', States: { A: task({ ResultPath: '$.r' }) } },
          { StartAt: 'B', States: { B: { Type: 'Pass', Result: 'b', End: true } } },
        ],
      },
    });
    expect(await outcome(m, { in: 1 }, { handlers: { A: async () => 'a' } })).toEqual({
      output: { first: 'a', second: 'b' },
    });
  });

  test('given a Parallel whose branch fails, when another branch waits, then the other is stopped and the Catch gets the branch error', async () => {
    let stopped = false;
    const m = machine({
      Par: {
        Type: 'Parallel',
        Next: 'Done',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Done' }],
        Branches: [
          { StartAt: 'Bad', States: { Bad: task() } },
          { StartAt: 'Slow', States: { Slow: task() } },
        ],
      },
      Done: { Type: 'Succeed' },
    });
    const result = await outcome(
      m,
      {},
      {
        handlers: {
          Bad: async () => Promise.reject(fails('ResyncFailed', 'agent down')),
          Slow: (_: unknown, t: TaskContext) =>
            new Promise((resolve) =>
              t.signal.addEventListener('abort', () => ((stopped = true), resolve(1))),
            ),
        },
      },
    );
    expect({ result, stopped }).toEqual({
      result: { output: { error: { Error: 'ResyncFailed', Cause: 'agent down' } } },
      stopped: true,
    });
  });

  test('given a Map with ItemSelector and MaxConcurrency 2, when it runs 5 items, then at most 2 run at once and the results keep item order', async () => {
    let running = 0;
    let most = 0;
    const m = machine({
      M: {
        Type: 'Map',
        End: true,
        ItemsPath: '$.items',
        MaxConcurrency: 2,
        ItemSelector: { 'tag.$': '$.tag', 'value.$': '$$.Map.Item.Value', 'index.$': '$$.Map.Item.Index' },
        ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'Each', States: { Each: task() } },
      },
    });
    const result = await outcome(
      m,
      { tag: 't', items: [5, 1, 4, 2, 3] },
      {
        handlers: {
          Each: async (input: { tag: string; value: number; index: number }) => {
            most = Math.max(most, ++running);
            await new Promise((r) => setTimeout(r, input.value * 3));
            running--;
            return `${input.tag}${input.index}:${input.value}`;
          },
        },
      },
    );
    expect({ most, result }).toEqual({
      most: 2,
      result: { output: ['t0:5', 't1:1', 't2:4', 't3:2', 't4:3'] },
    });
  });

  test('given a Map of 40 tasks running at once (the ResyncNodes of a large scale-in), then Node warns of no listener leak', () => {
    // Node's warning goes to the real process's stderr, which a jest sandbox does not see: run it alone.
    const script = `
      const { StateMachine } = require(${JSON.stringify(join(__dirname, '../../../../dist/local/asl'))});
      const m = new StateMachine({ StartAt: 'M', States: { M: { Type: 'Map', End: true, MaxConcurrency: 40,
        ItemProcessor: { StartAt: 'Each', States: { Each: { Type: 'Task', Resource: 'arn:aws:lambda:x', End: true } } } } } });
      let running = 0, most = 0;
      m.run(Array.from({ length: 60 }, (_, i) => i), { handlers: { Each: async (i) => {
        most = Math.max(most, ++running); await new Promise((r) => setTimeout(r, 20)); running--; return i;
      } } }).result.then((out) => setImmediate(() => console.log(JSON.stringify({ most, n: out.length }))));`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30000 });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ most: 40, n: 60 });
  });

  test('given a Map whose iteration fails, when no Catch takes it, then the execution fails with that iteration error', async () => {
    const m = machine({
      M: { Type: 'Map', End: true, Iterator: { StartAt: 'Each', States: { Each: task() } } },
    });
    const result = await outcome(m, [1, 2, 3], {
      handlers: { Each: async (n: number) => (n === 2 ? Promise.reject(fails('CleanupFailed', 'n=2')) : n) },
    });
    expect(result).toEqual({ name: 'ExecutionFailedError', error: 'CleanupFailed', cause: 'n=2' });
    expect(await outcome(m, [], { handlers: {} })).toEqual({ output: [] });
  });

  test('given an execution, when it is aborted during a Wait, then result rejects with ExecutionAbortedError', async () => {
    const execution = machine({ W: { Type: 'Wait', Seconds: 3600, End: true } }).run({}, { handlers: {} });
    setTimeout(() => execution.abort(), 10);
    await expect(execution.result).rejects.toBeInstanceOf(ExecutionAbortedError);
  });

  test('given an execution over its TimeoutSeconds, when it runs, then it fails with States.Timeout', async () => {
    const m = machine({ W: { Type: 'Wait', Seconds: 3600, End: true } }, 'W', { TimeoutSeconds: 0.02 });
    expect(await outcome(m, {}, { handlers: {} })).toMatchObject({ error: 'States.Timeout' });
  });

  test.each([
    [{ StartAt: 'Nope', States: { A: { Type: 'Succeed' } } }, /StartAt/],
    [{ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' } } }, /Next/],
    [{ StartAt: 'A', States: { A: { Type: 'Teleport', End: true } } }, /Type/],
    [{ StartAt: 'A', QueryLanguage: 'JSONata', States: { A: { Type: 'Succeed' } } }, /JSONata/],
    [{ StartAt: 'A', States: { A: { Type: 'Pass', End: true, InputPath: '$..x' } } }, /not supported/],
    [
      { StartAt: 'A', States: { A: { Type: 'Pass', End: true, Parameters: { 'x.$': 'States.Nope()' } } } },
      /unknown function/,
    ],
    [{ StartAt: 'A', States: { A: { Type: 'Pass', End: true, Retry: [] } } }, /may not Retry/],
    [{ StartAt: 'A', States: { A: { Type: 'Wait', End: true } } }, /exactly one/],
    [
      {
        StartAt: 'A',
        States: {
          A: {
            Type: 'Map',
            End: true,
            ItemProcessor: {
              ProcessorConfig: { Mode: 'DISTRIBUTED' },
              StartAt: 'B',
              States: { B: { Type: 'Succeed' } },
            },
          },
        },
      },
      /INLINE/,
    ],
    [{ StartAt: 'A', States: { A: { Type: 'Task', Resource: 'x', End: true, Arguments: {} } } }, /Arguments/],
  ])(
    'given a definition it cannot run (%#), when constructed, then it is refused with AslDefinitionError',
    (definition, why) => {
      expect(() => new StateMachine(definition)).toThrow(AslDefinitionError);
      expect(() => new StateMachine(definition)).toThrow(why);
    },
  );
});
