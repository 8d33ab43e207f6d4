import { checkRule, evaluateRule } from '../../../../local/asl/choice';

const input = {
  s: 'launch',
  n: 5,
  b: true,
  t: '2025-01-01T00:00:00Z',
  later: '2025-01-02T00:00:00Z',
  z: null,
  l: [],
  other: 5,
};
const is = (rule: Record<string, unknown>) => evaluateRule(rule, input, {});

describe('ASL Choice rules', () => {
  test('given each comparison, when evaluated, then it compares values of its own type and is false for other types', () => {
    expect(is({ Variable: '$.s', StringEquals: 'launch' })).toBe(true);
    expect(is({ Variable: '$.s', StringLessThan: 'm' })).toBe(true);
    expect(is({ Variable: '$.s', StringMatches: 'la*h' })).toBe(true);
    expect(is({ Variable: '$.s', StringMatches: 'la\\*' })).toBe(false);
    expect(is({ Variable: '$.n', NumericGreaterThanEquals: 5 })).toBe(true);
    expect(is({ Variable: '$.n', NumericLessThan: 5 })).toBe(false);
    expect(is({ Variable: '$.n', NumericEqualsPath: '$.other' })).toBe(true);
    expect(is({ Variable: '$.b', BooleanEquals: true })).toBe(true);
    expect(is({ Variable: '$.t', TimestampLessThanPath: '$.later' })).toBe(true);
    expect(is({ Variable: '$.n', StringEquals: '5' })).toBe(false);
    expect(is({ Variable: '$.s', BooleanEquals: true })).toBe(false);
  });

  test('given the type tests, when evaluated, then IsPresent needs no value and the others test the type', () => {
    expect(is({ Variable: '$.missing', IsPresent: false })).toBe(true);
    expect(is({ Variable: '$.l[0]', IsPresent: true })).toBe(false);
    expect(is({ Variable: '$.z', IsNull: true })).toBe(true);
    expect(is({ Variable: '$.s', IsString: true })).toBe(true);
    expect(is({ Variable: '$.n', IsNumeric: true })).toBe(true);
    expect(is({ Variable: '$.b', IsBoolean: false })).toBe(false);
    expect(is({ Variable: '$.t', IsTimestamp: true })).toBe(true);
  });

  test('given And, Or and Not, when evaluated, then they combine their rules', () => {
    const launch = { Variable: '$.s', StringEquals: 'launch' };
    const terminate = { Variable: '$.s', StringEquals: 'terminate' };
    expect(is({ Or: [terminate, launch] })).toBe(true);
    expect(is({ And: [terminate, launch] })).toBe(false);
    expect(is({ Not: terminate })).toBe(true);
  });

  test('given a Variable that selects nothing, when compared, then it fails with States.Runtime', () => {
    expect(() => is({ Variable: '$.missing', StringEquals: 'x' })).toThrow(
      expect.objectContaining({ name: 'States.Runtime' }),
    );
  });

  test('given malformed rules, when checked, then each is refused', () => {
    expect(() => checkRule({ Variable: '$.s', StringLike: 'x' }, 'r')).toThrow(/unsupported/);
    expect(() => checkRule({ StringEquals: 'x' }, 'r')).toThrow(/Variable/);
    expect(() => checkRule({ And: [] }, 'r')).toThrow(/non-empty/);
    expect(() => checkRule({ Variable: '$..s', IsPresent: true }, 'r')).toThrow(/not supported/);
  });
});
