import { checkErrorRules, errorMatches, firstMatch, retryDelayMs } from '../../../../local/asl/retry';

describe('ASL Retry and Catch matching', () => {
  test('given the wildcards, when matched, then States.ALL takes every error but States.Runtime, and States.TaskFailed also spares timeouts', () => {
    expect(errorMatches('States.ALL', 'ResyncFailed')).toBe(true);
    expect(errorMatches('States.ALL', 'States.Timeout')).toBe(true);
    expect(errorMatches('States.ALL', 'States.Runtime')).toBe(false);
    expect(errorMatches('States.Runtime', 'States.Runtime')).toBe(false);
    expect(errorMatches('States.TaskFailed', 'ResyncFailed')).toBe(true);
    expect(errorMatches('States.TaskFailed', 'States.Timeout')).toBe(false);
    expect(errorMatches('States.TaskFailed', 'States.HeartbeatTimeout')).toBe(false);
    expect(errorMatches('States.Timeout', 'States.HeartbeatTimeout')).toBe(true);
    expect(errorMatches('Other', 'ResyncFailed')).toBe(false);
  });

  test('given retriers, when an error matches several, then the first one is chosen, even with MaxAttempts 0', () => {
    const rules = [
      { ErrorEquals: ['AccessDeniedException'], MaxAttempts: 0 },
      { ErrorEquals: ['States.ALL'] },
    ];
    expect(firstMatch(rules, 'AccessDeniedException')).toBe(0);
    expect(firstMatch(rules, 'TimeoutError')).toBe(1);
    expect(firstMatch(undefined, 'TimeoutError')).toBe(-1);
  });

  test('given a retrier, when delays are computed, then they grow by BackoffRate, stop at MaxDelaySeconds and FULL jitter scales them', () => {
    const r = { ErrorEquals: ['X'], IntervalSeconds: 3, BackoffRate: 2, MaxDelaySeconds: 30 };
    expect([0, 1, 2, 3, 4].map((n) => retryDelayMs(r, n))).toEqual([3000, 6000, 12000, 24000, 30000]);
    expect(retryDelayMs({ ...r, JitterStrategy: 'FULL' }, 2, () => 0.5)).toBe(6000);
    expect(retryDelayMs({ ErrorEquals: ['X'] }, 1)).toBe(2000);
  });

  test('given States.ALL anywhere but alone in the last rule, when checked, then it is refused', () => {
    expect(() => checkErrorRules([{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['X'] }], 'Retry')).toThrow(
      /last/,
    );
    expect(() => checkErrorRules([{ ErrorEquals: ['States.ALL', 'X'] }], 'Catch')).toThrow(/alone/);
    expect(() => checkErrorRules([{ ErrorEquals: [] }], 'Catch')).toThrow(/non-empty/);
  });
});
