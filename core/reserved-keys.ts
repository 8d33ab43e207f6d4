/**
 * Keys Astaire keeps on the nodes for itself: the completeness marker, the purge's CAS watermark and
 * the like. They live in the same keyspace as application keys, so every bulk path (the resync's copy,
 * the purge, the post-commit cleanup) must leave them alone: a copied marker would make a node that is
 * still filling look complete, and a purged one would make a complete node look restarted.
 * Applications must not write keys that start with RESERVED_KEY_PREFIX.
 */
export const RESERVED_KEY_PREFIX = 'astaire:';

const PREFIX = new TextEncoder().encode(RESERVED_KEY_PREFIX);

/** True when `key[0..length)` (raw bytes) starts with RESERVED_KEY_PREFIX. */
export function isReservedKey(key: Uint8Array, length = key.length): boolean {
  if (length < PREFIX.length) return false;
  for (let i = 0; i < PREFIX.length; i++) if (key[i] !== PREFIX[i]) return false;
  return true;
}
