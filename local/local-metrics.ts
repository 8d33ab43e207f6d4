import { randomUUID } from 'node:crypto';
import type { Executions, Metrics } from '../lambdas/ports';
import { isProcessAlive, ProcessRef, sameProcess, thisProcess } from './process-lock';

/** CloudWatch stand-in: counts per cluster and metric name, for the summary and tests. */
export class LocalMetrics implements Metrics {
  readonly counts = new Map<string, number>();

  async count(cluster: string, name: string): Promise<void> {
    const key = `${cluster}/${name}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get(cluster: string, name: string): number {
    return this.counts.get(`${cluster}/${name}`) ?? 0;
  }
}

const EXECUTION_ARN = 'arn:aws:states:local:000000000000:execution:astaire-local:';
const OWNER = /^p(\d+)-(\d*)-/;

/**
 * Local executions across every `astaire local` process: an execution's name starts with its
 * process (`p<pid>-<start time>-<uuid>`), so any process can tell whether its owner still runs.
 */
export class LocalExecutions implements Executions {
  readonly running = new Set<string>();
  private readonly me = thisProcess();

  /** A new execution id owned by this process. */
  newExecution(): { executionId: string; name: string } {
    const name = `p${this.me.pid}-${this.me.start}-${randomUUID()}`;
    return { executionId: `${EXECUTION_ARN}${name}`, name };
  }

  async isRunning(executionId: string): Promise<boolean> {
    if (this.running.has(executionId)) return true;
    const owner = ownerOf(executionId);
    // Ours and not running, or from no process we can name: it has ended.
    if (!owner || sameProcess(owner, this.me)) return false;
    return isProcessAlive(owner);
  }
}

/** The process that runs a local execution, from its id. */
export function ownerOf(executionId: string): ProcessRef | undefined {
  if (!executionId.startsWith(EXECUTION_ARN)) return undefined;
  const m = OWNER.exec(executionId.slice(EXECUTION_ARN.length));
  return m ? { pid: Number(m[1]), start: m[2]! } : undefined;
}
