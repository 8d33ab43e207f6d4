import { evaluateRule } from './choice';
import type { StateDefinition } from './definition';
import { StatesError, StatesErrors } from './errors';
import { resolvePayload } from './payload';
import { applyResultPath, selectPath } from './paths';

/**
 * Input and output processing (https://states-language.net/spec.html#filters, and the AWS developer
 * guide "Processing input and output in Step Functions"): InputPath, then Parameters, give the
 * effective input; the raw result goes through ResultSelector, then ResultPath (into the raw input),
 * then OutputPath. A null InputPath or OutputPath gives `{}`.
 */
export function effectiveInput(state: StateDefinition, rawInput: unknown, context: unknown): unknown {
  const selected = selectOrEmpty(state.InputPath, rawInput, context, 'InputPath');
  return state.Parameters === undefined
    ? selected
    : resolvePayload(state.Parameters, selected, context, 'Parameters');
}

export function stateOutput(
  state: StateDefinition,
  rawInput: unknown,
  result: unknown,
  context: unknown,
): unknown {
  const selected =
    state.ResultSelector === undefined
      ? result
      : resolvePayload(state.ResultSelector, result, context, 'ResultSelector');
  return filterOutput(state, applyResultPath(rawInput, state.ResultPath, selected), context);
}

/** OutputPath alone (Choice, Wait, Succeed: states with no result). */
export function filterOutput(state: StateDefinition, output: unknown, context: unknown): unknown {
  return selectOrEmpty(state.OutputPath, output, context, 'OutputPath');
}

function selectOrEmpty(
  path: string | null | undefined,
  data: unknown,
  context: unknown,
  field: string,
): unknown {
  if (path === null) return {};
  return path === undefined || path === '$' ? data : selectPath(path, data, context, field);
}

/** Pass: its Result (or its effective input) is its result. */
export function runPass(state: StateDefinition, rawInput: unknown, context: unknown): unknown {
  const input = effectiveInput(state, rawInput, context);
  return stateOutput(state, rawInput, state.Result === undefined ? input : state.Result, context);
}

/** Choice: the Next of the first rule that matches, else Default, else States.NoChoiceMatched. */
export function chooseNext(state: StateDefinition, name: string, input: unknown, context: unknown): string {
  for (const rule of state.Choices ?? []) if (evaluateRule(rule, input, context)) return rule.Next;
  if (state.Default !== undefined) return state.Default;
  throw new StatesError(
    StatesErrors.NoChoiceMatched,
    `no Choice rule of ${name} matched and it has no Default`,
  );
}

/** Wait: how long, in ms (Seconds, SecondsPath, Timestamp or TimestampPath, from now). */
export function waitMs(state: StateDefinition, input: unknown, context: unknown, now = Date.now()): number {
  if (state.Seconds !== undefined) return state.Seconds * 1000;
  if (state.SecondsPath !== undefined) {
    const seconds = selectPath(state.SecondsPath, input, context, 'SecondsPath');
    if (typeof seconds !== 'number' || seconds < 0)
      throw new StatesError(
        StatesErrors.Runtime,
        `SecondsPath ${state.SecondsPath} is not a non-negative number: ${JSON.stringify(seconds)}`,
      );
    return seconds * 1000;
  }
  const stamp = state.Timestamp ?? selectPath(state.TimestampPath!, input, context, 'TimestampPath');
  const at = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
  if (Number.isNaN(at))
    throw new StatesError(StatesErrors.Runtime, `Wait timestamp is not one: ${JSON.stringify(stamp)}`);
  return Math.max(0, at - now);
}

/** Fail: the error its Error/ErrorPath and Cause/CausePath name (paths over its raw input, each a string). */
export function failure(state: StateDefinition, input: unknown, context: unknown): StatesError {
  const text = (value: string | undefined, path: string | undefined, field: string): string | undefined => {
    if (path === undefined) return value;
    const v = selectPath(path, input, context, field);
    if (typeof v !== 'string')
      throw new StatesError(StatesErrors.Runtime, `${field} ${path} is not a string: ${JSON.stringify(v)}`);
    return v;
  };
  return new StatesError(
    text(state.Error, state.ErrorPath, 'ErrorPath') ?? 'States.Fail',
    text(state.Cause, state.CausePath, 'CausePath') ?? '',
  );
}
