import { readFile } from 'node:fs/promises';
import { parseTopology, Topology } from '../core';
import { TopologySourceError } from './errors';

/**
 * Where the client reads its topology: the port behind which Parameter Store, a file
 * and an in-memory value look alike. `read` returns the current, validated topology,
 * or throws TopologyValidationError (it does not parse) or TopologySourceError (it
 * cannot be read). The client polls `read`; a source that can tell when its value
 * changes also offers `watch`, so the client re-reads at once.
 */
export interface TopologySource {
  /** For messages: `parameter /astaire/x/topology`, `file ./t.json`, `in-memory topology`. */
  readonly description: string;
  read(): Promise<Topology>;
  /**
   * How often a client polls this source when it sets no `pollIntervalMs`: what one read costs
   * decides it (a file read is cheap; Parameter Store has a request quota). @default 5000
   */
  readonly defaultPollIntervalMs?: number;
  /** Calls `listener` after each change; returns the function that stops it. */
  watch?(listener: () => void): () => void;
  /**
   * A source that takes acknowledgements (the cluster): the client polls with this instead of `read`,
   * passing the oldest epoch it still has writes under.
   */
  poll?(inUse: number): Promise<Topology>;
  /**
   * With `poll`: a client whose last successful poll is older than this polls again before a write or
   * a delete, and refuses it (TopologyLeaseExpiredError) when that fails.
   */
  readonly leaseMs?: number;
  /** Called once when the client closes. */
  close?(): Promise<void>;
}

/**
 * A file source's default poll interval. Local mode's wait before agents start
 * (local/runtime.ts) is at least twice this, so a client at its defaults cannot miss a migration.
 */
export const FILE_SOURCE_POLL_INTERVAL_MS = 1000;

/** A topology file (JSON), re-read on every poll (every second by default: a file read is cheap). */
export class FileTopologySource implements TopologySource {
  readonly description: string;
  readonly defaultPollIntervalMs = FILE_SOURCE_POLL_INTERVAL_MS;
  constructor(readonly path: string) {
    this.description = `file ${path}`;
  }

  async read(): Promise<Topology> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new TopologySourceError(
        this.description,
        `cannot be read (${code ?? (cause as Error).message})`,
        {
          cause,
        },
      );
    }
    return parseTopology(text, this.description);
  }
}

/**
 * A topology held in memory (tests, local mode): `set` replaces it and tells the
 * client at once. Values are validated on read, like any other source, so setting a
 * malformed document exercises the same error path as a bad parameter.
 */
export class InMemoryTopologySource implements TopologySource {
  readonly description = 'in-memory topology';
  private listeners = new Set<() => void>();

  constructor(private value: Topology | string | unknown) {}

  set(value: Topology | string | unknown): void {
    this.value = value;
    for (const listener of [...this.listeners]) listener();
  }

  async read(): Promise<Topology> {
    return parseTopology(this.value, this.description);
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
