import { rmSync } from 'node:fs';
import { AstaireClient, FileTopologySource } from '../../client';
import { synthesizeWorkflowDefinition } from '../../cdk/definition';
import { ExecutionOutcome, LocalRuntime } from '../../local/runtime';
import { tempDir } from '../support/temp-dirs';

// Issue 11, case 6: a node that regains vbuckets it held in an earlier epoch must not serve its old
// copies (deleted keys, older values), not even between the publish of the migration and its agent's
// purge. Real memcached nodes, real agents, the synthesized state machine run locally.
jest.setTimeout(180_000);

const KEYS = 3000;
const key = (i: number) => `stale-${i}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stale reads across a scale-out and a scale-in (local mode, real memcached)', () => {
  const stateDir = tempDir('astaire-stale-');
  let runtime: LocalRuntime;
  let client: AstaireClient;

  beforeAll(async () => {
    runtime = await LocalRuntime.create({
      stateDir,
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      memoryMb: 64,
      vbuckets: 1024,
    });
    const boot = await runtime.bootstrap(3);
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

  const runAll = async (events: unknown[]): Promise<ExecutionOutcome[]> => {
    const outcomes: ExecutionOutcome[] = [];
    for (const e of events) outcomes.push(await runtime.execute(e));
    return outcomes;
  };
  /** Waits until the client uses the committed topology (it polls every 20 ms). */
  const clientCaughtUp = async () => {
    const want = (await runtime.readTopology()).epoch;
    for (let i = 0; i < 250 && client.topology.epoch !== want; i++) await sleep(20);
    expect(client.topology.epoch).toBe(want);
  };

  it('given 3 -> 4, then deletes and overwrites, when scaling back 4 -> 3, then no read from the publish on returns a deleted key or an old value', async () => {
    // Given: 3 nodes with data, scaled out to 4 (the new node takes vbuckets from the 3 old ones).
    for (let i = 0; i < KEYS; i += 500)
      await client.setMulti(
        Array.from({ length: Math.min(500, KEYS - i) }, (_, j) => ({
          key: key(i + j),
          value: `v1-${i + j}`,
        })),
      );
    const added = await runtime.group.launch(1);
    const out = await runAll(added);
    expect(out.map((o) => [o.status, o.error])).toEqual([['SUCCEEDED', undefined]]);
    // The three old nodes deleted what they gave away.
    expect(out[0]!.cleanups.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(out[0]!.cleanups.reduce((n, r) => n + r.items, 0)).toBeGreaterThan(0);
    await clientCaughtUp();

    // Deletes and overwrites, in the 4-node epoch: the nodes that gave vbuckets away do not see them.
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

    // When: the new node leaves (4 -> 3): its vbuckets go back to the nodes that held them before.
    const leaving = runtime.group.members().find((m) => m.id === added[0]!.detail.EC2InstanceId)!;
    const scaleIn = runAll(runtime.group.terminate([leaving.id]));
    let done = false;
    void scaleIn.then(() => (done = true));

    // A reader reads every deleted and overwritten key, over and over, until the execution ends. (A stale
    // old value is rarer than a deleted key coming back: a node regains a slot as the second replica, and
    // reads try the first, which has the new value; both are counted.)
    let reads = 0;
    let staleDeleted = 0;
    let staleOld = 0;
    let migrationReads = 0;
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
    const outcomes = await scaleIn;
    expect(outcomes.map((o) => [o.status, o.error])).toEqual([['SUCCEEDED', undefined]]);
    // The reader did read while the scale-in's topology was published.
    expect(migrationReads).toBeGreaterThan(0);

    // Then: not one stale read during the migration...
    expect({ staleDeleted, staleOld }).toEqual({ staleDeleted: 0, staleOld: 0 });
    // ... nor after it.
    await clientCaughtUp();
    const after = await client.getMulti(keys.map(key));
    expect(after.filter((item, j) => keys[j]! % 3 === 0 && item !== undefined)).toHaveLength(0);
    expect(
      after.filter((item, j) => keys[j]! % 3 === 1 && item?.value.toString() !== `v2-${keys[j]}`),
    ).toHaveLength(0);
  });
});
