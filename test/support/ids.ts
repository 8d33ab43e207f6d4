/** Deterministic, EC2-like instance ids (`i-` + 17 hex digits) for placement tests. */
export function instanceIds(count: number, seed = 1): string[] {
  let state = seed >>> 0 || 1;
  const next = () => {
    // xorshift32: cheap and deterministic, so a failure reproduces.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  return Array.from(
    { length: count },
    () =>
      `i-${next().toString(16).padStart(8, '0')}${next().toString(16).padStart(8, '0')}${(next() & 0xf).toString(16)}`,
  );
}

/** A deterministic shuffle (Fisher-Yates with xorshift32). */
export function shuffled<T>(items: readonly T[], seed = 7): T[] {
  const out = [...items];
  let state = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
