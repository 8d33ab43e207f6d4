import { evaluateIntrinsic, parseIntrinsic } from '../../../../local/asl/intrinsics';

const run = (text: string, input: unknown = {}, context: unknown = {}) =>
  evaluateIntrinsic(parseIntrinsic(text), input, context);

describe('ASL intrinsic functions', () => {
  test('given States.Format with paths and escapes, when evaluated, then {} takes each argument and escaped characters stay literal', () => {
    expect(
      run("States.Format('astaire resync of {} e{}', $.cluster, $.epoch)", { cluster: 'c', epoch: 2 }),
    ).toBe('astaire resync of c e2');
    expect(run("States.Format('\\{\\} is {} and \\'{}\\'', true, null)")).toBe("{} is true and 'null'");
  });

  test('given States.Array with a context path and a nested call, when evaluated, then it lists the values', () => {
    expect(
      run(
        "States.Array($$.Task.Token, States.Format('{}', $.epoch), 3)",
        { epoch: 7 },
        { Task: { Token: 't' } },
      ),
    ).toEqual(['t', '7', 3]);
    expect(run('States.Array()')).toEqual([]);
  });

  test('given the other JSONPath intrinsics, when evaluated, then they compute what the developer guide says', () => {
    expect(run('States.StringToJson(\'{"a":1}\')')).toEqual({ a: 1 });
    expect(run('States.JsonToString($.a)', { a: { b: [1] } })).toBe('{"b":[1]}');
    expect(run('States.ArrayPartition($.l, 2)', { l: [1, 2, 3] })).toEqual([[1, 2], [3]]);
    expect(run('States.ArrayContains($.l, 2)', { l: [1, 2] })).toBe(true);
    expect(run('States.ArrayRange(1, 9, 4)')).toEqual([1, 5, 9]);
    expect(run('States.ArrayGetItem($.l, 1)', { l: ['a', 'b'] })).toBe('b');
    expect(run('States.ArrayLength($.l)', { l: [1, 2, 3] })).toBe(3);
    expect(run('States.ArrayUnique($.l)', { l: [1, 1, 2] })).toEqual([1, 2]);
    expect(run("States.Base64Decode(States.Base64Encode('hi'))")).toBe('hi');
    expect(run("States.Hash('abc', 'SHA-256')")).toMatch(/^ba7816bf/);
    expect(run('States.JsonMerge($.a, $.b, false)', { a: { x: 1, y: 1 }, b: { y: 2 } })).toEqual({
      x: 1,
      y: 2,
    });
    expect(run('States.MathAdd(40, 2)')).toBe(42);
    expect(run("States.StringSplit('a,b;;c', ',;')")).toEqual(['a', 'b', 'c']);
    expect(run('States.UUID()')).toMatch(/^[0-9a-f-]{36}$/);
    const r = run('States.MathRandom(1, 3)') as number;
    expect(r >= 1 && r < 3).toBe(true);
  });

  test('given a bad call, when evaluated, then it fails with States.IntrinsicFailure', () => {
    for (const [text, input] of [
      ["States.Format('{} {}', 1)", {}],
      ["States.Format('{}', $.o)", { o: { a: 1 } }],
      ['States.ArrayGetItem($.l, 5)', { l: [] }],
      ['States.Array($.missing)', {}],
      ["States.StringToJson('{')", {}],
      ['States.MathAdd(1.5, 1)', {}],
    ] as const)
      expect(() => run(text, input)).toThrow(expect.objectContaining({ name: 'States.IntrinsicFailure' }));
  });

  test.each(["States.Nope('x')", "States.Format('x'", "States.Format('x') trailing", 'States.Array(@)'])(
    'given the malformed call %s, when parsed, then it is refused',
    (text) => expect(() => parseIntrinsic(text)).toThrow(/intrinsic/),
  );
});
