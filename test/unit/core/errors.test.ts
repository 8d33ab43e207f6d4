import { AstaireError, describeValue, InvalidArgumentError, TopologyValidationError } from '../../../core';

describe('errors', () => {
  it('given each error class, then its name is fixed (Retry/Catch match on it)', () => {
    expect(new AstaireError('x').name).toBe('AstaireError');
    expect(new InvalidArgumentError('x').name).toBe('InvalidArgumentError');
    expect(new TopologyValidationError('s', 'f', 1, 'bad').name).toBe('TopologyValidationError');
  });

  it('given a cause, then it is kept', () => {
    const cause = new Error('root');
    expect(new AstaireError('x', { cause }).cause).toBe(cause);
  });

  it.each([
    [undefined, 'nothing'],
    ['abc', '"abc"'],
    [{ a: 1 }, '{"a":1}'],
    ['x'.repeat(200), `"${'x'.repeat(76)}...`],
    [Symbol.for('s'), 'Symbol(s)'],
    [10n, '10'],
  ])('given %p, then it is described as %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });
});
