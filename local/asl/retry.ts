import { isTerminal, StatesErrors } from './errors';

/**
 * Retry and Catch (https://states-language.net/spec.html#errors, "Retrying after error" and
 * "Fallback states"; AWS developer guide "Handling errors in Step Functions workflows").
 */
export interface Retrier {
  readonly ErrorEquals: readonly string[];
  /** @default 1 */
  readonly IntervalSeconds?: number;
  /** 0 means never retry (and no later retrier is tried for these errors). @default 3 */
  readonly MaxAttempts?: number;
  /** @default 2 */
  readonly BackoffRate?: number;
  readonly MaxDelaySeconds?: number;
  /** FULL: a random delay between 0 and the computed one. @default 'NONE' */
  readonly JitterStrategy?: 'FULL' | 'NONE';
}

export interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly Next: string;
  /** @default '$' */
  readonly ResultPath?: string | null;
}

/**
 * Whether an ErrorEquals entry matches an error: its own name; States.ALL anything; States.TaskFailed
 * anything but a timeout; States.Timeout also a heartbeat timeout (the developer guide's list of error
 * names: a missed heartbeat is a States.Timeout, and States.HeartbeatTimeout names it in Retry and
 * Catch only). Neither wildcard takes States.Runtime, which ends the execution.
 */
export function errorMatches(pattern: string, error: string): boolean {
  if (isTerminal(error)) return false;
  if (pattern === error || pattern === StatesErrors.ALL) return true;
  if (pattern === StatesErrors.Timeout) return error === StatesErrors.HeartbeatTimeout;
  return (
    pattern === StatesErrors.TaskFailed &&
    error !== StatesErrors.Timeout &&
    error !== StatesErrors.HeartbeatTimeout
  );
}

/** The first retrier or catcher whose ErrorEquals matches, by index; -1 if none. */
export function firstMatch(
  rules: readonly { ErrorEquals: readonly string[] }[] | undefined,
  error: string,
): number {
  return (rules ?? []).findIndex((r) => r.ErrorEquals.some((p) => errorMatches(p, error)));
}

/**
 * The delay before retry number `attempt` (0 for the first): IntervalSeconds x BackoffRate^attempt,
 * at most MaxDelaySeconds, and with JitterStrategy FULL a uniformly random share of it.
 */
export function retryDelayMs(retrier: Retrier, attempt: number, random: () => number = Math.random): number {
  let seconds = (retrier.IntervalSeconds ?? 1) * Math.pow(retrier.BackoffRate ?? 2, attempt);
  if (retrier.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === 'FULL') seconds *= random();
  return seconds * 1000;
}

/** Loading checks (spec: States.ALL must appear alone, and only in the last retrier or catcher). */
export function checkErrorRules(rules: unknown, where: string): void {
  if (rules === undefined) return;
  if (!Array.isArray(rules)) throw new Error(`${where} must be an array`);
  rules.forEach((rule: { ErrorEquals?: unknown }, i) => {
    const list = rule.ErrorEquals;
    if (!Array.isArray(list) || list.length === 0 || list.some((e) => typeof e !== 'string'))
      throw new Error(`${where}[${i}].ErrorEquals must be a non-empty array of error names`);
    if (list.includes(StatesErrors.ALL) && (list.length !== 1 || i !== rules.length - 1))
      throw new Error(`${where}[${i}]: States.ALL must appear alone, in the last rule`);
  });
}
