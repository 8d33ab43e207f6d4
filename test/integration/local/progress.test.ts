import { AstaireClient, FileTopologySource } from '../../../client';
import { synthesizeWorkflowDefinition } from '../../../cdk/definition';
import type { ResyncProgress } from '../../../core';
import { LocalRuntime } from '../../../local/runtime';
import { load } from '../../../local/traffic';
import { tempDir } from '../../support/temp-dirs';

// Issue 16: the progress a local run shows is the receiving nodes' (not the cleanups'), and each
// node's last counters are its report's: "vbuckets 0/1605" must not be where a node's line ends.
jest.setTimeout(120_000);

describe('local progress (real memcached, real agents)', () => {
  const stateDir = tempDir('astaire-progress-');
  let runtime: LocalRuntime;
  const progress: ResyncProgress[] = [];

  beforeAll(async () => {
    runtime = await LocalRuntime.create({
      stateDir,
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      memoryMb: 64,
      vbuckets: 1024,
      clientPropagationMs: 200,
      onProgress: (p) => progress.push(p),
    });
    expect((await runtime.bootstrap(2)).status).toBe('SUCCEEDED');
    const client = await AstaireClient.open({ source: new FileTopologySource(runtime.topologyFile) });
    try {
      await load(client, 0, 4000);
    } finally {
      await client.close();
    }
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  it('given 2 nodes with data, when one launches, then only the receiving node shows progress and its last counters equal its report', async () => {
    progress.length = 0;
    const [event] = await runtime.group.launch(1);
    const outcome = await runtime.execute(event);
    expect(outcome.status).toBe('SUCCEEDED');
    const receivers = outcome.reports.filter((r) => r.vbuckets > 0);
    expect(receivers.length).toBeGreaterThan(0);
    // The cleanups (the two old nodes deleting what they gave away) are not receiving progress.
    expect([...new Set(progress.map((p) => p.node))].sort()).toEqual(receivers.map((r) => r.node).sort());
    for (const r of receivers) {
      const last = progress.filter((p) => p.node === r.node).at(-1)!;
      expect([last.vbucketsDone, last.vbuckets, last.items, last.bytes]).toEqual([
        r.vbuckets,
        r.vbuckets,
        r.items,
        r.bytes,
      ]);
    }
    // Where the time went: each top-level state once it ran, in order, none longer than the execution.
    const states = outcome.states.map((s) => s.state);
    expect(states).toEqual(expect.arrayContaining(['PlanMigration', 'MigrateData', 'ContinueLifecycle']));
    expect(states.indexOf('PlanMigration')).toBeLessThan(states.indexOf('MigrateData'));
    expect(states.indexOf('MigrateData')).toBeLessThan(states.indexOf('ContinueLifecycle'));
    const migrate = outcome.states.find((s) => s.state === 'MigrateData')!;
    expect(migrate.seconds).toBeGreaterThan(0);
    // Milliseconds summed as floating-point seconds: within a millisecond.
    expect(outcome.states.reduce((n, s) => n + s.seconds, 0)).toBeLessThanOrEqual(outcome.seconds + 0.001);
  });
});
