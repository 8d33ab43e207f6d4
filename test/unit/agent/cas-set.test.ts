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

  it('given a cap, when more values are added, then they are reported absent and not stored, and members stay members', () => {
    const set = new CasSet(1000);
    for (let i = 1; i <= 5000; i++) set.add(i);
    expect(set.size).toBeLessThanOrEqual(2048);
    expect(set.size).toBeGreaterThanOrEqual(1000);
    expect(set.overflow).toBe(5000 - set.size);
    expect(set.add(1)).toBe(false);
    expect(set.add(4999)).toBe(true); // not stored: still "absent"
    expect(set.has(4999)).toBe(false);
  });
});
