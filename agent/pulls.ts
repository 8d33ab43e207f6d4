import type { CrawlWalk } from './crawl-proof';
import { ResyncProgress, ResyncReport, Server, Topology, VbucketPull } from '../core';
import {
  LocalMemcachedError,
  MigrationSupersededError,
  SourceFailedError,
  SourceIncompleteError,
  VbucketsUnavailableError,
} from './errors';
import { isComplete, Marker, NodeState, readNodeState, whyIncomplete, writeMarker } from './marker';
import { purgeStale, PurgeStats } from './purge';
import { Received } from './push-receive';
import { ResyncReporter } from './reporter';
import {
  copyFromSource,
  CopyStats,
  CopyWindows,
  DEFAULT_MAX_PASSES,
  emptyCopyStats,
  PassStats,
} from './source-copy';
import { LatencyGuard } from './latency-probe';
import { Throttle } from './throttle';

export const DEFAULT_LOCAL = '127.0.0.1:11211';
export const DEFAULT_PROGRESS_INTERVAL_MS = 5000;

/** What the resync and the heal share: where the data goes, how fast, and how it is reported. */
export interface PullOptions {
  /** This node's id, as in the topology. */
  readonly node: string;
  /** The local memcached to fill. @default '127.0.0.1:11211' */
  readonly local?: string;
  /**
   * Average cap on copied value bytes per second, to protect serving traffic. When set, it replaces the
   * adaptive throttle. @default unlimited
   */
  readonly maxBytesPerSec?: number;
  /**
   * The adaptive throttle's bound: the latency (ms) of each source as the agent's probes see it; the copy
   * from a source over it slows down (latency-probe.ts). 0 turns the adaptive throttle off.
   * @default twice the source's latency before the copy, at least 1 ms
   */
  readonly maxSourceLatencyMs?: number;
  /** @default 5000 */
  readonly progressIntervalMs?: number;
  readonly reporter?: ResyncReporter;
  /** @default 3000 */
  readonly connectTimeoutMs?: number;
  /** @default 10000 */
  readonly ioTimeoutMs?: number;
  /** @default 60000 */
  readonly busyTimeoutMs?: number;
  readonly windows?: CopyWindows;
  /**
   * Enumeration passes per source at most: after the first, the source is enumerated again and
   * keys not yet on the local node are copied (the crawler misses items that move between LRU
   * lists mid-crawl), until a pass finds none missing. @default 3
   */
  readonly maxPasses?: number;
  /**
   * Skip a source's further passes when its `stats` counters prove the last crawl listed every item (see
   * whyNotComplete). Off, every source is enumerated at least twice. @default true
   */
  readonly crawlProof?: boolean;
  /** How sources are enumerated (SourceCrawlOptions.crawlWalk). @default 'auto' */
  readonly crawlWalk?: CrawlWalk;
  /** Where key queues spill when they outgrow their memory (see KeySpool). @default os.tmpdir() */
  readonly spillDir?: string;
  /** Diagnostics (stderr in the CLI: stdout belongs to the JSON lines). */
  readonly log?: (line: string) => void;
  /**
   * Asked every `currentCheckIntervalMs` while copying: why the run no longer serves the current migration
   * (its topology moved on: rolled back, committed or replaced), or undefined while it does. A reason stops
   * the run at once, reported as failed: an agent must not outlive the execution that started it.
   */
  readonly stillCurrent?: () => Promise<string | undefined>;
  /** @default 15000 */
  readonly currentCheckIntervalMs?: number;
}

/** The report with the agent's optional extras (parseResyncMessage accepts and ignores them). */
export interface AgentResyncReport extends ResyncReport {
  /** What ran: a migration's resync, or the heal of a member that restarted. */
  readonly mode: 'resync' | 'heal';
  /** Items a client wrote first: the local value was kept. */
  readonly itemsNotStored: number;
  /** Items that expired or were deleted before they could be copied. */
  readonly itemsSkipped: number;
  /** Items whose key the meta protocol cannot address (see CopyStats.unaddressable): not copied, logged. */
  readonly itemsUnaddressable: number;
  /** Items copied by passes after the first: what the crawler missed the first time. */
  readonly itemsFoundLate: number;
  /** Per enumeration pass, summed over sources: wanted keys listed, keys missing locally, items copied. */
  readonly passes: readonly (PassStats & { readonly pass: number })[];
  /** Local items of gained vbuckets deleted before the copy (stale copies; client writes the copy brings back). */
  readonly purged?: number;
  /** Enumerations of the local node the purge ran. */
  readonly purgePasses?: number;
  /**
   * vbuckets declared lost: no replica that could hold their data is left (its only replicas are gone
   * from the group, or, for a heal, every other replica restarted too). Counted, never silently dropped.
   */
  readonly vbucketsLost?: readonly number[];
  /** The node was marked a complete replica at the end (see marker.ts). */
  readonly markedComplete: boolean;
  /** Pushes received (a resync with pushers): the vbuckets and items they brought, the pushers given up. */
  readonly pushed?: {
    readonly pushers: number;
    readonly pushersDone: number;
    readonly vbuckets: number;
    readonly items: number;
    readonly fallbacks: readonly string[];
  };
}

/** How one run of pulls is set up by its mode (resync or heal). */
export interface PullRun {
  readonly mode: 'resync' | 'heal';
  readonly topology: Topology;
  /** What to pull, each vbucket with its candidate sources best first (a pull with none is lost). */
  readonly pulls: readonly VbucketPull[];
  /** Every server a source id may name. */
  readonly sources: ReadonlyMap<string, Server>;
  /** Delete the local items of the pulled vbuckets stored before the run (stale copies). */
  readonly purge: boolean;
  /**
   * A vbucket whose every candidate source is reachable but not complete is lost (its data is gone
   * everywhere) rather than unavailable (a source may come back): true for a heal.
   */
  readonly incompleteMeansLost: boolean;
  /** Whether to mark the node complete at the end, given whether it was complete at the start. */
  readonly markWhen: (wasComplete: boolean) => boolean;
  /**
   * Pushes to wait for once the purge is over (push-receive.ts): the vbuckets they brought in full are
   * not pulled. @default none: everything is pulled
   */
  readonly receive?: (
    signal: AbortSignal,
    onProgress: (arrived: { items: number; bytes: number; vbuckets: number }) => void,
  ) => Promise<Received>;
}

type Failure = 'incomplete' | 'failed';

/**
 * Pulls vbuckets from their sources into the local memcached: check the local node, purge (resync),
 * copy each source once per round (a source is used only when it proves itself a complete replica,
 * before and after its copy), and mark the node complete when the mode says so. Resolves with the
 * report (also given to the reporter); a failure is a report with status `failed`, never a throw.
 */
export async function runPulls(o: PullOptions, run: PullRun): Promise<AgentResyncReport> {
  const { topology, pulls } = run;
  const { node } = o;
  const local = o.local ?? DEFAULT_LOCAL;
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const stats: CopyStats = emptyCopyStats();
  let vbucketsDone = 0;
  const failedSources = new Map<string, { kind: Failure; why: string }>();
  const lost: number[] = [];
  let purge: PurgeStats | undefined;
  let received: Received | undefined;
  /** What the pushes brought so far, while they run (afterwards it is in `stats` and vbucketsDone). */
  let arriving = { items: 0, bytes: 0, vbuckets: 0 };
  let markedComplete = false;
  let guard: LatencyGuard | undefined;

  const counters = () => {
    const seconds = (Date.now() - started) / 1000;
    return {
      cluster: topology.cluster,
      node,
      vbuckets: pulls.length,
      vbucketsDone: vbucketsDone + arriving.vbuckets,
      items: stats.items + arriving.items,
      bytes: stats.bytes + arriving.bytes,
      seconds,
      bytesPerSec: seconds > 0 ? Math.round((stats.bytes + arriving.bytes) / seconds) : 0,
    };
  };
  const finish = async (error?: Error, failedVbuckets?: number[]): Promise<AgentResyncReport> => {
    const report: AgentResyncReport = {
      type: 'result',
      mode: run.mode,
      status: error ? 'failed' : 'succeeded',
      epoch: topology.epoch,
      ...counters(),
      itemsNotStored: stats.notStored,
      itemsSkipped: stats.skipped,
      itemsUnaddressable: stats.unaddressable,
      itemsFoundLate: stats.passes.slice(1).reduce((n, p) => n + p.copied, 0),
      passes: stats.passes.map((p, i) => ({ pass: i + 1, ...p })),
      markedComplete,
      ...(received
        ? {
            pushed: {
              pushers: received.pushers,
              pushersDone: received.pushersDone,
              vbuckets: received.vbuckets.size,
              items: received.items,
              fallbacks: received.fallbacks,
            },
          }
        : {}),
      ...(purge ? { purged: purge.purged, purgePasses: purge.passes } : {}),
      ...(lost.length > 0 ? { vbucketsLost: [...lost].sort((a, b) => a - b) } : {}),
      ...(failedVbuckets && failedVbuckets.length > 0 ? { failedVbuckets } : {}),
      ...(failedSources.size > 0 ? { failedSources: [...failedSources.keys()] } : {}),
      ...(error ? { error: `${error.name}: ${error.message}` } : {}),
    } as AgentResyncReport;
    await o.reporter?.finish(report);
    return report;
  };

  // The local node: reachable, and which memcached process it is (a restart during the run loses what it got).
  let before: NodeState;
  try {
    before = await readNodeState(local, o);
  } catch (cause) {
    return finish(LocalMemcachedError.unreachable(local, cause));
  }
  const wasComplete = isComplete(before, topology.cluster, node);

  const reportProgress = () => {
    const p: ResyncProgress = { type: 'progress', ...counters() };
    o.reporter?.progress(p).catch((e: unknown) => log(`progress report failed: ${String(e)}`));
  };
  reportProgress();
  const timer = setInterval(reportProgress, o.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
  try {
    const copyError = await copyAll();
    // The probes end with the copy: nothing of it may delay the marker and the report that follow.
    await guard?.close();
    guard = undefined;
    if (copyError) return await finish(copyError.error, copyError.failedVbuckets);
    if (lost.length > 0)
      log(
        `${lost.length} vbucket(s) declared lost: no replica that could hold their data is left (${lost.slice(0, 20).join(', ')}${lost.length > 20 ? ', ...' : ''})`,
      );
    // The end: the local node must still be the process that received everything, and is marked so.
    const marker: Marker = {
      cluster: topology.cluster,
      node,
      epoch: topology.epoch,
      at: new Date().toISOString(),
    };
    try {
      if (run.markWhen(wasComplete)) {
        markedComplete = await writeMarker(local, before.identity, marker, o);
        if (!markedComplete) throw new Error('it restarted or was flushed during the run');
      } else {
        const after = await readNodeState(local, o);
        if (after.identity !== before.identity) throw new Error('it restarted or was flushed during the run');
        if (run.mode === 'resync' && !wasComplete)
          log(
            `node ${node} is not a complete replica (${whyIncomplete(before, topology.cluster, node)}): not marked; its heal refills it`,
          );
      }
    } catch (cause) {
      return await finish(
        new LocalMemcachedError(`local memcached ${local}: ${(cause as Error).message}`, { cause }),
      );
    }
    return await finish();
  } finally {
    clearInterval(timer);
    await guard?.close();
  }

  /** Purge and copy rounds; resolves with the failure, or undefined when every vbucket is in place or lost. */
  async function copyAll(): Promise<{ error: Error; failedVbuckets?: number[] } | undefined> {
    const abort = new AbortController();
    // Stale copies go first: the add-mode copy never replaces a value already on the node. The sources are
    // crawled meanwhile (their keys wait in the spools), but nothing is fetched, written or checked locally
    // until the purge is over (`localReady`): on a node holding much data the purge is a full local crawl.
    let purgeError: Error | undefined;
    let localReady: Promise<void> = Promise.resolve();
    if (run.purge && pulls.length > 0) {
      const gained = new Uint8Array(topology.vbuckets);
      for (const p of pulls) gained[p.vbucket] = 1;
      localReady = purgeStale({
        local,
        node,
        wanted: gained,
        vbuckets: topology.vbuckets,
        connectTimeoutMs: o.connectTimeoutMs,
        ioTimeoutMs: o.ioTimeoutMs,
        busyTimeoutMs: o.busyTimeoutMs,
        spillDir: o.spillDir,
        crawlWalk: o.crawlWalk,
        log,
      }).then(
        (s) => {
          purge = s;
        },
        (error: unknown) => {
          purgeError = error as Error;
          abort.abort(purgeError);
          throw purgeError;
        },
      );
      localReady.catch(() => undefined); // handled through purgeError; copies see the abort
    }
    const throttle = new Throttle(o.maxBytesPerSec, () => stats.bytes);
    let superseded: Error | undefined;
    const currentCheck = o.stillCurrent
      ? setInterval(() => {
          o.stillCurrent!().then(
            (why) => {
              if (why === undefined || superseded) return;
              superseded = new MigrationSupersededError(why);
              log(`stopping: ${why}`);
              abort.abort(superseded);
            },
            (e: unknown) =>
              log(`could not check that the migration is still current: ${(e as Error).message}`),
          );
        }, o.currentCheckIntervalMs ?? 15000)
      : undefined;
    try {
      if (run.receive) {
        const failure = await receiveFirst(run.receive);
        if (failure) return failure;
      }
      return await copyRounds();
    } finally {
      if (currentCheck) clearInterval(currentCheck);
    }

    /** After the purge, the pushes: what they brought in full is not pulled. */
    async function receiveFirst(
      receive: NonNullable<PullRun['receive']>,
    ): Promise<{ error: Error } | undefined> {
      try {
        await localReady;
      } catch {
        return { error: purgeError as Error };
      }
      try {
        received = await receive(abort.signal, (a) => (arriving = a));
      } catch (error) {
        return { error: superseded ?? (error as Error) };
      } finally {
        arriving = { items: 0, bytes: 0, vbuckets: 0 };
      }
      stats.items += received.items;
      stats.bytes += received.bytes;
      stats.notStored += received.notStored;
      stats.skipped += received.skipped;
      stats.unaddressable += received.unaddressable;
      return undefined;
    }

    async function copyRounds(): Promise<{ error: Error; failedVbuckets?: number[] } | undefined> {
      const unavailable: number[] = [];
      let pending = pulls.filter((p) => {
        if (received?.vbuckets.has(p.vbucket)) {
          vbucketsDone++;
          return false;
        }
        if (p.sources.length > 0) return true;
        lost.push(p.vbucket);
        vbucketsDone++;
        return false;
      });
      // The adaptive throttle, unless a fixed cap overrides it: for the sources of what is left to pull only
      // (after pushes, often nothing: a receiver waiting on pushes probes no source). Closed when the copy
      // ends (or in the finally).
      if (o.maxBytesPerSec === undefined && o.maxSourceLatencyMs !== 0 && pending.length > 0) {
        const addresses = [...new Set(pending.flatMap((p) => p.sources))].map(
          (id) => run.sources.get(id)?.address,
        );
        guard = new LatencyGuard(
          addresses.filter((a) => a !== undefined),
          { boundMs: o.maxSourceLatencyMs, log },
        );
        await guard.ready();
      }
      while (pending.length > 0) {
        const bySource = new Map<string, number[]>();
        const assigned: { pull: VbucketPull; source: string }[] = [];
        for (const pull of pending) {
          const source = pull.sources.find((id) => !failedSources.has(id));
          if (source === undefined) {
            const allIncomplete = pull.sources.every((id) => failedSources.get(id)?.kind === 'incomplete');
            if (run.incompleteMeansLost && allIncomplete) {
              lost.push(pull.vbucket);
              vbucketsDone++;
            } else unavailable.push(pull.vbucket);
            continue;
          }
          assigned.push({ pull, source });
          const list = bySource.get(source);
          if (list) list.push(pull.vbucket);
          else bySource.set(source, [pull.vbucket]);
        }
        const results = await Promise.all(
          [...bySource].map(([id, vbuckets]) => copyOneSource(run.sources.get(id) as Server, vbuckets)),
        );
        const fatal = superseded ?? purgeError ?? results.find((r) => r !== undefined);
        if (fatal) {
          // Nothing of this run may outlive it: let a purge still running end (its node's timeouts bound it).
          await localReady.catch(() => undefined);
          return { error: superseded ?? purgeError ?? fatal };
        }
        // What a failed source was copying goes to the next candidate in the next round.
        pending = assigned.filter((a) => failedSources.has(a.source)).map((a) => a.pull);
      }
      // A copy with nothing to write can end before the purge does: its result still depends on it.
      try {
        await localReady;
      } catch {
        return { error: purgeError as Error };
      }
      if (unavailable.length > 0) {
        unavailable.sort((a, b) => a - b);
        const reasons = [...failedSources].map(([id, f]) => `${id} (${f.why})`);
        return { error: new VbucketsUnavailableError(unavailable, reasons), failedVbuckets: unavailable };
      }
      if (superseded) return { error: superseded };
      return undefined;
    }

    /** Copies `vbuckets` from `source`; undefined when done or when the source failed (recorded), else the fatal error. */
    async function copyOneSource(source: Server, vbuckets: number[]): Promise<Error | undefined> {
      const wanted = new Uint8Array(topology.vbuckets);
      for (const v of vbuckets) wanted[v] = 1;
      try {
        const first = await checkSource(source);
        await copyFromSource({
          source,
          local,
          wanted,
          vbuckets: topology.vbuckets,
          stats,
          throttle,
          guard: guard?.for(source.address),
          signal: abort.signal,
          connectTimeoutMs: o.connectTimeoutMs,
          ioTimeoutMs: o.ioTimeoutMs,
          busyTimeoutMs: o.busyTimeoutMs,
          windows: o.windows,
          localClockOffsetSec: before.time - Date.now() / 1000,
          maxPasses: o.maxPasses ?? DEFAULT_MAX_PASSES,
          crawlProof: o.crawlProof,
          crawlWalk: o.crawlWalk,
          localReady,
          spillDir: o.spillDir,
          log,
        });
        // Still the same complete process: a restart or flush during the crawl could have hidden items.
        const last = await checkSource(source);
        if (last.identity !== first.identity)
          throw new SourceIncompleteError(source.id, 'it restarted or was flushed during the copy');
        vbucketsDone += vbuckets.length;
        return undefined;
      } catch (error) {
        if (error instanceof SourceFailedError) {
          const kind: Failure = error instanceof SourceIncompleteError ? 'incomplete' : 'failed';
          log(`${error.message}; taking its ${vbuckets.length} vbuckets from other replicas`);
          failedSources.set(source.id, { kind, why: error.message.replace(/^source \S+: /, '') });
          return undefined;
        }
        // The local node failed (or a bug): stop every other copy at once.
        abort.abort(error);
        return error as Error;
      }
    }

    async function checkSource(source: Server): Promise<NodeState> {
      let state: NodeState;
      try {
        state = await readNodeState(source.address, o);
      } catch (cause) {
        throw new SourceFailedError(source.id, (cause as Error).message, { cause });
      }
      const why = whyIncomplete(state, topology.cluster, source.id);
      if (why) throw new SourceIncompleteError(source.id, why);
      return state;
    }
  }
}
