import { randomUUID } from 'node:crypto';
import { ConnectionOptions } from './connection';
import { LocalMemcachedError } from './errors';
import { readNodeState, whyIncomplete } from './marker';
import {
  deleteRecords,
  PUSH_READY_KEY,
  PushReady,
  PushRecord,
  pushedKey,
  readRecord,
  writeRecord,
} from './push-records';

/** How often a receiver checks that the pushers it waits for are still up and complete. */
const PUSHER_CHECK_MS = 1000;

/** How a receiving node waits for its pushers (push.ts) before pulling what they did not push. */
export interface ExpectPushes {
  /** Give up on a pusher that wrote no record this long after this node became ready. @default 30000 */
  readonly startTimeoutMs?: number;
  /** Give up on a pusher whose record (its heartbeat) did not change for this long. @default 30000 */
  readonly stallTimeoutMs?: number;
  /** @default 100 */
  readonly pollMs?: number;
}

export interface ReceiveOptions extends ConnectionOptions, ExpectPushes {
  readonly local: string;
  readonly cluster: string;
  readonly epoch: number;
  readonly node: string;
  /** For each vbucket this node gains from a pusher: the pusher's id (pushersOf). */
  readonly pushers: ReadonlyMap<number, string>;
  /** Each pusher's memcached: one that is down or not a complete replica is not waited for. */
  readonly pusherAddresses: ReadonlyMap<string, string>;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  /**
   * What has arrived so far, from the pushers' records (their heartbeats count what they wrote here):
   * called after every poll, so the node's progress moves while the pushes run, not only at their end.
   */
  readonly onProgress?: (arrived: { items: number; bytes: number; vbuckets: number }) => void;
}

export interface Received {
  /** vbuckets whose pusher finished: every item of theirs was written here, nothing to pull. */
  readonly vbuckets: ReadonlySet<number>;
  readonly pushers: number;
  readonly pushersDone: number;
  readonly items: number;
  readonly bytes: number;
  readonly notStored: number;
  readonly skipped: number;
  readonly unaddressable: number;
  /** Pushers given up, each `id: why`: their vbuckets are pulled. */
  readonly fallbacks: readonly string[];
}

/**
 * Announces this node ready for pushes (PUSH_READY_KEY with a fresh run id: call it once its purge is
 * over) and waits for the record of every expected pusher: `done` for this run takes the pusher's
 * vbuckets off the pull list; `failed`, no record within startTimeoutMs, or no heartbeat within
 * stallTimeoutMs leaves them to be pulled. Rejects only when the local node fails (LocalMemcachedError)
 * or `signal` aborts.
 */
export async function receivePushes(o: ReceiveOptions): Promise<Received> {
  const byPusher = new Map<string, number[]>();
  for (const [vbucket, id] of o.pushers) {
    const list = byPusher.get(id);
    if (list) list.push(vbucket);
    else byPusher.set(id, [vbucket]);
  }
  const run = randomUUID();
  const localFailed = (cause: unknown) =>
    new LocalMemcachedError(`local memcached ${o.local}: ${(cause as Error).message}`, { cause });
  try {
    const ready: PushReady = { cluster: o.cluster, epoch: o.epoch, node: o.node, run };
    await writeRecord(o.local, PUSH_READY_KEY, ready, o);
  } catch (cause) {
    throw localFailed(cause);
  }
  const readyAt = Date.now();
  const pending = new Map<string, { seq: number; at: number }>(
    [...byPusher.keys()].map((id) => [id, { seq: 0, at: readyAt }]),
  );
  const done: PushRecord[] = [];
  const fallbacks: string[] = [];
  const giveUp = (id: string, why: string) => {
    pending.delete(id);
    fallbacks.push(`${id}: ${why}`);
    o.log(`pusher ${id}: ${why}; pulling its ${byPusher.get(id)!.length} vbuckets instead`);
  };
  // A pusher that is down or not complete pushes nothing (it refuses to): no need to wait for its silence.
  // Checked at once and every second while it is awaited: one that dies before writing here is seen then.
  const checkPushers = () =>
    Promise.all(
      [...pending.keys()].map(async (id) => {
        const address = o.pusherAddresses.get(id);
        if (address === undefined) return;
        try {
          const why = whyIncomplete(await readNodeState(address, o), o.cluster, id);
          if (why && pending.has(id)) giveUp(id, why);
        } catch (error) {
          if (pending.has(id)) giveUp(id, `unreachable: ${(error as Error).message}`);
        }
      }),
    );
  await checkPushers();
  let checkedAt = Date.now();
  const vbuckets = new Set<number>();
  const latest = new Map<string, PushRecord>();
  const tell = () => {
    let items = 0;
    let bytes = 0;
    for (const r of latest.values()) {
      items += Number(r.items) || 0;
      bytes += Number(r.bytes) || 0;
    }
    o.onProgress?.({ items, bytes, vbuckets: vbuckets.size });
  };
  try {
    while (pending.size > 0) {
      if (o.signal.aborted) throw o.signal.reason as Error;
      for (const [id, seen] of pending) {
        let record: PushRecord | undefined;
        try {
          record = await readRecord<PushRecord>(o.local, pushedKey(id), o);
        } catch (cause) {
          throw localFailed(cause);
        }
        const ours = record?.run === run && record.cluster === o.cluster && record.epoch === o.epoch;
        if (ours && record!.status !== 'failed') latest.set(id, record!);
        else latest.delete(id);
        const now = Date.now();
        if (ours && record!.status === 'done') {
          pending.delete(id);
          done.push(record!);
          for (const v of byPusher.get(id)!) vbuckets.add(v);
          continue;
        }
        let why: string | undefined;
        if (ours && record!.status === 'failed') why = `it failed: ${record!.why ?? 'no reason given'}`;
        else if (ours && record!.seq !== seen.seq) pending.set(id, { seq: record!.seq, at: now });
        else if (!ours && now - seen.at > (o.startTimeoutMs ?? 30000))
          why = `no record within ${o.startTimeoutMs ?? 30000} ms of this node being ready`;
        else if (ours && now - seen.at > (o.stallTimeoutMs ?? 30000))
          why = `no heartbeat for ${o.stallTimeoutMs ?? 30000} ms`;
        if (why !== undefined) giveUp(id, why);
      }
      tell();
      if (pending.size > 0 && Date.now() - checkedAt >= PUSHER_CHECK_MS) {
        await checkPushers();
        checkedAt = Date.now();
      }
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, o.pollMs ?? 100));
    }
  } finally {
    // Pushers that did not start give this node up; late ones may still write (add mode: harmless).
    const closed: PushReady = { cluster: o.cluster, epoch: o.epoch, node: o.node, run, closed: true };
    await writeRecord(o.local, PUSH_READY_KEY, closed, o).catch(() => undefined);
    await deleteRecords(o.local, [...byPusher.keys()].map(pushedKey), o).catch(() => undefined);
  }
  const sum = (f: (r: PushRecord) => number) => done.reduce((n, r) => n + (Number(f(r)) || 0), 0);
  return {
    vbuckets,
    pushers: byPusher.size,
    pushersDone: done.length,
    items: sum((r) => r.items),
    bytes: sum((r) => r.bytes),
    notStored: sum((r) => r.notStored),
    skipped: sum((r) => r.skipped),
    unaddressable: sum((r) => r.unaddressable),
    fallbacks,
  };
}
