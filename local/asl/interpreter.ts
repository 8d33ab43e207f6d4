import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { checkDefinition, type StateDefinition, type StatesDefinition } from './definition';
import { ExecutionAbortedError, ExecutionFailedError, StatesError, StatesErrors } from './errors';
import { selectPath } from './paths';
import { firstMatch, retryDelayMs } from './retry';
import { chooseNext, effectiveInput, failure, filterOutput, runPass, stateOutput, waitMs } from './states';
import { resolvePayload } from './payload';

/** What a Task's local handler gets besides its input: the callback pattern's token, heartbeats, cancellation. */
export interface TaskContext {
  readonly stateName: string;
  /** `$$.Task.Token` of this attempt. */
  readonly token: string;
  /** Aborted when the task times out, misses a heartbeat, or its execution, branch or Map stops. */
  readonly signal: AbortSignal;
  /** SendTaskHeartbeat: restarts the HeartbeatSeconds clock. */
  heartbeat(): void;
}

/** A Task state's local stand-in (a Lambda handler, the SSM agent): its resolved Parameters in, its result out. */
export type TaskHandler = (input: never, task: TaskContext) => unknown;

export interface RunOptions {
  /** Every Task state's handler, by state name (Resource ARNs are not called). */
  readonly handlers: Readonly<Record<string, TaskHandler>>;
  /** Wait states' durations here, in ms, by state name (local mode shortens them). */
  readonly waitMs?: Readonly<Record<string, number>>;
  /** Every retry's delay of a state, in ms, by state name (tests shorten them). */
  readonly retryIntervalMs?: Readonly<Record<string, number>>;
  /** Parts of the context object (https://states-language.net/spec.html#context-object) to set. */
  readonly context?: {
    readonly Execution?: { readonly Id?: string; readonly Name?: string; readonly StartTime?: string };
    /** A fixed task token for every Task (default: a new one per attempt). */
    readonly Task?: { readonly Token?: string };
  };
  /** Called for each event, in order (for logs and tests). */
  readonly onEvent?: (event: AslEvent) => void;
}

export interface AslEvent {
  readonly type: 'StateEntered' | 'StateExited' | 'StateRetried' | 'StateCaught' | 'StateFailed';
  readonly state: string;
  readonly stateType: StateDefinition['Type'];
  /** The enclosing Parallel branches and Map iterations, e.g. `['MigrateData', 'branch 0', 'ResyncNodes', 'item 1']`. */
  readonly path: readonly string[];
  readonly error?: string;
  readonly cause?: string;
}

export interface Execution {
  /** The output; rejects with ExecutionFailedError, or ExecutionAbortedError after abort(). */
  readonly result: Promise<unknown>;
  /** StopExecution: stops every running state (Tasks see their signal aborted) and rejects `result`. */
  abort(): void;
  /** Every event so far. */
  readonly events: readonly AslEvent[];
}

/**
 * A state machine run in-process: the JSONPath subset of the Amazon States Language that the
 * workflow CDK synthesizes uses (https://states-language.net/spec.html), each Task bound to a local
 * handler by state name. The definition is checked when constructed (AslDefinitionError).
 */
export class StateMachine {
  private readonly definition: StatesDefinition;
  constructor(definition: unknown) {
    this.definition = definition as StatesDefinition;
    checkDefinition(this.definition);
  }

  run(input: unknown, options: RunOptions): Execution {
    const events: AslEvent[] = [];
    const stop = new AbortController();
    const name = options.context?.Execution?.Name ?? randomUUID();
    const context = {
      Execution: {
        Id: options.context?.Execution?.Id ?? `arn:aws:states:local:000000000000:execution:local:${name}`,
        Name: name,
        Input: input,
        StartTime: options.context?.Execution?.StartTime ?? new Date().toISOString(),
      },
      StateMachine: { Id: 'arn:aws:states:local:000000000000:stateMachine:local', Name: 'local' },
    };
    const runner = new Runner(options, context, events);
    const seconds = this.definition.TimeoutSeconds;
    // The execution's own TimeoutSeconds (https://states-language.net/spec.html#toplevelfields): States.Timeout.
    const timer =
      seconds === undefined
        ? undefined
        : setTimeout(
            () => stop.abort(new StatesError(StatesErrors.Timeout, `execution ran over ${seconds} s`)),
            seconds * 1000,
          );
    timer?.unref();
    const result = runner.runStates(this.definition, input, [], stop.signal).then(
      (output) => output,
      (error: unknown) => {
        if (error instanceof ExecutionAbortedError) throw error;
        const e = asStatesError(error);
        throw new ExecutionFailedError(e.name, e.message);
      },
    );
    void result.finally(() => clearTimeout(timer)).catch(() => undefined);
    return { result, abort: () => stop.abort(new ExecutionAbortedError()), events };
  }
}

type Context = Record<string, unknown>;

class Runner {
  constructor(
    private readonly options: RunOptions,
    private readonly context: Context,
    private readonly events: AslEvent[],
  ) {}

  async runStates(
    machine: StatesDefinition,
    input: unknown,
    path: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown> {
    let name = machine.StartAt;
    let data = input;
    for (;;) {
      signal.throwIfAborted();
      const state = machine.States[name]!;
      const context: Context = {
        ...this.context,
        State: { Name: name, EnteredTime: new Date().toISOString(), RetryCount: 0 },
      };
      this.emit({ type: 'StateEntered', state: name, stateType: state.Type, path });
      let step: { output: unknown; next?: string };
      try {
        step = await this.runState(name, state, data, context, path, signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const e = asStatesError(error);
        this.emit({
          type: 'StateFailed',
          state: name,
          stateType: state.Type,
          path,
          error: e.name,
          cause: e.message,
        });
        throw e;
      }
      this.emit({ type: 'StateExited', state: name, stateType: state.Type, path });
      if (step.next === undefined) return step.output;
      name = step.next;
      data = step.output;
    }
  }

  private async runState(
    name: string,
    state: StateDefinition,
    raw: unknown,
    context: Context,
    path: readonly string[],
    signal: AbortSignal,
  ): Promise<{ output: unknown; next?: string }> {
    const next = state.End ? undefined : state.Next;
    switch (state.Type) {
      case 'Pass':
        return { output: runPass(state, raw, context), next };
      case 'Succeed':
        return { output: filterOutput(state, effectiveInput(state, raw, context), context) };
      case 'Fail':
        throw failure(state, raw, context);
      case 'Choice': {
        const input = effectiveInput(state, raw, context);
        return { output: filterOutput(state, input, context), next: chooseNext(state, name, input, context) };
      }
      case 'Wait': {
        const input = effectiveInput(state, raw, context);
        await sleep(this.options.waitMs?.[name] ?? waitMs(state, input, context), signal);
        return { output: filterOutput(state, input, context), next };
      }
      default:
        return this.withRetryAndCatch(name, state, raw, context, path, signal, next);
    }
  }

  /**
   * Task, Parallel and Map (https://states-language.net/spec.html#errors): on an error the first
   * retrier that matches retries it while it has attempts left (each retrier counts its own); when
   * none applies, the first catcher that matches puts `{Error, Cause}` at its ResultPath and goes
   * to its Next; otherwise the state fails with the error.
   */
  private async withRetryAndCatch(
    name: string,
    state: StateDefinition,
    raw: unknown,
    context: Context,
    path: readonly string[],
    signal: AbortSignal,
    next: string | undefined,
  ): Promise<{ output: unknown; next?: string }> {
    const attempts = (state.Retry ?? []).map(() => 0);
    for (let retryCount = 0; ; retryCount++) {
      const attemptContext: Context = {
        ...context,
        State: { ...(context.State as object), RetryCount: retryCount },
      };
      // Each attempt of a Task has its own token (a callback to an old attempt's token must not count).
      if (state.Type === 'Task')
        attemptContext.Task = { Token: this.options.context?.Task?.Token ?? randomUUID() };
      try {
        // A Map's Parameters (the old name of ItemSelector) apply per item, not to the whole input.
        const input = effectiveInput(
          state.Type === 'Map' ? { ...state, Parameters: undefined } : state,
          raw,
          attemptContext,
        );
        const result =
          state.Type === 'Task'
            ? await this.runTask(name, state, input, attemptContext, signal)
            : state.Type === 'Parallel'
              ? await this.runParallel(name, state, input, path, signal)
              : await this.runMap(name, state, input, attemptContext, path, signal);
        return { output: stateOutput(state, raw, result, attemptContext), next };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const e = asStatesError(error);
        const r = firstMatch(state.Retry, e.name);
        const retrier = state.Retry?.[r];
        if (retrier && attempts[r]! < (retrier.MaxAttempts ?? 3)) {
          const delay = this.options.retryIntervalMs?.[name] ?? retryDelayMs(retrier, attempts[r]!);
          attempts[r]!++;
          this.emit({
            type: 'StateRetried',
            state: name,
            stateType: state.Type,
            path,
            error: e.name,
            cause: e.message,
          });
          await sleep(delay, signal);
          continue;
        }
        const catcher = state.Catch?.[firstMatch(state.Catch, e.name)];
        if (!catcher) throw e;
        this.emit({
          type: 'StateCaught',
          state: name,
          stateType: state.Type,
          path,
          error: e.name,
          cause: e.message,
        });
        const output = stateOutputOfCatch(raw, catcher.ResultPath, { Error: e.name, Cause: e.message });
        return { output, next: catcher.Next };
      }
    }
  }

  /**
   * A Task: its handler, raced against TimeoutSeconds (States.Timeout) and HeartbeatSeconds
   * (States.HeartbeatTimeout), with no timeout when neither is set (as on AWS, whose default is
   * far longer than the spec's 60 s). Input and result cross as JSON, as they would to a Lambda.
   */
  private async runTask(
    name: string,
    state: StateDefinition,
    input: unknown,
    context: Context,
    outer: AbortSignal,
  ): Promise<unknown> {
    const handler = this.options.handlers[name];
    if (!handler)
      throw new StatesError(StatesErrors.Runtime, `no local handler is bound to the Task state ${name}`);
    const seconds = (value: number | undefined, path: string | undefined, field: string) => {
      const v = path === undefined ? value : selectPath(path, input, context, field);
      if (v !== undefined && (typeof v !== 'number' || v <= 0))
        throw new StatesError(
          StatesErrors.Runtime,
          `${field} of ${name} must be a positive number, got ${JSON.stringify(v)}`,
        );
      return v;
    };
    const timeout = seconds(state.TimeoutSeconds, state.TimeoutSecondsPath, 'TimeoutSeconds');
    const heartbeat = seconds(state.HeartbeatSeconds, state.HeartbeatSecondsPath, 'HeartbeatSeconds');
    const token = (context.Task as { Token: string }).Token;
    const controller = new AbortController();
    const timers: NodeJS.Timeout[] = [];
    let failed: (e: StatesError) => void = () => undefined;
    const failedPromise = new Promise<never>((_, reject) => (failed = reject));
    const fail = (e: StatesError) => {
      controller.abort(e);
      failed(e);
    };
    const onOuterAbort = () => {
      controller.abort(outer.reason);
      failed(outer.reason as StatesError);
    };
    outer.addEventListener('abort', onOuterAbort, { once: true });
    if (timeout !== undefined)
      timers.push(
        setTimeout(
          () =>
            fail(new StatesError(StatesErrors.Timeout, `${name} ran over its TimeoutSeconds (${timeout})`)),
          timeout * 1000,
        ),
      );
    let heartbeatTimer: NodeJS.Timeout | undefined;
    const beat = () => {
      if (heartbeat === undefined || controller.signal.aborted) return;
      clearTimeout(heartbeatTimer);
      heartbeatTimer = setTimeout(
        () =>
          fail(
            new StatesError(StatesErrors.HeartbeatTimeout, `${name} sent no heartbeat for ${heartbeat} s`),
          ),
        heartbeat * 1000,
      );
    };
    beat();
    const task: TaskContext = { stateName: name, token, signal: controller.signal, heartbeat: beat };
    try {
      const running = Promise.resolve().then(() => handler(jsonCopy(input) as never, task));
      running.catch(() => undefined);
      return jsonCopy(await Promise.race([running, failedPromise]));
    } finally {
      outer.removeEventListener('abort', onOuterAbort);
      for (const t of timers) clearTimeout(t);
      clearTimeout(heartbeatTimer);
      failedPromise.catch(() => undefined);
      if (!controller.signal.aborted)
        controller.abort(new StatesError(StatesErrors.Runtime, `${name} ended`));
    }
  }

  /** Parallel: every branch gets the effective input; the result is their outputs in order. One failure stops the others. */
  private async runParallel(
    name: string,
    state: StateDefinition,
    input: unknown,
    path: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown[]> {
    return this.all(
      state.Branches!.map(
        (branch, i) => (s: AbortSignal) => this.runStates(branch, input, [...path, name, `branch ${i}`], s),
      ),
      0,
      signal,
    );
  }

  /**
   * Map (inline): each item of ItemsPath (of the effective input) through the processor, at most
   * MaxConcurrency at once (0: no limit); ItemSelector (formerly Parameters) builds each iteration's
   * input with `$$.Map.Item.Index` and `$$.Map.Item.Value`. The result is the outputs in item order.
   */
  private async runMap(
    name: string,
    state: StateDefinition,
    input: unknown,
    context: Context,
    path: readonly string[],
    signal: AbortSignal,
  ): Promise<unknown[]> {
    const items =
      state.ItemsPath === undefined ? input : selectPath(state.ItemsPath, input, context, 'ItemsPath');
    if (!Array.isArray(items))
      throw new StatesError(
        StatesErrors.Runtime,
        `ItemsPath of ${name} must select an array, got ${JSON.stringify(items)}`,
      );
    const processor = (state.ItemProcessor ?? state.Iterator)!;
    const selector = state.ItemSelector ?? state.Parameters;
    return this.all(
      items.map((value, index) => (s: AbortSignal) => {
        // $$.Map exists in ItemSelector only (developer guide, "ItemSelector (Map)"), not in the iteration's states.
        const mapContext = { ...context, Map: { Item: { Index: index, Value: value } } };
        const itemInput =
          selector === undefined ? value : resolvePayload(selector, input, mapContext, 'ItemSelector');
        return this.runStates(processor, itemInput, [...path, name, `item ${index}`], s);
      }),
      state.MaxConcurrency ?? 0,
      signal,
    );
  }

  /** Runs jobs with a concurrency limit; the first failure stops the rest (their signal aborts) and is thrown once all have settled. */
  private async all(
    jobs: ((signal: AbortSignal) => Promise<unknown>)[],
    limit: number,
    signal: AbortSignal,
  ): Promise<unknown[]> {
    const controller = new AbortController();
    // Every job running at once listens on it (a Map of 40 Tasks: 40 listeners), none for longer than it runs.
    setMaxListeners(0, controller.signal);
    const forward = () => controller.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    const results: unknown[] = new Array(jobs.length);
    let failure: { error: unknown } | undefined;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && !controller.signal.aborted) {
        const i = next++;
        try {
          results[i] = await jobs[i]!(controller.signal);
        } catch (error) {
          if (!failure && !signal.aborted) {
            failure = { error };
            controller.abort(
              new StatesError(StatesErrors.Runtime, 'stopped: another branch or iteration failed'),
            );
          }
        }
      }
    };
    try {
      const width = limit > 0 ? Math.min(limit, jobs.length) : jobs.length;
      await Promise.all(Array.from({ length: width }, worker));
    } finally {
      signal.removeEventListener('abort', forward);
    }
    signal.throwIfAborted();
    if (failure) throw failure.error;
    return results;
  }

  private emit(event: AslEvent): void {
    this.events.push(event);
    this.options.onEvent?.(event);
  }
}

function stateOutputOfCatch(raw: unknown, resultPath: string | null | undefined, error: unknown): unknown {
  return stateOutput({ Type: 'Task', ResultPath: resultPath }, raw, error, {});
}

function asStatesError(error: unknown): StatesError {
  if (error instanceof StatesError) return error;
  if (error instanceof Error) return new StatesError(error.name || StatesErrors.TaskFailed, error.message);
  return new StatesError(StatesErrors.TaskFailed, String(error));
}

function jsonCopy(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
