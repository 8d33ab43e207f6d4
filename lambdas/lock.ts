import type { LockStore } from './ports';

/** Deletes the cluster's lock if `owner` holds it; true when it did. Someone else's lock is never touched. */
export async function releaseIfOwner(locks: LockStore, cluster: string, owner: string): Promise<boolean> {
  const current = await locks.read(cluster);
  if (current?.owner !== owner) return false;
  await locks.delete(cluster);
  return true;
}
