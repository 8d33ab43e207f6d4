import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTopology, serializeTopology, Topology } from '../core';
import { TopologyNotFoundError } from '../lambdas/errors';
import type { LockRecord, LockStore, TopologyStore } from '../lambdas/ports';
import { ProcessLock } from './process-lock';

/**
 * Parameter Store stand-ins for local mode: one file per parameter under the state directory,
 * so the agent child processes read the very document the workflow wrote (`--topology FILE`).
 */
export class FileTopologyStore implements TopologyStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** The file that stands in for `/astaire/<cluster>/topology`. */
  path(cluster: string): string {
    return join(this.dir, `${cluster}.topology.json`);
  }

  async read(cluster: string): Promise<Topology> {
    let text: string;
    try {
      text = readFileSync(this.path(cluster), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new TopologyNotFoundError(this.path(cluster));
      throw error;
    }
    return parseTopology(text, this.path(cluster));
  }

  async write(topology: Topology): Promise<void> {
    writeAtomically(this.path(topology.cluster), serializeTopology(topology));
  }
}

/**
 * The cluster lock as a file shared by every `astaire local` process, with the DynamoDB adapter's
 * conditional semantics: each operation reads, compares and writes under a short per-cluster
 * mutex (a ProcessLock, O_EXCL, broken when its holder process has died), so that of several
 * processes creating, breaking or releasing one lock exactly one sees the record it expects. The
 * lock's owner is a local execution whose id names its process (LocalExecutions), so another
 * process can tell a live owner from a dead one.
 */
export class FileLockStore implements LockStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private path(cluster: string): string {
    return join(this.dir, `${cluster}.lock.json`);
  }

  async create(cluster: string, lock: LockRecord): Promise<boolean> {
    return this.exclusively(cluster, () => {
      if (this.readNow(cluster) !== undefined) return false;
      writeAtomically(this.path(cluster), encodeLock(lock));
      return true;
    });
  }

  async read(cluster: string): Promise<LockRecord | undefined> {
    return this.readNow(cluster);
  }

  async replaceStale(cluster: string, stale: LockRecord, fresh: LockRecord): Promise<boolean> {
    return this.exclusively(cluster, () => {
      const current = this.readNow(cluster);
      if (!current || encodeLock(current) !== encodeLock(stale)) return false;
      writeAtomically(this.path(cluster), encodeLock(fresh));
      return true;
    });
  }

  async release(cluster: string, owner: string): Promise<boolean> {
    return this.exclusively(cluster, () => {
      if (this.readNow(cluster)?.owner !== owner) return false;
      unlinkSync(this.path(cluster));
      return true;
    });
  }

  private readNow(cluster: string): LockRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.path(cluster), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return decodeLock(text);
  }

  /** Runs `step` (synchronous: the mutex is held for microseconds) while holding the cluster's mutex. */
  private async exclusively<T>(cluster: string, step: () => T): Promise<T> {
    const mutex = new ProcessLock(`${this.path(cluster)}.mutex`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const taken = mutex.tryAcquire('astaire lock store');
      if (taken.acquired)
        try {
          return step();
        } finally {
          taken.release();
        }
      if (Date.now() > deadline)
        throw new Error(
          `astaire local: the lock file of cluster ${cluster} stays busy (pid ${taken.holder.pid}); retry, or remove ${this.path(cluster)}.mutex if that process is gone`,
        );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** Field order fixed: records are compared by their text. */
function encodeLock(lock: LockRecord): string {
  return JSON.stringify({ owner: lock.owner, acquiredAt: lock.acquiredAt, expiresAt: lock.expiresAt });
}

/** An unreadable lock counts as expired (owner unknown), so it can be broken rather than block forever. */
function decodeLock(text: string): LockRecord {
  try {
    const d = JSON.parse(text) as Record<string, unknown>;
    if (typeof d.owner === 'string' && typeof d.acquiredAt === 'string' && typeof d.expiresAt === 'string')
      return { owner: d.owner, acquiredAt: d.acquiredAt, expiresAt: d.expiresAt };
  } catch {
    // fall through
  }
  return {
    owner: `unreadable lock ${text.slice(0, 64)}`,
    acquiredAt: new Date(0).toISOString(),
    expiresAt: new Date(0).toISOString(),
  };
}

/** Write-then-rename, so a reader (an agent) never sees half a document. */
export function writeAtomically(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}
