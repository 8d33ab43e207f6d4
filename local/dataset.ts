/**
 * The scenario's data, derived from (index, version) so that verifying 200k items needs no copy
 * of them in memory. Sizes are mixed (mostly 100 B to 1 KB, 1% of 10 to 50 KB), flags cover the
 * 32-bit range, and TTLs mix no expiry, one hour and 40 days (written as an absolute time).
 */
export const ONE_HOUR = 3600;
export const FORTY_DAYS = 40 * 24 * 3600;

export function keyOf(index: number): string {
  // A few keys with spaces and non-ASCII bytes: the binary protocol lets clients write those.
  if (index % 997 === 0) return `user ${index} sessión`;
  return `user:${index}:session`;
}

export function sizeOf(index: number): number {
  const h = mix(index);
  return h % 100 === 0 ? 10_240 + (h % 40_960) : 100 + (h % 924);
}

export function flagsOf(index: number): number {
  return mix(index * 7 + 3) >>> 0;
}

export function ttlOf(index: number): number {
  const r = index % 10;
  return r < 6 ? 0 : r < 9 ? ONE_HOUR : FORTY_DAYS;
}

/** The value of item `index` at `version` (0 as loaded; +1 on every later overwrite). */
export function valueOf(index: number, version: number): Buffer {
  const value = Buffer.alloc(sizeOf(index), (index * 31 + version * 17) & 0xff);
  value.write(`${index}:${version}:`, 0, 'latin1');
  return value;
}

function mix(n: number): number {
  let h = Math.imul(n ^ 0x5bd1e995, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
