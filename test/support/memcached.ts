import { MemcachedOptions, MemcachedProcess } from '../../local/memcached-process';

/**
 * Real memcached processes on free loopback ports for integration and e2e tests.
 * Use with `afterEach`/`afterAll(() => cluster.stop())`; the supervisor also kills
 * them when the test process exits, so a failing test leaves none behind.
 */
export class MemcachedCluster {
  private constructor(readonly nodes: MemcachedProcess[]) {}

  static async start(count: number, options: MemcachedOptions = {}): Promise<MemcachedCluster> {
    const nodes = await Promise.all(Array.from({ length: count }, () => MemcachedProcess.start(options)));
    return new MemcachedCluster(nodes);
  }

  /** `{id, address}` per node, ids `node-1`, `node-2`, ... as in a topology document. */
  servers(prefix = 'node'): { id: string; address: string }[] {
    return this.nodes.map((n, i) => ({ id: `${prefix}-${i + 1}`, address: n.address }));
  }

  /** Adds more nodes (a scale-out). */
  async add(count: number, options: MemcachedOptions = {}): Promise<MemcachedProcess[]> {
    const added = await Promise.all(Array.from({ length: count }, () => MemcachedProcess.start(options)));
    this.nodes.push(...added);
    return added;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

export { MemcachedProcess };
