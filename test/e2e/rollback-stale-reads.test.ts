import { rmSync } from 'node:fs';
import { AstaireClient, FileTopologySource } from '../../client';
import { synthesizeWorkflowDefinition } from '../../cdk/definition';
import { LocalResyncFailedError } from '../../local/agent-runner';
import { ExecutionOutcome, LocalRuntime } from '../../local/runtime';
import { tempDir } from '../support/temp-dirs';

// Issue 11, case 6, after a rollback: a scale-in whose resync fails after the staying nodes pulled the
// vbuckets they gain is rolled back; those nodes must not keep their copies, or the scale-in's next
// attempt hands the vbuckets back to them and they serve deleted keys and old values from its publish
// until their agents' purge. Real memcached nodes, real agents, the synthesized state machine run locally.
jest.setTimeout(240_000);

const KEYS = 3000;
const STAYING = 3;
const key = (i: number) => `rollback-${i}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stale reads after a rolled-back scale-in (local mode, real memcached)', () => {
  const stateDir = tempDir('astaire-rollback-');
  let runtime: LocalRuntime;
  let client: AstaireClient;
  /** The fault the next resync reports go through (none: they succeed). */
  let fault: ((node: string) => Promise<void>) | undefined;

  beforeAll(async () => {
    runtime = await LocalRuntime.create({
      stateDir,
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      memoryMb: 64,
      vbuckets: 1024,
      afterResync: async (node) => fault?.(node),
    });
    const boot = await runtime.bootstrap(STAYING + 1);
    expect(boot.status).toBe('SUCCEEDED');
    client = await AstaireClient.open({
      source: new FileTopologySource(runtime.topologyFile),
      pollIntervalMs: 20,
    });
  });

  afterAll(async () => {
    await client?.close();
    await runtime?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** Waits until the client uses the current topology (it polls every 20 ms). */
  const clientCaughtUp = async () => {
    const want = (await runtime.readTopology()).epoch;
    for (let i = 0; i < 250 && client.topology.epoch !== want; i++) await sleep(20);
    expect(client.topology.epoch).toBe(want);
  };
  const runAll = async (events: unknown[]): Promise<ExecutionOutcome[]> => {
    const outcomes: ExecutionOutcome[] = [];
    for (const e of events) outcomes.push(await runtime.execute(e));
    return outcomes;
  };

  it('given 4 -> 3 rolled back after the staying nodes pulled, then deletes and overwrites, when the scale-in is retried, then no read returns a deleted key or an old value', async () => {
    // Given: 4 nodes with data; one leaves, and the first staying node's task fails once every staying
    // node has pulled what it gains (its report lost, say): the workflow restores the 4-node topology.
    for (let i = 0; i < KEYS; i += 500)
      await client.setMulti(
        Array.from({ length: Math.min(500, KEYS - i) }, (_, j) => ({
          key: key(i + j),
          value: `v1-${i + j}`,
        })),
      );
    const leaving = runtime.group.members()[STAYING]!.id;
    const events = runtime.group.terminate([leaving]);
    let finished = 0;
    fault = async (node) => {
      if (++finished !== 1) return;
      for (let i = 0; i < 1000 && finished < STAYING; i++) await sleep(20);
      throw new LocalResyncFailedError(
        `resync of ${node} failed: injected once every staying node had pulled`,
        node,
      );
    };
    const [rolledBack] = await runAll(events);
    fault = undefined;
    expect([rolledBack!.status, rolledBack!.error]).toEqual(['FAILED', expect.stringMatching(/injected/)]);
    expect(rolledBack!.reports.map((r) => r.status)).toEqual(Array(STAYING).fill('succeeded'));
    expect(rolledBack!.reports.reduce((n, r) => n + r.items, 0)).toBeGreaterThan(0);
    const restored = await runtime.readTopology();
    expect(restored.newServers).toBeUndefined();
    expect(restored.servers.map((s) => s.id)).toContain(leaving);
    expect(await runtime.locks.read('local')).toBeUndefined();
    await clientCaughtUp();

    // Deletes and overwrites in the restored epoch: they reach the vbuckets' restored replicas only.
    const deleted: number[] = [];
    const overwritten: number[] = [];
    for (let i = 0; i < KEYS; i++) {
      if (i % 3 === 0) {
        expect(await client.delete(key(i))).toBe(true);
        deleted.push(i);
      } else if (i % 3 === 1) {
        await client.set(key(i), `v2-${i}`);
        overwritten.push(i);
      }
    }

    // When: the same scale-in runs again (the instance still waits in Terminating:Wait) and succeeds,
    // handing the leaving node's vbuckets to the same staying nodes. A reader reads every deleted and
    // overwritten key, over and over, until the execution ends.
    const retry = runAll(events);
    let done = false;
    void retry.then(() => (done = true));
    let staleDeleted = 0;
    let staleOld = 0;
    let migrationReads = 0;
    let reads = 0;
    const startedAt = Date.now();
    const keys = [...deleted, ...overwritten];
    while (!done && Date.now() - startedAt < 60_000 && reads < 5_000_000) {
      const migrating = client.topology.newServers !== undefined;
      const items = await client.getMulti(keys.map(key));
      reads += items.length;
      if (migrating) migrationReads += items.length;
      items.forEach((item, j) => {
        const i = keys[j]!;
        if (i % 3 === 0 && item !== undefined) staleDeleted++;
        if (i % 3 === 1 && item?.value.toString() === `v1-${i}`) staleOld++;
      });
    }
    const outcomes = await retry;
    expect(outcomes.map((o) => [o.status, o.error])).toEqual([['SUCCEEDED', undefined]]);
    expect(migrationReads).toBeGreaterThan(0);

    // Then: not one stale read during the retried migration...
    expect({ staleDeleted, staleOld }).toEqual({ staleDeleted: 0, staleOld: 0 });
    // ... nor after it...
    await clientCaughtUp();
    const after = await client.getMulti(keys.map(key));
    expect(after.filter((item, j) => keys[j]! % 3 === 0 && item !== undefined)).toHaveLength(0);
    expect(
      after.filter((item, j) => keys[j]! % 3 === 1 && item?.value.toString() !== `v2-${keys[j]}`),
    ).toHaveLength(0);
    // ... because the rollback had each staying node delete what it pulled, against the restored epoch.
    expect(rolledBack!.cleanups.map((r) => [r.status, r.epoch])).toEqual(
      Array(STAYING).fill(['succeeded', restored.epoch]),
    );
    expect(rolledBack!.cleanups.reduce((n, r) => n + r.items, 0)).toBeGreaterThan(0);
  });
});
