import { AstaireError, describeValue } from './errors';

/**
 * What an agent reports about one node's resync. It crosses process boundaries:
 * agent stdout (local mode, `--json`), Step Functions SendTaskSuccess output and
 * SendTaskFailure cause (AWS), so it is validated on every read.
 */
export interface ResyncProgress {
  readonly type: 'progress';
  readonly cluster: string;
  readonly node: string;
  /** vbuckets this node must pull. */
  readonly vbuckets: number;
  readonly vbucketsDone: number;
  readonly items: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly bytesPerSec: number;
}

export interface ResyncReport {
  readonly type: 'result';
  readonly status: 'succeeded' | 'failed';
  readonly cluster: string;
  readonly node: string;
  /** Epoch of the topology the resync ran against. */
  readonly epoch: number;
  readonly vbuckets: number;
  readonly vbucketsDone: number;
  readonly items: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly bytesPerSec: number;
  /** vbuckets no source could provide (status failed). */
  readonly failedVbuckets?: readonly number[];
  /** Old replicas that failed and were skipped, by id. */
  readonly failedSources?: readonly string[];
  /** Why it failed (status failed). */
  readonly error?: string;
  /**
   * What ran: a migration's `resync` (the default), the `heal` of a member that restarted, or the
   * `cleanup` after a commit (then `vbuckets` counts those the node does not hold, `items` those deleted),
   * or the `push` of a source to its receivers (`vbuckets` counts vbucket-receiver pairs).
   */
  readonly mode?: 'resync' | 'heal' | 'cleanup' | 'push';
  /**
   * vbuckets whose data no replica holds any more (its only replicas are gone, or all restarted):
   * declared lost, counted and alarmed on, never silently dropped.
   */
  readonly vbucketsLost?: readonly number[];
}

export class ResyncReportError extends AstaireError {
  override readonly name = 'ResyncReportError';
}

const COUNTERS = ['vbuckets', 'vbucketsDone', 'items', 'bytes', 'seconds', 'bytesPerSec'] as const;

/** Validates one agent output line or object (progress or result). */
export function parseResyncMessage(input: string | unknown): ResyncProgress | ResyncReport {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch (cause) {
      throw new ResyncReportError(`agent output is not JSON: ${describeValue(input)}`, { cause });
    }
  }
  const bad = (field: string, value: unknown): never => {
    throw new ResyncReportError(`agent report field ${field} is invalid (got ${describeValue(value)})`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return bad('document', doc);
  const d = doc as Record<string, unknown>;
  if (d.type !== 'progress' && d.type !== 'result') bad('type', d.type);
  for (const f of ['cluster', 'node'] as const) if (typeof d[f] !== 'string' || d[f] === '') bad(f, d[f]);
  for (const f of COUNTERS)
    if (typeof d[f] !== 'number' || !Number.isFinite(d[f]) || (d[f] as number) < 0) bad(f, d[f]);
  if (d.type === 'progress') return d as unknown as ResyncProgress;
  if (d.status !== 'succeeded' && d.status !== 'failed') bad('status', d.status);
  if (!Number.isSafeInteger(d.epoch) || (d.epoch as number) < 0) bad('epoch', d.epoch);
  if (
    d.failedVbuckets !== undefined &&
    (!Array.isArray(d.failedVbuckets) || !d.failedVbuckets.every(Number.isInteger))
  )
    bad('failedVbuckets', d.failedVbuckets);
  if (
    d.failedSources !== undefined &&
    (!Array.isArray(d.failedSources) || !d.failedSources.every((s) => typeof s === 'string'))
  )
    bad('failedSources', d.failedSources);
  if (d.error !== undefined && typeof d.error !== 'string') bad('error', d.error);
  if (
    d.mode !== undefined &&
    d.mode !== 'resync' &&
    d.mode !== 'heal' &&
    d.mode !== 'cleanup' &&
    d.mode !== 'push'
  )
    bad('mode', d.mode);
  if (
    d.vbucketsLost !== undefined &&
    (!Array.isArray(d.vbucketsLost) || !d.vbucketsLost.every(Number.isInteger))
  )
    bad('vbucketsLost', d.vbucketsLost);
  if (d.status === 'failed' && !d.error) bad('error', d.error);
  return d as unknown as ResyncReport;
}
