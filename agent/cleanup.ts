import { placementOf, ResyncProgress, ResyncReport, Topology } from '../core';
import { UsageError } from './errors';
import { DEFAULT_LOCAL, DEFAULT_PROGRESS_INTERVAL_MS } from './migrator';
import type { CrawlWalk } from './crawl-proof';
import { purgeStale, PurgeStats } from './purge';
import { ResyncReporter } from './reporter';

/**
 * Deletes per second when no cap is given: a cleanup competes with serving traffic for the node's
 * memcached, and nothing waits on it but the cluster's next migration.
 */
export const DEFAULT_CLEANUP_DELETES_PER_SEC = 50_000;

export interface CleanupOptions {
  /** The committed topology (no `newServers`). */
  readonly topology: Topology;
  /** This node's id, as in `servers`. */
  readonly node: string;
  /** The local memcached to clean. @default '127.0.0.1:11211' */
  readonly local?: string;
  /** Average cap on deletes per second. @default DEFAULT_CLEANUP_DELETES_PER_SEC */
  readonly maxDeletesPerSec?: number;
  /** @default 5000 */
  readonly progressIntervalMs?: number;
  readonly reporter?: ResyncReporter;
  /** @default 3000 */
  readonly connectTimeoutMs?: number;
  /** @default 10000 */
  readonly ioTimeoutMs?: number;
  /** @default 60000 */
  readonly busyTimeoutMs?: number;
  /** Enumerations of the local node at most (another runs while one deletes something). @default 3 */
  readonly maxPasses?: number;
  /** How the local node is enumerated (PurgeOptions.crawlWalk). @default 'auto' */
  readonly crawlWalk?: CrawlWalk;
  readonly spillDir?: string;
  readonly log?: (line: string) => void;
}

/**
 * The cleanup's report: the resync report's shape (so the workflow and local mode read it alike), where
 * `vbuckets` counts the vbuckets the node does not hold and `items` the items it deleted.
 */
export interface AgentCleanupReport extends ResyncReport {
  readonly mode: 'cleanup';
  /** Enumerations of the local node. */
  readonly passes?: number;
  /** Items stored from this CAS on were kept (written after the cleanup began). */
  readonly watermark?: number;
}

/** `out[v]` is 1 for each vbucket `node` does not hold in `topology.servers`' placement. */
export function vbucketsNotHeld(topology: Topology, node: string): Uint8Array {
  const placement = placementOf(topology, 'servers');
  const me = placement.ids.indexOf(node);
  const out = new Uint8Array(topology.vbuckets).fill(1);
  const r = placement.replicas;
  for (let i = 0; i < placement.table.length; i++) if (placement.table[i] === me) out[Math.floor(i / r)] = 0;
  return out;
}

/**
 * After a migration commits: deletes from the local memcached every item of the vbuckets this node no
 * longer holds, so that a later migration handing them back never finds an earlier epoch's values here
 * (reads try the new replicas first). Each delete is CAS-guarded below a watermark taken at the start
 * (the purge's machinery), so nothing written after the cleanup began is deleted; Astaire's reserved
 * keys are left alone. Resolves with the report (also given to the reporter); throws only on bad input
 * (UsageError).
 */
export async function runCleanup(o: CleanupOptions): Promise<AgentCleanupReport> {
  const { topology, node } = o;
  if (topology.newServers)
    throw new UsageError(
      `topology of cluster ${topology.cluster} (epoch ${topology.epoch}) has a migration in progress: cleanup runs only against a committed topology; run it after the commit`,
    );
  if (!topology.servers.some((s) => s.id === node))
    throw new UsageError(
      `node ${node} is not in the servers of cluster ${topology.cluster} (epoch ${topology.epoch}): a node that left has nothing to clean up`,
    );
  const local = o.local ?? DEFAULT_LOCAL;
  const log = o.log ?? (() => undefined);
  const wanted = vbucketsNotHeld(topology, node);
  const vbuckets = wanted.reduce((n, w) => n + w, 0);
  const started = Date.now();
  let deleted = 0;
  let done = false;
  const counters = () => {
    const seconds = (Date.now() - started) / 1000;
    return {
      cluster: topology.cluster,
      node,
      vbuckets,
      vbucketsDone: done ? vbuckets : 0,
      items: deleted,
      bytes: 0,
      seconds,
      bytesPerSec: 0,
    };
  };
  const reportProgress = () => {
    const p: ResyncProgress = { type: 'progress', ...counters() };
    o.reporter?.progress(p).catch((e: unknown) => log(`progress report failed: ${String(e)}`));
  };
  reportProgress();
  const timer = setInterval(reportProgress, o.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
  let stats: PurgeStats | undefined;
  let error: Error | undefined;
  try {
    if (vbuckets > 0)
      stats = await purgeStale({
        local,
        node,
        wanted,
        vbuckets: topology.vbuckets,
        maxDeletesPerSec: o.maxDeletesPerSec ?? DEFAULT_CLEANUP_DELETES_PER_SEC,
        onDeleted: () => deleted++,
        label: 'cleanup',
        connectTimeoutMs: o.connectTimeoutMs,
        ioTimeoutMs: o.ioTimeoutMs,
        busyTimeoutMs: o.busyTimeoutMs,
        maxPasses: o.maxPasses,
        spillDir: o.spillDir,
        crawlWalk: o.crawlWalk,
        log,
      });
    done = true;
  } catch (e) {
    error = e as Error;
  } finally {
    clearInterval(timer);
  }
  const report = {
    type: 'result',
    mode: 'cleanup',
    status: error ? 'failed' : 'succeeded',
    epoch: topology.epoch,
    ...counters(),
    ...(stats ? { passes: stats.passes, watermark: stats.watermark } : {}),
    ...(error ? { error: `${error.name}: ${error.message}` } : {}),
  } as AgentCleanupReport;
  await o.reporter?.finish(report);
  return report;
}
