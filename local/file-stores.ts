import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTopology, serializeTopology, Topology } from '../core';
import { TopologyNotFoundError } from '../lambdas/errors';
import { encodeLock } from '../lambdas/adapters/ssm-parameters';
import type { LockRecord, LockStore, TopologyStore } from '../lambdas/ports';

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
 * The cluster lock as a file shared by every `astaire local` process: `wx` (O_CREAT|O_EXCL) makes
 * creation atomic, like Overwrite=false; its owner is a local execution whose id names its process
 * (LocalExecutions), so another process can tell a live owner from a dead one.
 */
export class FileLockStore implements LockStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private path(cluster: string): string {
    return join(this.dir, `${cluster}.lock.json`);
  }

  async create(cluster: string, lock: LockRecord): Promise<boolean> {
    try {
      writeFileSync(this.path(cluster), JSON.stringify(lock), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  async read(cluster: string): Promise<LockRecord | undefined> {
    try {
      return JSON.parse(readFileSync(this.path(cluster), 'utf8')) as LockRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /**
   * Safe across processes, like the SSM adapter: of several breakers of one stale record, only
   * the one that creates the break marker named after that record (O_EXCL) replaces it.
   */
  async replaceStale(cluster: string, stale: LockRecord, fresh: LockRecord): Promise<boolean> {
    const digest = createHash('sha256').update(encodeLock(stale)).digest('hex').slice(0, 32);
    try {
      writeFileSync(`${this.path(cluster)}.break-${digest}`, encodeLock(fresh), { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    const current = await this.read(cluster);
    if (!current || encodeLock(current) !== encodeLock(stale)) return false;
    writeAtomically(this.path(cluster), JSON.stringify(fresh));
    return true;
  }

  async delete(cluster: string): Promise<void> {
    try {
      unlinkSync(this.path(cluster));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Write-then-rename, so a reader (an agent) never sees half a document. */
export function writeAtomically(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}
