import { RESERVED_KEY_PREFIX } from '../core';
import { ConnectionOptions, MemcachedConnection } from './connection';

/**
 * The completeness marker: a key each node's memcached holds while it is a complete replica of every
 * vbucket it serves. A finished resync writes it on a node it filled from scratch (a new node), a heal on
 * the node it refilled. memcached keeps it in memory only, so a restart or a `flush_all` takes it away
 * with the data: a node without it may have lost items, and is never used as a source.
 *
 * The value names the cluster and the node, so a marker read at an address that now belongs to another
 * node (or cluster) proves nothing. Bulk copies and purges skip reserved keys, so no node ever receives
 * another's marker.
 */
export const MARKER_KEY = `${RESERVED_KEY_PREFIX}complete`;

export interface Marker {
  readonly cluster: string;
  readonly node: string;
  /** The epoch of the topology the node was completed against. */
  readonly epoch?: number;
  /** When it was written (ISO 8601). */
  readonly at?: string;
}

/** What one look at a node tells: which memcached process it is, and its marker if any. */
export interface NodeState {
  /**
   * `pid:start:flushes` from `stats` (`time - uptime` is the process start, constant for its life;
   * `cmd_flush` counts flush_all commands). A different identity means a restart or a flush.
   */
  readonly identity: string;
  /** memcached's clock (`STAT time`), unix seconds. */
  readonly time: number;
  readonly marker?: Marker;
}

/** True when `state` proves the node `node` of `cluster` a complete replica. */
export function isComplete(state: NodeState, cluster: string, node: string): boolean {
  return state.marker?.cluster === cluster && state.marker.node === node;
}

/** Why `state` is not complete, for logs and reports (undefined when it is). */
export function whyIncomplete(state: NodeState, cluster: string, node: string): string | undefined {
  if (isComplete(state, cluster, node)) return undefined;
  if (!state.marker)
    return 'not a complete replica: its memcached restarted or was flushed since it became one (no astaire:complete marker)';
  return `not a complete replica: its marker names node ${state.marker.node} of cluster ${state.marker.cluster}`;
}

const STATS = 'stats\r\n';
const GET_MARKER = `mg ${MARKER_KEY} v\r\nmn\r\n`;

/** One connection asked one question at a time: a restart in between breaks it, so answers belong together. */
class Dialog {
  private text = '';
  private waiter: { done: (t: string) => boolean; resolve: (t: string) => void } | undefined;
  private failure: Error | undefined;
  private rejecter: ((e: Error) => void) | undefined;

  private constructor(private readonly conn: MemcachedConnection) {
    conn.onData((chunk) => {
      this.text += chunk.toString('latin1');
      const w = this.waiter;
      if (w && w.done(this.text)) {
        const answer = this.text;
        this.text = '';
        this.waiter = undefined;
        this.rejecter = undefined;
        w.resolve(answer);
      }
    });
    conn.onFail((error) => {
      this.failure = error;
      this.rejecter?.(error);
    });
  }

  static async open(address: string, options: ConnectionOptions): Promise<Dialog> {
    return new Dialog(await MemcachedConnection.connect(address, options));
  }

  ask(command: string, done: (text: string) => boolean): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { done, resolve };
      this.rejecter = reject;
      this.conn.write(command);
    });
  }

  close(): void {
    this.conn.close();
  }
}

function statOf(stats: string, name: string): string | undefined {
  return new RegExp(`^STAT ${name} (\\d+)\r?$`, 'm').exec(stats)?.[1];
}

function identityOf(stats: string): string {
  const start = Number(statOf(stats, 'time')) - Number(statOf(stats, 'uptime'));
  return `${statOf(stats, 'pid') ?? '?'}:${start}:${statOf(stats, 'cmd_flush') ?? '?'}`;
}

function markerOf(answer: string): Marker | undefined {
  const m = /^VA (\d+)[^\r]*\r\n/.exec(answer);
  if (!m) return undefined;
  const value = answer.slice(m[0].length, m[0].length + Number(m[1]));
  try {
    const doc = JSON.parse(value) as Record<string, unknown>;
    if (typeof doc.cluster !== 'string' || typeof doc.node !== 'string') return undefined;
    return doc as unknown as Marker;
  } catch {
    return undefined;
  }
}

const endsStats = (t: string) => t.endsWith('END\r\n');
const endsPipeline = (t: string) => t.endsWith('MN\r\n');

/** Reads a node's identity and marker over one connection. Rejects when it cannot be reached. */
export async function readNodeState(address: string, options: ConnectionOptions = {}): Promise<NodeState> {
  const dialog = await Dialog.open(address, options);
  try {
    const stats = await dialog.ask(STATS, endsStats);
    const identity = identityOf(stats);
    const time = Number(statOf(stats, 'time') ?? Date.now() / 1000);
    const marker = markerOf(await dialog.ask(GET_MARKER, endsPipeline));
    return marker ? { identity, time, marker } : { identity, time };
  } finally {
    dialog.close();
  }
}

/**
 * Writes the marker on the node, only if it is still the memcached process (and flush count) `identity`
 * names: the identity is read and the marker written over one connection, which a restart would break.
 * Resolves false, writing nothing, when the identity changed.
 */
export async function writeMarker(
  address: string,
  identity: string,
  marker: Marker,
  options: ConnectionOptions = {},
): Promise<boolean> {
  const dialog = await Dialog.open(address, options);
  try {
    if (identityOf(await dialog.ask(STATS, endsStats)) !== identity) return false;
    const value = JSON.stringify(marker);
    const answer = await dialog.ask(`ms ${MARKER_KEY} ${Buffer.byteLength(value)} T0\r\n${value}\r\n`, (t) =>
      t.endsWith('\r\n'),
    );
    if (!answer.startsWith('HD'))
      throw new Error(`memcached ${address} refused the marker: ${answer.trim()}`);
    return true;
  } finally {
    dialog.close();
  }
}

/** Removes the marker (the node is no longer known to be complete). */
export async function clearMarker(address: string, options: ConnectionOptions = {}): Promise<void> {
  const dialog = await Dialog.open(address, options);
  try {
    await dialog.ask(`md ${MARKER_KEY} q\r\nmn\r\n`, endsPipeline);
  } finally {
    dialog.close();
  }
}
