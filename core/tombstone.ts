/**
 * Tombstones: how a delete made during a migration stays deleted.
 *
 * The agent copies items onto new replicas with a meta-set in add mode, which never
 * overwrites an existing key. A client that deletes a key while a migration runs
 * therefore deletes it on the old replicas and *sets* a tombstone on each new replica
 * the agent copies into: the agent's add of a copy it fetched before the delete fails,
 * and readers that find the tombstone report a miss without falling through to the old
 * replicas. Tombstones expire on their own after a bounded lifetime.
 *
 * Reserved: client flags 0xFFFFFFFF (TOMBSTONE_FLAGS). An item is a tombstone when its
 * flags are TOMBSTONE_FLAGS and its value is TOMBSTONE_VALUE ("astaire:tombstone",
 * readable with telnet). Astaire clients refuse to write those flags, so no real value
 * can look like a tombstone; a foreign client writing flags 0xFFFFFFFF with another
 * value is still read as a value.
 */

/** Client flags reserved for tombstones: writing a value with them is refused. */
export const TOMBSTONE_FLAGS = 0xffffffff;

/** The bytes a tombstone holds. */
export const TOMBSTONE_VALUE: Uint8Array = new TextEncoder().encode('astaire:tombstone');

/** How long a tombstone lives unless configured: longer than any copy's fetch-to-add window. */
export const DEFAULT_TOMBSTONE_TTL_SECONDS = 600;

/** Largest client flags a value may carry (32-bit flags, minus the reserved one). */
export const MAX_CLIENT_FLAGS = TOMBSTONE_FLAGS - 1;

/**
 * True when an item with these flags and this value (or value size, when only the
 * size is known, as after a touch) is a tombstone.
 */
export function isTombstone(flags: number, value: Uint8Array | number): boolean {
  if (flags !== TOMBSTONE_FLAGS) return false;
  if (typeof value === 'number') return value === TOMBSTONE_VALUE.length;
  if (value.length !== TOMBSTONE_VALUE.length) return false;
  for (let i = 0; i < value.length; i++) if (value[i] !== TOMBSTONE_VALUE[i]) return false;
  return true;
}

/** Client flags that an application may write: integers in [0, MAX_CLIENT_FLAGS]. */
export function isWritableFlags(flags: unknown): flags is number {
  return Number.isInteger(flags) && (flags as number) >= 0 && (flags as number) <= MAX_CLIENT_FLAGS;
}
