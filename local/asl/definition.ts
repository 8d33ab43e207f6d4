import type { ChoiceRule } from './choice';
import { checkRule } from './choice';
import { AslDefinitionError } from './errors';
import { checkPayload } from './payload';
import { parsePath } from './paths';
import { checkErrorRules, type Catcher, type Retrier } from './retry';

/** A state of a JSONPath definition, as far as this interpreter reads it (https://states-language.net/spec.html#state-types). */
export interface StateDefinition {
  readonly Type: 'Task' | 'Pass' | 'Choice' | 'Wait' | 'Succeed' | 'Fail' | 'Parallel' | 'Map';
  readonly Next?: string;
  readonly End?: boolean;
  readonly InputPath?: string | null;
  readonly OutputPath?: string | null;
  readonly ResultPath?: string | null;
  readonly Parameters?: unknown;
  readonly ResultSelector?: unknown;
  readonly Result?: unknown;
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
  // Task
  readonly Resource?: string;
  readonly TimeoutSeconds?: number;
  readonly TimeoutSecondsPath?: string;
  readonly HeartbeatSeconds?: number;
  readonly HeartbeatSecondsPath?: string;
  // Choice
  readonly Choices?: readonly (ChoiceRule & { Next: string })[];
  readonly Default?: string;
  // Wait
  readonly Seconds?: number;
  readonly SecondsPath?: string;
  readonly Timestamp?: string;
  readonly TimestampPath?: string;
  // Fail
  readonly Error?: string;
  readonly ErrorPath?: string;
  readonly Cause?: string;
  readonly CausePath?: string;
  // Parallel
  readonly Branches?: readonly StatesDefinition[];
  // Map
  readonly ItemsPath?: string;
  readonly ItemSelector?: unknown;
  readonly ItemProcessor?: StatesDefinition & { ProcessorConfig?: { Mode?: string } };
  readonly Iterator?: StatesDefinition;
  readonly MaxConcurrency?: number;
}

/** A state machine, a Parallel branch or a Map's processor. */
export interface StatesDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, StateDefinition>>;
  readonly TimeoutSeconds?: number;
  readonly QueryLanguage?: string;
}

const TYPES = ['Task', 'Pass', 'Choice', 'Wait', 'Succeed', 'Fail', 'Parallel', 'Map'];
const PATH_FIELDS = [
  'InputPath',
  'OutputPath',
  'ResultPath',
  'ItemsPath',
  'SecondsPath',
  'TimestampPath',
  'ErrorPath',
  'CausePath',
  'TimeoutSecondsPath',
  'HeartbeatSecondsPath',
] as const;
/** Fields this interpreter does not implement: a definition that uses one is refused rather than run wrongly. */
const UNSUPPORTED = [
  'Arguments',
  'Output',
  'Assign',
  'ItemReader',
  'ResultWriter',
  'ItemBatcher',
  'ToleratedFailurePercentage',
  'ToleratedFailureCount',
  'MaxConcurrencyPath',
  'Credentials',
];

/**
 * Checks a whole definition before it runs (the checks the spec's "MUST"s allow cheaply): every
 * state's Type, its Next/End, every path, payload template, intrinsic function, Choice rule and
 * Retry/Catch list, recursively into Parallel branches and Map processors. Throws AslDefinitionError.
 */
export function checkDefinition(definition: StatesDefinition, where = 'definition'): void {
  if (definition.QueryLanguage !== undefined && definition.QueryLanguage !== 'JSONPath')
    throw new AslDefinitionError(
      where,
      `QueryLanguage ${definition.QueryLanguage} is not supported (JSONPath only)`,
    );
  const states = definition.States;
  if (!states || typeof states !== 'object') throw new AslDefinitionError(where, 'States is missing');
  const exists = (name: unknown, field: string, at: string) => {
    if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(states, name))
      throw new AslDefinitionError(at, `${field} names no state of this machine: ${JSON.stringify(name)}`);
  };
  exists(definition.StartAt, 'StartAt', where);
  for (const [name, state] of Object.entries(states)) {
    const at = `${where} state ${name}`;
    try {
      checkState(state, at, exists);
    } catch (error) {
      if (error instanceof AslDefinitionError) throw error;
      throw new AslDefinitionError(at, (error as Error).message);
    }
  }
}

function checkState(
  state: StateDefinition,
  at: string,
  exists: (name: unknown, field: string, at: string) => void,
): void {
  if (!TYPES.includes(state.Type)) throw new Error(`Type ${JSON.stringify(state.Type)} is not supported`);
  if ((state as { QueryLanguage?: string }).QueryLanguage === 'JSONata')
    throw new Error('JSONata is not supported');
  for (const field of UNSUPPORTED) if (field in state) throw new Error(`${field} is not supported`);
  for (const field of PATH_FIELDS) {
    const value = state[field];
    if (value !== undefined && value !== null) parsePath(value);
  }
  checkPayload(state.Parameters, 'Parameters');
  checkPayload(state.ResultSelector, 'ResultSelector');
  checkPayload(state.ItemSelector, 'ItemSelector');
  if (state.Type === 'Choice') {
    if (!Array.isArray(state.Choices) || state.Choices.length === 0)
      throw new Error('Choices must be a non-empty array');
    state.Choices.forEach((rule, i) => {
      checkRule(rule, `Choices[${i}]`);
      exists(rule.Next, `Choices[${i}].Next`, at);
    });
    if (state.Default !== undefined) exists(state.Default, 'Default', at);
  } else if (state.Type !== 'Succeed' && state.Type !== 'Fail') {
    if (state.End === true) {
      if (state.Next !== undefined) throw new Error('has both Next and End');
    } else exists(state.Next, 'Next', at);
  }
  if (state.Retry || state.Catch) {
    if (!['Task', 'Parallel', 'Map'].includes(state.Type))
      throw new Error(`a ${state.Type} state may not Retry or Catch`);
    checkErrorRules(state.Retry, 'Retry');
    checkErrorRules(state.Catch, 'Catch');
    state.Catch?.forEach((c, i) => exists(c.Next, `Catch[${i}].Next`, at));
  }
  if (state.Type === 'Task' && typeof state.Resource !== 'string') throw new Error('a Task needs a Resource');
  if (state.Type === 'Wait') {
    const given = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter((f) => f in state);
    if (given.length !== 1)
      throw new Error('a Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath');
  }
  if (state.Type === 'Parallel') {
    if (!Array.isArray(state.Branches) || state.Branches.length === 0)
      throw new Error('Branches must be a non-empty array');
    state.Branches.forEach((b, i) => checkDefinition(b, `${at} branch ${i}`));
  }
  if (state.Type === 'Map') {
    const processor = state.ItemProcessor ?? state.Iterator;
    if (!processor) throw new Error('a Map needs an ItemProcessor (or Iterator)');
    const mode = state.ItemProcessor?.ProcessorConfig?.Mode;
    if (mode !== undefined && mode !== 'INLINE')
      throw new Error(`ProcessorConfig.Mode ${mode} is not supported (INLINE only)`);
    if (state.ItemSelector !== undefined && state.Parameters !== undefined)
      throw new Error('a Map has ItemSelector or Parameters, not both');
    checkDefinition(processor, `${at} processor`);
  }
}
