import { CasSet } from '../../../agent/cas-set';

describe('CasSet', () => {
  it('given many values, some above 2^32, when added, then exactly those are members (through growth)', () => {
    const set = new CasSet();
    const big = 2 ** 40;
    let added = 0;
    for (let i = 1; i <= 50000; i++) added += Number(set.add(i * 3)) + Number(set.add(big + i));
    expect(added).toBe(100000);
    expect(set.size).toBe(100000);
    expect(set.add(3)).toBe(false);
    let wrong = 0;
    for (let i = 1; i <= 50000; i++)
      wrong +=
        Number(!set.has(i * 3)) +
        Number(set.has(i * 3 + 1)) +
        Number(!set.has(big + i)) +
        Number(set.has(big - i));
    expect(wrong).toBe(0);
  });

  it('given 0, a fraction or a value above 2^53, when added, then it is refused', () => {
    const set = new CasSet();
    expect(() => set.add(0)).toThrow(RangeError);
    expect(() => set.add(1.5)).toThrow(RangeError);
    expect(() => set.add(2 ** 53 + 2)).toThrow(RangeError);
    expect(set.has(0)).toBe(false);
  });
});
