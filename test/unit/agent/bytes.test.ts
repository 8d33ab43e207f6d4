import { copyBytes } from '../../../agent/bytes';

describe('copyBytes', () => {
  it.each([0, 1, 12, 64, 65, 250, 4000])(
    'given a %i-byte piece at an offset, when copied, then exactly those bytes land at pos and nothing around them',
    (n) => {
      const src = Buffer.from(Array.from({ length: n + 10 }, (_, i) => (i * 7 + 3) & 0xff));
      const dst = Buffer.alloc(n + 20, 0xee);
      expect(copyBytes(src, 5, 5 + n, dst, 7)).toBe(n);
      expect(dst.subarray(7, 7 + n).equals(src.subarray(5, 5 + n))).toBe(true);
      expect([...dst.subarray(0, 7), ...dst.subarray(7 + n)].every((b) => b === 0xee)).toBe(true);
    },
  );
});
