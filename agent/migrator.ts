import { pullsFor, planMigration, ResyncProgress, ResyncReport, Server, Topology } from '../core';
import { request } from './connection';
import { LocalMemcachedError, SourceFailedError, UsageError, VbucketsUnavailableError } from './errors';
import { ResyncReporter } from './reporter';
import {
  copyFromSource,
  CopyStats,
  CopyWindows,
  DEFAULT_MAX_PASSES,
  emptyCopyStats,
  PassStats,
} from './source-copy';
import { purgeStale, PurgeStats } from './purge';
import { Throttle } from './throttle';

export const DEFAULT_LOCAL = '127.0.0.1:11211';
export const DEFAULT_PROGRESS_INTERVAL_MS = 5000;

export interface ResyncOptions {
  /** The topology with `newServers`: the migration in progress. */
  readonly topology: Topology;
  /** This node's id, as in `newServers`. */
  readonly node: string;
  /** The local memcached to fill. @default '127.0.0.1:11211' */
  readonly local?: string;
  /** Average cap on copied value bytes per second, to protect serving traffic. @default unlimited */
  readonly maxBytesPerSec?: number;
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
  /**
   * Before copying, delete the local items of the gained vbuckets stored before the resync began (CAS
   * below a watermark read from the local node): stale copies the add-mode copy could not replace.
   * Off only in tests that show what it prevents. @default true
   */
  readonly purge?: boolean;
  /** Where key queues spill when they outgrow their memory (see KeySpool). @default os.tmpdir() */
  readonly spillDir?: string;
  /** Diagnostics (stderr in the CLI: stdout belongs to the JSON lines). */
  readonly log?: (line: string) => void;
}

/** The report with the agent's optional extras (parseResyncMessage accepts and ignores them). */
export interface AgentResyncReport extends ResyncReport {
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
}

/**
 * Pulls every vbucket this node gains in the migration from its old replicas
 * into the local memcached. Each old replica is enumerated once per round for
 * all the vbuckets it serves; when one fails, its unfinished vbuckets move to the
 * next old replica in their source lists and a new round runs. Resolves with
 * the report (also given to the reporter); throws only on bad input (UsageError).
 */
export async function runResync(o: ResyncOptions): Promise<AgentResyncReport> {
  const { topology, node } = o;
  if (!topology.newServers)
    throw new UsageError(
      `topology of cluster ${topology.cluster} (epoch ${topology.epoch}) has no newServers: no migration is in progress`,
    );
  const known = [...topology.servers, ...topology.newServers].some((s) => s.id === node);
  if (!known)
    throw new UsageError(`node ${node} is in neither servers nor newServers of cluster ${topology.cluster}`);
  const local = o.local ?? DEFAULT_LOCAL;
  const log = o.log ?? (() => undefined);
  const pulls = pullsFor(planMigration(topology), node);
  const started = Date.now();
  const stats: CopyStats = emptyCopyStats();
  let vbucketsDone = 0;
  const failedSources = new Set<string>();
  let purge: PurgeStats | undefined;

  const counters = () => {
    const seconds = (Date.now() - started) / 1000;
    return {
      cluster: topology.cluster,
      node,
      vbuckets: pulls.length,
      vbucketsDone,
      items: stats.items,
      bytes: stats.bytes,
      seconds,
      bytesPerSec: seconds > 0 ? Math.round(stats.bytes / seconds) : 0,
    };
  };
  const finish = async (error?: Error, failedVbuckets?: number[]): Promise<AgentResyncReport> => {
    const report: AgentResyncReport = {
      type: 'result',
      status: error ? 'failed' : 'succeeded',
      epoch: topology.epoch,
      ...counters(),
      itemsNotStored: stats.notStored,
      itemsSkipped: stats.skipped,
      itemsUnaddressable: stats.unaddressable,
      itemsFoundLate: stats.passes.slice(1).reduce((n, p) => n + p.copied, 0),
      passes: stats.passes.map((p, i) => ({ pass: i + 1, ...p })),
      ...(purge ? { purged: purge.purged, purgePasses: purge.passes } : {}),
      ...(failedVbuckets && failedVbuckets.length > 0 ? { failedVbuckets } : {}),
      ...(failedSources.size > 0 ? { failedSources: [...failedSources] } : {}),
      ...(error ? { error: `${error.name}: ${error.message}` } : {}),
    } as AgentResyncReport;
    await o.reporter?.finish(report);
    return report;
  };

  if (pulls.length === 0) return finish();

  // Fail fast, with a clear reason, when the node we must fill is not there.
  let localClockOffsetSec: number;
  try {
    const statsText = await request(local, 'stats\r\n', (t) => t.endsWith('END\r\n'), o);
    const time = /STAT time (\d+)/.exec(statsText);
    localClockOffsetSec = time ? Number(time[1]) - Date.now() / 1000 : 0;
  } catch (cause) {
    return finish(
      new LocalMemcachedError(`local memcached ${local} is unreachable: ${(cause as Error).message}`, {
        cause,
      }),
    );
  }

  const reportProgress = () => {
    const p: ResyncProgress = { type: 'progress', ...counters() };
    o.reporter?.progress(p).catch((e: unknown) => log(`progress report failed: ${String(e)}`));
  };
  reportProgress();
  const timer = setInterval(reportProgress, o.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
  const abort = new AbortController();
  // Stale copies go first: the add-mode copy never replaces a value already on the node. The sources are
  // crawled meanwhile (their keys wait in the spools), but nothing is fetched, written or checked locally
  // until the purge is over (`localReady`): on a node holding much data the purge is a full local crawl.
  let purgeError: Error | undefined;
  let localReady: Promise<void> = Promise.resolve();
  if (o.purge !== false) {
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
  try {
    const addresses = new Map<string, Server>(topology.servers.map((s) => [s.id, s]));
    const throttle = new Throttle(o.maxBytesPerSec, () => stats.bytes);
    let pending = [...pulls];
    const unavailable: number[] = [];
    while (pending.length > 0) {
      const bySource = new Map<string, number[]>();
      const assigned: { pull: (typeof pulls)[number]; source: string }[] = [];
      for (const pull of pending) {
        const source = pull.sources.find((id) => !failedSources.has(id));
        if (source === undefined) {
          unavailable.push(pull.vbucket);
          continue;
        }
        assigned.push({ pull, source });
        const list = bySource.get(source);
        if (list) list.push(pull.vbucket);
        else bySource.set(source, [pull.vbucket]);
      }
      const results = await Promise.all(
        [...bySource].map(async ([id, vbuckets]) => {
          const wanted = new Uint8Array(topology.vbuckets);
          for (const v of vbuckets) wanted[v] = 1;
          try {
            await copyFromSource({
              source: addresses.get(id) as Server,
              local,
              wanted,
              vbuckets: topology.vbuckets,
              stats,
              throttle,
              signal: abort.signal,
              connectTimeoutMs: o.connectTimeoutMs,
              ioTimeoutMs: o.ioTimeoutMs,
              busyTimeoutMs: o.busyTimeoutMs,
              windows: o.windows,
              localClockOffsetSec,
              maxPasses: o.maxPasses ?? DEFAULT_MAX_PASSES,
              crawlProof: o.crawlProof,
              localReady,
              spillDir: o.spillDir,
              log,
            });
            vbucketsDone += vbuckets.length;
            return undefined;
          } catch (error) {
            if (error instanceof SourceFailedError) {
              log(`${error.message}; taking its ${vbuckets.length} vbuckets from other old replicas`);
              failedSources.add(id);
              return undefined;
            }
            // The local node failed (or a bug): stop every other copy at once.
            abort.abort(error);
            return error as Error;
          }
        }),
      );
      const fatal = purgeError ?? results.find((r) => r !== undefined);
      if (fatal) {
        // Nothing of this resync may outlive it: let a purge still running end (its node's timeouts bound it).
        await localReady.catch(() => undefined);
        return await finish(purgeError ?? fatal);
      }
      // What a failed source was copying goes to the next old replica in the next round.
      pending = assigned.filter((a) => failedSources.has(a.source)).map((a) => a.pull);
    }
    // A copy with nothing to write can end before the purge does: its result still depends on it.
    try {
      await localReady;
    } catch {
      return await finish(purgeError as Error);
    }
    if (unavailable.length > 0) {
      unavailable.sort((a, b) => a - b);
      return await finish(new VbucketsUnavailableError(unavailable, [...failedSources]), unavailable);
    }
    return await finish();
  } finally {
    clearInterval(timer);
  }
}
