import { StatesError } from '../../../../local/asl';
import { applyResultPath, parsePath, readPath, selectPath } from '../../../../local/asl/paths';

const input = { a: { b: [10, { c: 'x' }] }, 'odd key': 1 };

describe('ASL paths', () => {
  test('given reference paths, when read, then each selects its node, and a missing key or index is not found', () => {
    expect(readPath(parsePath('$'), input, {})).toEqual({ found: true, value: input });
    expect(readPath(parsePath('$.a.b[1].c'), input, {})).toEqual({ found: true, value: 'x' });
    expect(readPath(parsePath("$['odd key']"), input, {})).toEqual({ found: true, value: 1 });
    expect(readPath(parsePath('$$.Execution.Id'), input, { Execution: { Id: 'e' } })).toEqual({
      found: true,
      value: 'e',
    });
    expect(readPath(parsePath('$.a.b[2]'), input, {})).toEqual({ found: false });
    expect(readPath(parsePath('$.a.nope'), input, {})).toEqual({ found: false });
    expect(readPath(parsePath('$.a.b.c'), input, {})).toEqual({ found: false });
  });

  test('given a path that selects nothing, when selected, then it fails with States.Runtime naming the path', () => {
    expect(() => selectPath('$.nope', input, {}, 'InputPath')).toThrow(
      expect.objectContaining({ name: 'States.Runtime', message: expect.stringContaining('$.nope') }),
    );
  });

  test.each(['$..a', '$.a[*]', '$.a[?(@.b)]', '$.a[0:2]', 'a.b', '$.'])(
    'given the unsupported path %s, when parsed, then it is refused',
    (path) => expect(() => parsePath(path)).toThrow(/path/),
  );

  test('given ResultPath null, $, or deeper, when applied, then the result is discarded, replaces the input, or is set on a copy creating missing objects', () => {
    const raw = { keep: 1, deep: { x: 1 } };
    expect(applyResultPath(raw, null, 'r')).toBe(raw);
    expect(applyResultPath(raw, undefined, 'r')).toBe('r');
    expect(applyResultPath(raw, '$', 'r')).toBe('r');
    expect(applyResultPath(raw, '$.deep.y', 'r')).toEqual({ keep: 1, deep: { x: 1, y: 'r' } });
    expect(applyResultPath(raw, '$.new.path', 'r')).toEqual({ keep: 1, deep: { x: 1 }, new: { path: 'r' } });
    expect(applyResultPath({ l: [1, { a: 1 }] }, '$.l[1].b', 2)).toEqual({ l: [1, { a: 1, b: 2 }] });
    expect(raw).toEqual({ keep: 1, deep: { x: 1 } });
  });

  test('given a ResultPath through a value that is not an object, when applied, then it fails with States.ResultPathMatchFailure', () => {
    for (const [raw, path] of [
      ['text', '$.a'],
      [{ a: 5 }, '$.a.b'],
      [{ a: null }, '$.a.b'],
      [{ l: [] }, '$.l[0]'],
    ] as const) {
      const error = (() => {
        try {
          applyResultPath(raw, path, 1);
        } catch (e) {
          return e as StatesError;
        }
        return undefined;
      })();
      expect({ path, name: error?.name }).toEqual({ path, name: 'States.ResultPathMatchFailure' });
    }
  });
});
