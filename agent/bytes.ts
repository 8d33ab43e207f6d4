/** Below this many bytes a plain loop beats Buffer#copy, whose per-call cost (a view, checks) dominates. */
const LOOP_LIMIT = 64;

/**
 * Copies `src[start..end)` to `dst` at `pos` and returns the byte count, like `src.copy(dst, pos, start,
 * end)` but without its per-call overhead for the short pieces (keys, command words) the copy path writes
 * millions of times per resync. The caller guarantees that `dst` has room.
 */
export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, pos: number): number {
  const n = end - start;
  if (n > LOOP_LIMIT) {
    dst.set(src.subarray(start, end), pos);
    return n;
  }
  for (let i = 0; i < n; i++) dst[pos + i] = src[start + i];
  return n;
}
