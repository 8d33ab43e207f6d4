import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AstaireError, parseResyncMessage, ResyncProgress, ResyncReport } from '../core';

/** A node's resync failed or the agent died: what SendTaskFailure would report on AWS. */
export class LocalResyncFailedError extends AstaireError {
  override readonly name: string = 'ResyncFailed';
  constructor(
    message: string,
    readonly node: string,
    readonly report?: ResyncReport,
  ) {
    super(message);
  }
}

/** A node's cleanup after the commit failed or its agent died (the workflow's Catch matches `CleanupFailed`). */
export class LocalCleanupFailedError extends LocalResyncFailedError {
  override readonly name = 'CleanupFailed';
}

/** A source's push failed or its agent died (the workflow catches `PushFailed`: its receivers pull instead). */
export class LocalPushFailedError extends LocalResyncFailedError {
  override readonly name = 'PushFailed';
}

/**
 * The modes whose progress is data arriving on the node: shown as a receiving node's progress. A push's
 * progress is the source's (its receivers show what arrives) and a cleanup's is deletions.
 */
const RECEIVING: ReadonlySet<string> = new Set(['resync', 'receive']);

/** What the SSM document's `mode` parameter may ask of the agent (its subcommand). */
const MODES = ['resync', 'receive', 'push', 'cleanup'] as const;

/** The resolved Parameters of the workflow's `ssm:sendCommand.waitForTaskToken` state. */
export interface SendCommandInput {
  readonly DocumentName?: string;
  readonly InstanceIds: readonly string[];
  readonly Parameters: Readonly<Record<string, readonly string[]>>;
}

export interface LocalAgentOptions {
  /** The compiled agent CLI (dist/agent/cli.js). */
  readonly agentScript: string;
  /** The file that stands in for the cluster's topology parameter. */
  readonly topologyFile: (cluster: string) => string;
  /** The node's memcached address (`--local`). */
  readonly addressOf: (node: string) => string;
  readonly onProgress?: (progress: ResyncProgress) => void;
  /** @default 1000 */
  readonly progressIntervalMs?: number;
  /** Extra agent arguments, e.g. a bytes/s limit. */
  readonly extraArgs?: readonly string[];
  /**
   * Holds each agent while it runs, so that whoever ends the execution can stop the agents
   * still running when it fails (as a failed Map stops its other iterations).
   */
  readonly running?: Set<ChildProcess>;
}

/** What the workflow's task gives the agent locally (local/asl's TaskContext): its heartbeat and its end. */
export interface LocalAgentTask {
  /** SendTaskHeartbeat: called on each progress line, as the agent on AWS heartbeats with its progress. */
  heartbeat?(): void;
  /** Aborted when the task times out or its execution stops: the agent is then stopped. */
  readonly signal?: AbortSignal;
}

/**
 * The local stand-in for SSM SendCommand + the agent's task-token callback: runs
 * `astaire-agent <mode> --json` (the command's `mode` parameter, resync by default) as a child
 * process for the command's instance and resolves with its final report (SendTaskSuccess) or
 * rejects (SendTaskFailure).
 */
export function createLocalResyncTask(
  options: LocalAgentOptions,
): (input: SendCommandInput, task?: LocalAgentTask) => Promise<ResyncReport> {
  return async (input, task) => {
    const node = input.InstanceIds[0];
    const cluster = input.Parameters.cluster?.[0];
    const mode = MODES.find((m) => m === (input.Parameters.mode?.[0] ?? 'resync'));
    if (!node || !cluster || !mode)
      throw new LocalResyncFailedError(
        `sendCommand input names no node, cluster or known mode: ${JSON.stringify(input)}`,
        node ?? '?',
      );
    const args = [
      options.agentScript,
      mode,
      '--node',
      node,
      '--topology',
      options.topologyFile(cluster),
      '--local',
      options.addressOf(node),
      '--json',
      '--progress-interval-ms',
      String(options.progressIntervalMs ?? 1000),
      ...(options.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    options.running?.add(child);
    const stop = () => child.kill('SIGTERM');
    task?.signal?.addEventListener('abort', stop, { once: true });
    child.once('close', () => {
      options.running?.delete(child);
      task?.signal?.removeEventListener('abort', stop);
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    let report: ResyncReport | undefined;
    let badLine: string | undefined;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (!line.trim()) return;
      try {
        const message = parseResyncMessage(line);
        // Progress is a receiving node's: a cleanup's deletions are not shown as data arriving.
        if (message.type === 'progress') {
          task?.heartbeat?.();
          if (RECEIVING.has(mode)) options.onProgress?.(message);
        } else {
          report = message;
          // The report's counters are the last word: the interval's last progress may predate the end.
          if (RECEIVING.has(mode)) options.onProgress?.(progressOf(message));
        }
      } catch (error) {
        badLine ??= `${(error as Error).message}`;
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c, s) => resolve([c, s]));
    });
    if (report?.status === 'succeeded' && code === 0) return report;
    const why =
      report?.error ??
      badLine ??
      (stderr.trim().split('\n').pop() || `agent exited with ${signal ?? `code ${code}`} and no report`);
    // The agent's own diagnostics (which source failed and how) go where the handlers log.
    console.error(
      JSON.stringify({ message: 'agent failed', mode, node, code, signal, stderr: stderr.trim() }),
    );
    if (mode === 'cleanup')
      throw new LocalCleanupFailedError(
        `cleanup of ${node} at epoch ${input.Parameters.epoch?.[0] ?? '?'} failed: ${why}; the topology stands, but the node may keep copies of vbuckets it does not hold: run astaire-agent cleanup on it`,
        node,
        report,
      );
    if (mode === 'push')
      throw new LocalPushFailedError(
        `push of ${node} failed: ${why}; its receivers pull what it did not push`,
        node,
        report,
      );
    throw new LocalResyncFailedError(`resync of ${node} failed: ${why}`, node, report);
  };
}

/** A report's counters as a final progress message. */
function progressOf(r: ResyncReport): ResyncProgress {
  return {
    type: 'progress',
    cluster: r.cluster,
    node: r.node,
    vbuckets: r.vbuckets,
    vbucketsDone: r.vbucketsDone,
    items: r.items,
    bytes: r.bytes,
    seconds: r.seconds,
    bytesPerSec: r.bytesPerSec,
  };
}
