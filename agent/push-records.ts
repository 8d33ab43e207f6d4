import { RESERVED_KEY_PREFIX } from '../core';
import { ConnectionOptions, request } from './connection';

/*
 * The records a push leaves on its receivers, the contract between the pushers (push.ts) and the receiving
 * node's resync (push-receive.ts). Reserved keys: bulk copies, purges and cleanups never touch them. They
 * expire after a day, in case a run dies before deleting them.
 */

/** On a receiver: its purge is over, pushes may write. Written by the receiver. */
export const PUSH_READY_KEY = `${RESERVED_KEY_PREFIX}push-ready`;

/** On a receiver: how the push from `source` went. Written by the pusher. */
export function pushedKey(source: string): string {
  return `${RESERVED_KEY_PREFIX}pushed:${source}`;
}

const RECORD_TTL_SEC = 86400;

export interface PushReady {
  readonly cluster: string;
  readonly epoch: number;
  readonly node: string;
  /** Names this run of the receiver: a pusher's record counts only with the run it read. */
  readonly run: string;
  /** The receiver waits no more (it pulls what was not pushed): a pusher not started gives it up. */
  readonly closed?: boolean;
}

export interface PushRecord {
  readonly cluster: string;
  readonly epoch: number;
  readonly run: string;
  readonly source: string;
  /** running (heartbeats: `seq` grows), done (every item of the designated vbuckets written), failed. */
  readonly status: 'running' | 'done' | 'failed';
  readonly seq: number;
  readonly items: number;
  readonly bytes: number;
  readonly notStored: number;
  readonly skipped: number;
  readonly unaddressable: number;
  /** Crawls of the source this push took part in. */
  readonly crawls: number;
  readonly why?: string;
}

const endsLine = (t: string) => t.endsWith('\r\n');
const endsPipeline = (t: string) => t.endsWith('MN\r\n');

/** Writes `value` (JSON) at `key`; rejects when memcached refuses it or cannot be reached. */
export async function writeRecord(
  address: string,
  key: string,
  value: object,
  options: ConnectionOptions = {},
): Promise<void> {
  const text = JSON.stringify(value);
  const answer = await request(
    address,
    `ms ${key} ${Buffer.byteLength(text)} T${RECORD_TTL_SEC}\r\n${text}\r\n`,
    endsLine,
    options,
  );
  if (!answer.startsWith('HD')) throw new Error(`memcached ${address} refused ${key}: ${answer.trim()}`);
}

/** The JSON object at `key`, or undefined when there is none (or it is not a JSON object). */
export async function readRecord<T>(
  address: string,
  key: string,
  options: ConnectionOptions = {},
): Promise<T | undefined> {
  const answer = await request(address, `mg ${key} v\r\nmn\r\n`, endsPipeline, options);
  const m = /^VA (\d+)[^\r]*\r\n/.exec(answer);
  if (!m) return undefined;
  try {
    const doc = JSON.parse(
      Buffer.from(answer.slice(m[0].length), 'latin1').subarray(0, Number(m[1])).toString(),
    ) as unknown;
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as T) : undefined;
  } catch {
    return undefined;
  }
}

export async function deleteRecords(
  address: string,
  keys: readonly string[],
  options: ConnectionOptions = {},
): Promise<void> {
  if (keys.length === 0) return;
  await request(address, `${keys.map((k) => `md ${k} q\r\n`).join('')}mn\r\n`, endsPipeline, options);
}
