/**
 * Errors of the local ASL interpreter. A state's failure is a {@link StatesError}: its `name` is the
 * ASL error name that Retry and Catch match (`States.Timeout`, a handler's own error name, ...) and
 * its message is the Cause, as in the spec's "Errors" section
 * (https://states-language.net/spec.html#errors). Names are a contract: set explicitly.
 */
export class StatesError extends Error {
  override readonly name: string;
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** The predefined error names this interpreter raises (https://states-language.net/spec.html#appendix-a). */
export const StatesErrors = {
  ALL: 'States.ALL',
  TaskFailed: 'States.TaskFailed',
  Timeout: 'States.Timeout',
  HeartbeatTimeout: 'States.HeartbeatTimeout',
  Runtime: 'States.Runtime',
  NoChoiceMatched: 'States.NoChoiceMatched',
  ResultPathMatchFailure: 'States.ResultPathMatchFailure',
  ParameterPathFailure: 'States.ParameterPathFailure',
  IntrinsicFailure: 'States.IntrinsicFailure',
} as const;

/**
 * An error that no Retry or Catch may take, not even `States.ALL`: the AWS developer guide
 * ("Error handling in Step Functions", error names) says States.Runtime is not retriable and is not
 * caught by States.ALL; it always fails the execution.
 */
export function isTerminal(errorName: string): boolean {
  return errorName === StatesErrors.Runtime;
}

/** A definition this interpreter cannot run (unknown state type, bad path, missing Next...): found before the first state runs. */
export class AslDefinitionError extends Error {
  override readonly name = 'AslDefinitionError';
  constructor(
    readonly where: string,
    reason: string,
  ) {
    super(`${where}: ${reason}`);
  }
}

/** What `execution.result` rejects with when the execution fails: the error and cause of its last failure. */
export class ExecutionFailedError extends Error {
  override readonly name = 'ExecutionFailedError';
  constructor(
    readonly error: string,
    readonly cause: string,
  ) {
    super(`execution failed: ${error}: ${cause}`);
  }
}

/** What `execution.result` rejects with after `execution.abort()` (StopExecution). */
export class ExecutionAbortedError extends Error {
  override readonly name = 'ExecutionAbortedError';
  constructor() {
    super('execution aborted');
  }
}
