import type { Executions, Metrics } from '../lambdas/ports';

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

/** The executions this process is running (a lock whose owner is not among them is stale). */
export class LocalExecutions implements Executions {
  readonly running = new Set<string>();

  async isRunning(executionId: string): Promise<boolean> {
    return this.running.has(executionId);
  }
}
