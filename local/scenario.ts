import { mkdirSync, rmSync } from 'node:fs';
import { AstaireClient, ClusterTopologySource, FileTopologySource } from '../client';
import type { ResyncProgress } from '../core';
import { Received, receivers } from './received';
import { ExecutionOutcome, LocalRuntime } from './runtime';
import type { LifecycleEvent } from './scaling-group';
import { Ledger, load, runTraffic, TrafficStats, verify, VerifyResult } from './traffic';

export interface ScenarioOptions {
  /** Items loaded before scaling. @default 200000 */
  readonly items?: number;
  readonly stateDir: string;
  readonly definition: Record<string, unknown>;
  /** Human-readable progress lines. */
  readonly log?: (line: string) => void;
  /** Upper bound on traffic operations per scaling phase. @default 200000 */
  readonly maxTrafficOps?: number;
  /** Upper bound on one scaling phase's traffic, in ms. @default 120000 */
  readonly maxPhaseMs?: number;
  /** Receiving nodes' progress; when given, it replaces the progress lines of `log`. */
  readonly onProgress?: (progress: ResyncProgress) => void;
  /** An execution's state as it changes ("running", then its outcome), keyed by the instance it is for. */
  readonly onExecution?: (key: string, label: string, state: string) => void;
  /** A phase (scale-out, scale-in, verify) begins or ends: the progress shown so far is complete. */
  readonly onPhase?: (phase: string) => void;
  /** The client traffic's counters during a scaling phase, as they grow (for a report's chart). */
  readonly onTraffic?: (phase: string, stats: TrafficStats) => void;
}

export interface PhaseSummary {
  readonly phase: string;
  readonly nodes: string;
  readonly executions: {
    readonly id: string;
    /** What started it: `launch i-...` or `terminate i-...`. */
    readonly trigger: string;
    readonly status: string;
    readonly seconds: number;
    readonly error?: string;
    /** The nodes that received data (a node with nothing to pull is not listed). */
    readonly received: Received[];
  }[];
  readonly itemsMoved: number;
  readonly bytesMoved: number;
  readonly seconds: number;
  readonly traffic?: TrafficStats;
}

export interface ScenarioSummary {
  readonly ok: boolean;
  readonly failures: string[];
  readonly load: { readonly items: number; readonly bytes: number; readonly seconds: number };
  readonly phases: PhaseSummary[];
  readonly verify: VerifyResult & { readonly seconds: number };
  readonly topology: { readonly epoch: number; readonly servers: number; readonly migrating: boolean };
  readonly lifecycle: { readonly inService: number; readonly waiting: number };
  readonly seconds: number;
}

/**
 * The main job: 3 nodes, load, two launches at once (3 -> 5) under traffic, one termination
 * (5 -> 4) under traffic, then every key written before or during the scaling must read back
 * with its value and flags.
 */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioSummary> {
  const log = options.log ?? (() => undefined);
  const items = options.items ?? 200_000;
  const started = Date.now();
  const failures: string[] = [];
  rmSync(options.stateDir, { recursive: true, force: true });
  mkdirSync(options.stateDir, { recursive: true });
  const progress = new Map<string, ResyncProgress>();
  const runtime = await LocalRuntime.create({
    stateDir: options.stateDir,
    definition: options.definition,
    memoryMb: 512,
    onProgress: (p) => {
      progress.set(p.node, p);
      if (options.onProgress) return options.onProgress(p);
      log(
        `    ${p.node}: vbuckets ${p.vbucketsDone}/${p.vbuckets}, ${p.items.toLocaleString('en')} items, ${mb(p.bytes)} MB, ${mb(p.bytesPerSec)} MB/s`,
      );
    },
  });
  let client: AstaireClient | undefined;
  try {
    log('bootstrap: starting 3 memcached nodes and committing the first topology through the workflow');
    const boot = await runtime.bootstrap(3);
    if (boot.status !== 'SUCCEEDED') throw new Error(`bootstrap execution failed: ${boot.error}`);

    // At its defaults, as an application would run it: it learns the topology from the nodes (the local
    // Parameter Store file only to bootstrap), and the workflow waits for its acknowledgement.
    const app = await AstaireClient.open({
      source: new ClusterTopologySource({ bootstrap: new FileTopologySource(runtime.topologyFile) }),
    });
    client = app;
    const ledger = new Ledger(items);

    log(`load: writing ${items.toLocaleString('en')} items through the client`);
    let t = Date.now();
    let lastLog = 0;
    const loadedBytes = await load(app, 0, items, (done) => {
      if (Date.now() - lastLog > 2000) {
        lastLog = Date.now();
        log(`    ${done.toLocaleString('en')} items`);
      }
    });
    const loadSummary = { items, bytes: loadedBytes, seconds: (Date.now() - t) / 1000 };
    log(
      `    ${items.toLocaleString('en')} items, ${mb(loadedBytes)} MB in ${loadSummary.seconds.toFixed(1)} s`,
    );

    const phase = async (
      name: string,
      nodes: string,
      start: () => Promise<{ trigger: string; outcome: ExecutionOutcome }[]>,
    ): Promise<PhaseSummary> => {
      options.onPhase?.(name);
      log(`${name} (${nodes}): workflow executions running while the client reads and writes`);
      t = Date.now();
      const started = start();
      const executions = started.then((all) => all.map((e) => e.outcome));
      const traffic = await runTraffic(app, ledger, executions, {
        maxOps: options.maxTrafficOps ?? 200_000,
        maxMs: options.maxPhaseMs ?? 120_000,
        onSample: options.onTraffic && ((stats) => options.onTraffic!(name, stats)),
      });
      const triggered = await started;
      const outcomes = triggered.map((e) => e.outcome);
      const reports = outcomes.flatMap((o) => o.reports);
      for (const o of outcomes)
        if (o.status !== 'SUCCEEDED') failures.push(`${name}: execution ${o.executionId} failed: ${o.error}`);
      if (traffic.writeErrors || traffic.readErrors)
        failures.push(
          `${name}: ${traffic.writeErrors} write and ${traffic.readErrors} read errors (first: ${traffic.firstError})`,
        );
      if (traffic.readMisses)
        failures.push(
          `${name}: ${traffic.readMisses} reads during the scaling missed (first: ${traffic.firstMiss})`,
        );
      const summary: PhaseSummary = {
        phase: name,
        nodes,
        executions: triggered.map(({ trigger, outcome: o }) => ({
          id: o.executionId,
          trigger,
          status: o.status,
          seconds: o.seconds,
          ...(o.error ? { error: o.error } : {}),
          received: receivers(o.reports),
        })),
        itemsMoved: reports.reduce((n, r) => n + r.items, 0),
        bytesMoved: reports.reduce((n, r) => n + r.bytes, 0),
        seconds: (Date.now() - t) / 1000,
        traffic,
      };
      options.onPhase?.(name);
      log(
        `    ${summary.itemsMoved.toLocaleString('en')} items (${mb(summary.bytesMoved)} MB) moved in ${summary.seconds.toFixed(1)} s; ` +
          `traffic: ${traffic.reads} reads, ${traffic.writes} writes, ${traffic.readMisses} misses`,
      );
      return summary;
    };

    const phases: PhaseSummary[] = [];
    // Two instances launch within the same instant: two executions, serialised by the cluster lock.
    const track = async (e: LifecycleEvent, action: string) => {
      const trigger = `${action} ${e.detail.EC2InstanceId}`;
      options.onExecution?.(e.detail.EC2InstanceId, trigger, 'running');
      const outcome = await runtime.execute(e);
      options.onExecution?.(
        e.detail.EC2InstanceId,
        trigger,
        `${outcome.status} in ${outcome.seconds.toFixed(1)} s`,
      );
      return { trigger, outcome };
    };
    phases.push(
      await phase('scale-out', '3 -> 5', async () => {
        const events = await runtime.group.launch(2);
        return Promise.all(events.map((e) => track(e, 'launch')));
      }),
    );
    const victim = runtime.group.members().find((m) => m.lifecycleState === 'InService')!;
    phases.push(
      await phase('scale-in', '5 -> 4', async () =>
        Promise.all(runtime.group.terminate([victim.id]).map((e) => track(e, 'terminate'))),
      ),
    );

    options.onPhase?.('verify');
    log(
      `verify: reading back all ${ledger.count.toLocaleString('en')} keys written before or during the scaling`,
    );
    t = Date.now();
    await app.refreshTopology();
    const verified = { ...(await verify(app, ledger)), seconds: (Date.now() - t) / 1000 };
    const bad = verified.misses + verified.wrongValue + verified.wrongFlags;
    if (bad)
      failures.push(
        `verify: ${bad} of ${verified.checked} keys did not read back (${verified.examples.join('; ')})`,
      );

    const topology = await runtime.readTopology();
    const members = runtime.group.members();
    const lifecycle = {
      inService: members.filter((m) => m.lifecycleState === 'InService').length,
      waiting: members.filter((m) => m.lifecycleState.endsWith(':Wait')).length,
    };
    if (lifecycle.waiting) failures.push(`${lifecycle.waiting} lifecycle actions were never completed`);
    if (topology.servers.length !== 4 || topology.newServers)
      failures.push(
        `topology has ${topology.servers.length} servers${topology.newServers ? ' and a migration in progress' : ''}, expected 4 committed`,
      );
    return {
      ok: failures.length === 0,
      failures,
      load: loadSummary,
      phases,
      verify: verified,
      topology: {
        epoch: topology.epoch,
        servers: topology.servers.length,
        migrating: topology.newServers !== undefined,
      },
      lifecycle,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await client?.close();
    await runtime.stop();
  }
}

/** The summary as a table, one row per phase. */
export function formatSummary(s: ScenarioSummary): string {
  const rows: string[][] = [['phase', 'nodes', 'items', 'MB', 'seconds', 'misses']];
  rows.push([
    'load',
    '3',
    s.load.items.toLocaleString('en'),
    mb(s.load.bytes),
    s.load.seconds.toFixed(1),
    '-',
  ]);
  for (const p of s.phases)
    rows.push([
      p.phase,
      p.nodes,
      p.itemsMoved.toLocaleString('en'),
      mb(p.bytesMoved),
      p.seconds.toFixed(1),
      String(p.traffic?.readMisses ?? 0),
    ]);
  rows.push([
    'verify',
    String(s.topology.servers),
    s.verify.checked.toLocaleString('en'),
    '-',
    s.verify.seconds.toFixed(1),
    String(s.verify.misses + s.verify.wrongValue + s.verify.wrongFlags),
  ]);
  const received = s.phases.flatMap((p) =>
    p.executions.flatMap((e) => [
      `  ${p.phase}, ${e.trigger}: ${e.status} in ${e.seconds.toFixed(1)} s${e.received.length ? '' : ', no data to move'}`,
      ...e.received.map(
        (r) => `    ${r.node} received ${r.items.toLocaleString('en')} items (${mb(r.bytes)} MB)`,
      ),
    ]),
  );
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [
    line(rows[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    '',
    'per execution, the nodes that received data:',
    ...received,
    '',
    `topology epoch ${s.topology.epoch}, ${s.topology.servers} servers; lifecycle: ${s.lifecycle.inService} in service, ${s.lifecycle.waiting} waiting; ${s.seconds.toFixed(1)} s in all`,
    s.ok
      ? 'OK: every key written before or during the scaling read back with its value and flags'
      : `FAILED:\n  ${s.failures.join('\n  ')}`,
  ].join('\n');
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
