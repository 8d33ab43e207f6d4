import { synthesizeWorkflowDefinition } from '../../cdk/definition';
import { runScenario, ScenarioSummary } from '../../local/scenario';
import { tempDir } from '../support/temp-dirs';

// The whole scale-out and scale-in on this machine: real memcached nodes, real agent processes,
// and the state machine CDK synthesizes, run by local/asl. A smaller npm start.
jest.setTimeout(240_000);

describe('local elastic-scaling scenario (3 -> 5 -> 4 nodes, 20k items)', () => {
  let summary: ScenarioSummary;
  const lines: string[] = [];

  beforeAll(async () => {
    summary = await runScenario({
      items: 20_000,
      stateDir: tempDir('astaire-e2e-'),
      definition: synthesizeWorkflowDefinition({ clusterName: 'local' }),
      log: (line) => lines.push(line),
      maxTrafficOps: 50_000,
      maxPhaseMs: 120_000,
    });
  });

  it('given load and traffic during scaling, then every key reads back with its value and flags (0 misses)', () => {
    expect(summary.failures).toEqual([]);
    expect(summary.verify.checked).toBeGreaterThan(20_000);
    expect(summary.verify).toMatchObject({ misses: 0, wrongValue: 0, wrongFlags: 0 });
    for (const phase of summary.phases)
      expect(phase.traffic).toMatchObject({ readMisses: 0, writeErrors: 0, readErrors: 0 });
    expect(summary.ok).toBe(true);
  });

  it('given two launches and one termination, then every execution succeeded and moved data', () => {
    expect(summary.phases.map((p) => [p.phase, p.executions.map((e) => e.status)])).toEqual([
      ['scale-out', ['SUCCEEDED', 'SUCCEEDED']],
      ['scale-in', ['SUCCEEDED']],
    ]);
    for (const phase of summary.phases) expect(phase.itemsMoved).toBeGreaterThan(0);
  });

  it('given the scaling is over, then every lifecycle action was completed and the topology committed 4 servers at a new epoch', () => {
    expect(summary.lifecycle).toEqual({ inService: 4, waiting: 0 });
    expect(summary.topology).toMatchObject({ servers: 4, migrating: false });
    // bootstrap (begin + commit) and three migrations (begin + commit each): every change bumps the epoch.
    expect(summary.topology.epoch).toBeGreaterThanOrEqual(6);
  });

  it('given agents running, then progress lines name nodes, vbuckets and throughput', () => {
    expect(
      lines.some((l) => /i-[0-9a-f]{17}: vbuckets \d+\/\d+, [\d,]+ items, [\d.]+ MB, [\d.]+ MB\/s/.test(l)),
    ).toBe(true);
  });
});
