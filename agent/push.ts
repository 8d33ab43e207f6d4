import { setMaxListeners } from 'node:events';
import { planMigration, planPushes, pushesFor, Server, Topology } from '../core';
import {
  LocalMemcachedError,
  MigrationSupersededError,
  PushReceiverError,
  SourceFailedError,
  SourceIncompleteError,
  UsageError,
} from './errors';
import { LatencyGuard } from './latency-probe';
import { NodeState, readNodeState, whyIncomplete } from './marker';
import { PullOptions } from './pulls';
import { PUSH_READY_KEY, PushReady, PushRecord, pushedKey, readRecord, writeRecord } from './push-records';
import { copyFromSource, CopyStats, DEFAULT_MAX_PASSES, emptyCopyStats } from './source-copy';
import { SourceCrawl } from './source-crawl';
import { ResyncReport } from '../core';
import { Throttle } from './throttle';
import { DEFAULT_LOCAL, DEFAULT_PROGRESS_INTERVAL_MS } from './pulls';

export const DEFAULT_READY_TIMEOUT_MS = 120000;

export interface PushOptions extends PullOptions {
  /** The topology with `newServers`: the migration in progress. */
  readonly topology: Topology;
  /** How long to wait for a receiver to be ready (its purge over) before giving it up. @default 120000 */
  readonly readyTimeoutMs?: number;
  /** How often a receiver's record is refreshed while pushing to it (its heartbeat). @default 2000 */
  readonly heartbeatMs?: number;
  /** How often a receiver's readiness is polled. @default 100 */
  readonly pollMs?: number;
}

/** The pusher's report: `vbuckets` counts the vbucket-receiver pairs it was designated. */
export interface PushReport extends ResyncReport {
  readonly mode: 'push';
  /** Receivers designated to this source, and those it finished (their done record written). */
  readonly receivers: number;
  readonly receiversDone: number;
  /** Crawls of this node the push ran (one per round, whatever the number of receivers). */
  readonly crawls: number;
  readonly itemsNotStored: number;
  readonly itemsSkipped: number;
  readonly itemsUnaddressable: number;
  /** Receivers it did not finish: they pull those vbuckets themselves. */
  readonly failedReceivers?: readonly string[];
}

interface Receiver {
  readonly server: Server;
  readonly wanted: Uint8Array;
  vbuckets: number;
  readonly stats: CopyStats;
  done: boolean;
}

/**
 * Pushes, from this node (an old replica), every vbucket the migration designates it for (planPushes)
 * to its receivers: one crawl of the local memcached per round for all of them (SourceCrawl), each item
 * fetched and written (add mode) to the receivers of its vbucket, with the pull's crawl proof or
 * re-crawl. A receiver is written only once it is ready (its record PUSH_READY_KEY: its purge is over),
 * and gets a record (pushedKey) with heartbeats while it runs and `done` or `failed` at the end, only
 * `done` when this node is still the complete process it was at the start. A receiver the push did not
 * finish pulls those vbuckets itself, so a failed push is a report with status `failed`, never a throw
 * (UsageError only on bad input).
 */
export async function runPush(o: PushOptions): Promise<PushReport> {
  const { topology, node } = o;
  if (!topology.newServers)
    throw new UsageError(
      `topology of cluster ${topology.cluster} (epoch ${topology.epoch}) has no newServers: no migration is in progress`,
    );
  if (!topology.servers.some((s) => s.id === node))
    throw new UsageError(
      `node ${node} is not in servers of cluster ${topology.cluster}: it has nothing to push`,
    );
  const local = o.local ?? DEFAULT_LOCAL;
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const addresses = new Map(topology.newServers.map((s) => [s.id, s]));
  const receivers = new Map<string, Receiver>();
  for (const { vbucket, receivers: ids } of pushesFor(planPushes(planMigration(topology), topology), node))
    for (const id of ids) {
      let r = receivers.get(id);
      if (!r) {
        r = {
          server: addresses.get(id)!,
          wanted: new Uint8Array(topology.vbuckets),
          vbuckets: 0,
          stats: emptyCopyStats(),
          done: false,
        };
        receivers.set(id, r);
      }
      r.wanted[vbucket] = 1;
      r.vbuckets++;
    }
  const all = [...receivers.values()];
  const failed = new Map<string, string>();
  let crawl: SourceCrawl | undefined;
  const sum = (f: (s: CopyStats) => number) => all.reduce((n, r) => n + f(r.stats), 0);
  const counters = () => {
    const seconds = (Date.now() - started) / 1000;
    const bytes = sum((s) => s.bytes);
    return {
      cluster: topology.cluster,
      node,
      vbuckets: all.reduce((n, r) => n + r.vbuckets, 0),
      vbucketsDone: all.reduce((n, r) => n + (r.done ? r.vbuckets : 0), 0),
      items: sum((s) => s.items),
      bytes,
      seconds,
      bytesPerSec: seconds > 0 ? Math.round(bytes / seconds) : 0,
    };
  };
  const finish = async (error?: Error): Promise<PushReport> => {
    const report: PushReport = {
      type: 'result',
      mode: 'push',
      status: error ? 'failed' : 'succeeded',
      epoch: topology.epoch,
      ...counters(),
      receivers: all.length,
      receiversDone: all.filter((r) => r.done).length,
      crawls: crawl?.crawls ?? 0,
      itemsNotStored: sum((s) => s.notStored),
      itemsSkipped: sum((s) => s.skipped),
      itemsUnaddressable: sum((s) => s.unaddressable),
      ...(failed.size > 0 ? { failedReceivers: [...failed.keys()] } : {}),
      ...(error ? { error: `${error.name}: ${error.message}` } : {}),
    };
    await o.reporter?.finish(report);
    return report;
  };
  if (all.length === 0) return finish();

  // This node must be a complete replica now and stay the same process to the end, or what it pushes may
  // lack items: then nothing is marked done, and the receivers pull from another replica.
  let before: NodeState;
  try {
    before = await readNodeState(local, o);
  } catch (cause) {
    return finish(LocalMemcachedError.unreachable(local, cause));
  }
  const incomplete = whyIncomplete(before, topology.cluster, node);
  if (incomplete) {
    for (const r of all) failed.set(r.server.id, incomplete);
    return finish(new SourceIncompleteError(node, `${incomplete}; its receivers pull from other replicas`));
  }

  const source: Server = { id: node, address: local };
  const stop = new AbortController();
  // One listener per receiver (a scale-in of a large cluster has hundreds).
  setMaxListeners(0, stop.signal);
  const throttle = new Throttle(o.maxBytesPerSec, () => sum((s) => s.bytes));
  // Every receiver's copy reads the same crawls: what one says of a crawl (enumerating again, and why) all
  // say. Each line once.
  const copyLines = new Set<string>();
  const copyLog = (line: string) => {
    if (copyLines.has(line)) return;
    if (copyLines.size < 1000) copyLines.add(line);
    log(line);
  };
  let guard: LatencyGuard | undefined;
  const reportProgress = () => {
    o.reporter
      ?.progress({ type: 'progress', ...counters() })
      .catch((e: unknown) => log(`progress report failed: ${String(e)}`));
  };
  reportProgress();
  const timer = setInterval(reportProgress, o.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
  try {
    try {
      crawl = await SourceCrawl.open({ ...o, source, vbuckets: topology.vbuckets });
    } catch (cause) {
      return await finish(LocalMemcachedError.unreachable(local, cause));
    }
    if (o.maxBytesPerSec === undefined && o.maxSourceLatencyMs !== 0) {
      guard = new LatencyGuard([local], { boundMs: o.maxSourceLatencyMs, log });
      await guard.ready();
    }
    const shared = crawl;
    // Every receiver joins the first round (ready or not: its keys wait in the spool), so one crawl serves
    // them all. A receiver not ready yet asks for each later round it will need as soon as it knows (see
    // SourceCopy's needsAnotherPass) and holds back none it has not asked for: receivers that become
    // ready in waves (a Map of bounded concurrency) share every round instead of one each.
    const holds = all.map(() => shared.hold());
    const currentCheck = o.stillCurrent
      ? setInterval(() => {
          o.stillCurrent!().then(
            (why) => {
              if (why === undefined || stop.signal.aborted) return;
              log(`stopping: ${why}`);
              stop.abort(new MigrationSupersededError(why));
            },
            (e: unknown) =>
              log(`could not check that the migration is still current: ${(e as Error).message}`),
          );
        }, o.currentCheckIntervalMs ?? 15000)
      : undefined;
    const errors = await Promise.all(all.map((r, i) => pushTo(r, shared, holds[i]))).finally(() =>
      clearInterval(currentCheck),
    );
    if (stop.signal.aborted) return await finish(stop.signal.reason as Error);
    const sourceError = errors.find(
      (e) => e instanceof SourceFailedError || e instanceof LocalMemcachedError,
    );
    if (sourceError) return await finish(sourceError);
    if (failed.size > 0)
      return await finish(
        new SourceFailedError(
          node,
          `${failed.size} of ${all.length} receivers not pushed to (${[...failed].map(([id, why]) => `${id}: ${why}`).join('; ')}); they pull those vbuckets themselves`,
        ),
      );
    return await finish();
  } finally {
    clearInterval(timer);
    crawl?.close();
    await guard?.close();
  }

  /** Pushes to one receiver; resolves with the error that ended it (recorded in `failed`), if any. */
  async function pushTo(r: Receiver, shared: SourceCrawl, release: () => void): Promise<Error | undefined> {
    const id = r.server.id;
    const abort = new AbortController();
    const onStop = () => abort.abort(stop.signal.reason);
    stop.signal.addEventListener('abort', onStop, { once: true });
    let run: string | undefined;
    let ready: Promise<void> = Promise.resolve();
    let seq = 0;
    let heartbeat: NodeJS.Timeout | undefined;
    const record = (status: PushRecord['status'], why?: string): PushRecord => ({
      cluster: topology.cluster,
      epoch: topology.epoch,
      run: run!,
      source: node,
      status,
      seq: ++seq,
      items: r.stats.items,
      bytes: r.stats.bytes,
      notStored: r.stats.notStored,
      skipped: r.stats.skipped,
      unaddressable: r.stats.unaddressable,
      crawls: shared.crawls,
      ...(why ? { why } : {}),
    });
    try {
      let receiverState: NodeState;
      try {
        receiverState = await readNodeState(r.server.address, o);
      } catch (cause) {
        throw new PushReceiverError(id, `unreachable: ${(cause as Error).message}`);
      }
      // Nothing is written before the receiver is ready (its purge over); the crawl does not wait for it.
      ready = (async () => {
        run = (await waitReady(r.server, abort.signal)).run;
        if (abort.signal.aborted) throw abort.signal.reason as Error;
        await writeRecord(r.server.address, pushedKey(node), record('running'), o);
        heartbeat = setInterval(() => {
          writeRecord(r.server.address, pushedKey(node), record('running'), o).catch((e: unknown) =>
            log(`push ${node} -> ${id}: heartbeat failed: ${(e as Error).message}`),
          );
        }, o.heartbeatMs ?? 2000);
      })();
      ready.catch((error: unknown) => abort.abort(error));
      await copyFromSource({
        ...o,
        source,
        local: r.server.address,
        wanted: r.wanted,
        vbuckets: topology.vbuckets,
        stats: r.stats,
        throttle,
        guard: guard?.for(local),
        signal: abort.signal,
        localClockOffsetSec: receiverState.time - Date.now() / 1000,
        maxPasses: o.maxPasses ?? DEFAULT_MAX_PASSES,
        crawl: shared,
        joined: release,
        localReady: ready,
        log: copyLog,
      });
      clearInterval(heartbeat);
      // Still the complete process that was crawled: a restart or flush meanwhile could have hidden items.
      const after = await readNodeState(local, o).catch(() => undefined);
      if (after?.identity !== before.identity || whyIncomplete(after, topology.cluster, node))
        throw new SourceIncompleteError(node, 'it restarted or was flushed during the push');
      await writeRecord(r.server.address, pushedKey(node), record('done'), o);
      r.done = true;
      return undefined;
    } catch (error) {
      release();
      clearInterval(heartbeat);
      if (error instanceof MigrationSupersededError) return error;
      const why = (error as Error).message;
      failed.set(id, why);
      log(`push ${node} -> ${id} failed: ${why}`);
      if (run !== undefined)
        await writeRecord(r.server.address, pushedKey(node), record('failed', why), o).catch(() => undefined);
      // In a copy, the local node is the receiver and the source is this node.
      if (error instanceof LocalMemcachedError) return new PushReceiverError(id, why);
      return error as Error;
    } finally {
      stop.signal.removeEventListener('abort', onStop);
      // A readiness poll still running stops here, and no heartbeat outlives this receiver's push.
      if (!abort.signal.aborted) abort.abort(new Error('push over'));
      await ready.catch(() => undefined);
      clearInterval(heartbeat);
    }
  }

  /** Resolves when `receiver` is ready for this migration; rejects after readyTimeoutMs. */
  async function waitReady(receiver: Server, signal: AbortSignal): Promise<PushReady> {
    const deadline = Date.now() + (o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    for (;;) {
      if (signal.aborted) throw signal.reason as Error;
      const ready = await readRecord<PushReady>(receiver.address, PUSH_READY_KEY, o).catch(() => undefined);
      if (
        ready &&
        ready.cluster === topology.cluster &&
        ready.epoch === topology.epoch &&
        ready.node === receiver.id &&
        typeof ready.run === 'string'
      ) {
        if (ready.closed)
          throw new PushReceiverError(receiver.id, 'it no longer waits for pushes (it pulled)');
        return ready;
      }
      if (Date.now() > deadline)
        throw new PushReceiverError(
          receiver.id,
          `not ready within ${o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms (no ${PUSH_READY_KEY} for epoch ${topology.epoch})`,
        );
      await new Promise((resolve) => setTimeout(resolve, o.pollMs ?? 100));
    }
  }
}
