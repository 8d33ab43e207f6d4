import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentResyncReport } from '../agent';
import { readCrawlCounters } from '../agent/crawl-proof';
import { synthesizeWorkflowDefinition } from '../cdk/definition';
import { AstaireClient, FileTopologySource } from '../client';
import { ExecutionOutcome, LocalRuntime } from '../local/runtime';
import { Ledger, load, runTraffic, verify } from '../local/traffic';

/** Cluster sizes; BENCH_SCALE_SIZES=10,50 for a quicker run. */
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '10,50,100').split(',').map(Number);
/** The same total data at every size: the scenario's items (mostly 100 B to 1 KB, 1% of 10 to 50 KB). */
const ITEMS = Number(process.env.BENCH_SCALE_ITEMS ?? 500_000);
/**
 * The workflow's ResyncNodes concurrency here (40: the most an inline Map runs at once on AWS, and the
 * most the construct accepts). A leaving node's receivers run in waves of it: the waves share the
 * pusher's crawls, but each costs its agents' start.
 */
const CONCURRENCY = Number(process.env.BENCH_SCALE_CONCURRENCY ?? 40);
/** Bounds of the client traffic that runs during each operation. */
const MAX_TRAFFIC_OPS = Number(process.env.BENCH_SCALE_TRAFFIC_OPS ?? 100_000);
const MAX_PHASE_MS = 20 * 60 * 1000;

interface Row {
  readonly nodes: string;
  readonly operation: string;
  readonly seconds: number;
  /**
   * The most `lru_crawler` runs of any one node while the data moved (until the commit): a source's
   * crawls by its push or by its receivers' pulls, and a receiver's purge of itself.
   */
  readonly crawlsMax: number;
  /** The same after the commit: the cleanup of the vbuckets a node lost (a scale-out's). */
  readonly cleanupCrawlsMax: number;
  /** The node crawled most while the data moved, and its role. */
  readonly crawlsNode?: string;
  readonly itemsMoved: number;
  /** Of those, items the receivers took from a push (the rest they pulled). */
  readonly itemsPushed: number;
  readonly misses: number;
  readonly status: string;
}

/**
 * `npm run bench -- scale`: local mode (real memcached, real agents, the synthesized workflow) at each
 * size holding the same data, scaled out by one and in by one under client traffic. Prints per
 * operation its wall time, the most crawls of one node, the items moved and the client misses.
 */
export async function runScaleBench(): Promise<void> {
  console.log(
    `scale bench: sizes ${SIZES.join(', ')}; ${ITEMS.toLocaleString('en')} items; ResyncNodes concurrency ${CONCURRENCY}`,
  );
  const definition = synthesizeWorkflowDefinition({
    clusterName: 'local',
    maxConcurrentResyncs: CONCURRENCY,
  });
  const rows: Row[] = [];
  for (const size of SIZES) {
    // On a loaded machine, 100 memcached processes starting at once may miss their start timeout: once more.
    for (let attempt = 1; ; attempt++) {
      try {
        rows.push(...(await benchSize(size, definition)));
        break;
      } catch (error) {
        process.stdout.write(`  ${size} nodes, attempt ${attempt}: ${(error as Error).message}\n`);
        if (attempt === 2) {
          rows.push({
            nodes: String(size),
            operation: 'setup',
            seconds: 0,
            crawlsMax: 0,
            cleanupCrawlsMax: 0,
            itemsMoved: 0,
            itemsPushed: 0,
            misses: 0,
            status: `FAILED: ${(error as Error).message}`,
          });
          break;
        }
      }
    }
  }
  printTable(rows);
  if (rows.some((r) => r.misses > 0 || r.status !== 'SUCCEEDED')) process.exitCode = 1;
}

async function benchSize(size: number, definition: Record<string, unknown>): Promise<Row[]> {
  const stateDir = mkdtempSync(join(tmpdir(), 'astaire-bench-scale-'));
  // Room for two replicas of everything, twice over, split over the nodes (memcached allocates lazily).
  const memoryMb = Math.max(64, Math.ceil((ITEMS * 1000 * 2 * 2) / size / 1e6));
  const runtime = await LocalRuntime.create({ stateDir, definition, memoryMb });
  let client: AstaireClient | undefined;
  try {
    const t0 = Date.now();
    const boot = await runtime.bootstrap(size);
    if (boot.status !== 'SUCCEEDED') throw new Error(`bootstrap of ${size} nodes failed: ${boot.error}`);
    const app = await AstaireClient.open({ source: new FileTopologySource(runtime.topologyFile) });
    client = app;
    const ledger = new Ledger(ITEMS);
    await load(app, 0, ITEMS);
    process.stdout.write(`  ${size} nodes: up and loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

    const rows: Row[] = [];
    const phase = async (operation: string, nodes: string, start: () => Promise<ExecutionOutcome[]>) => {
      // The leaving node is gone at the end: its crawl counter is read while the operation runs.
      const addresses = runtime.group.members().map((m) => m.address);
      const before = await crawlStarts(addresses);
      const last = new Map(before);
      const startEpoch = (await runtime.readTopology()).epoch;
      let atCommit: Map<string, number> | undefined;
      let running = true;
      const poll = async () => {
        for (const [address, n] of await crawlStarts(addresses)) last.set(address, n);
        const t = await runtime.readTopology().catch(() => undefined);
        if (!atCommit && t && !t.newServers && t.epoch > startEpoch) atCommit = new Map(last);
      };
      const poller = (async () => {
        while (running) {
          await poll();
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const t = Date.now();
      const executions = start();
      const traffic = await runTraffic(app, ledger, executions, {
        maxOps: MAX_TRAFFIC_OPS,
        maxMs: MAX_PHASE_MS,
      });
      const outcomes = await executions;
      const seconds = (Date.now() - t) / 1000;
      running = false;
      await poller;
      await poll();
      const moved = atCommit ?? last;
      let crawlsMax = 0;
      let cleanupCrawlsMax = 0;
      let crawlsNode: string | undefined;
      for (const [address, n] of last) {
        const atStart = before.get(address) ?? n;
        const committed = moved.get(address) ?? n;
        if (committed - atStart > crawlsMax) [crawlsMax, crawlsNode] = [committed - atStart, address];
        cleanupCrawlsMax = Math.max(cleanupCrawlsMax, n - committed);
      }
      const members = new Set(runtime.group.members().map((m) => m.address));
      if (crawlsNode) crawlsNode += members.has(crawlsNode) ? ' (staying)' : ' (left)';
      const failed = outcomes.find((o) => o.status !== 'SUCCEEDED');
      const row: Row = {
        nodes,
        operation,
        seconds,
        crawlsMax,
        cleanupCrawlsMax,
        crawlsNode,
        itemsMoved: outcomes.flatMap((o) => o.reports).reduce((n, r) => n + r.items, 0),
        itemsPushed: outcomes
          .flatMap((o) => o.reports as AgentResyncReport[])
          .reduce((n, r) => n + (r.pushed?.items ?? 0), 0),
        misses: traffic.readMisses + traffic.readErrors,
        status: failed ? `FAILED: ${failed.error}` : 'SUCCEEDED',
      };
      // console belongs to the runtime's workflow.log while it runs.
      process.stdout.write(`  ${JSON.stringify(row)}\n`);
      // Where the time went: the agents' own times, and the slowest top-level states of each execution.
      const agentSeconds = outcomes
        .flatMap((o) => o.reports)
        .map((r) => r.seconds)
        .sort((a, b) => a - b);
      if (agentSeconds.length > 0)
        process.stdout.write(
          `    ${agentSeconds.length} receiving agents: median ${agentSeconds[agentSeconds.length >> 1].toFixed(1)} s, max ${agentSeconds[agentSeconds.length - 1].toFixed(1)} s each\n`,
        );
      for (const o of outcomes)
        process.stdout.write(
          `    ${o.executionId.split(':').pop()}: ${[...o.states]
            .sort((a, b) => b.seconds - a.seconds)
            .slice(0, 6)
            .map((st) => `${st.state} ${st.seconds.toFixed(1)} s`)
            .join(', ')}\n`,
        );
      rows.push(row);
    };
    await phase('scale-out', `${size} -> ${size + 1}`, async () =>
      Promise.all((await runtime.group.launch(1)).map((e) => runtime.execute(e))),
    );
    const victim = runtime.group.members().find((m) => m.lifecycleState === 'InService')!;
    await phase('scale-in', `${size + 1} -> ${size}`, async () =>
      Promise.all(runtime.group.terminate([victim.id]).map((e) => runtime.execute(e))),
    );
    await app.refreshTopology();
    const verified = await verify(app, ledger);
    const bad = verified.misses + verified.wrongValue + verified.wrongFlags;
    rows.push({
      nodes: String(size),
      operation: 'verify',
      seconds: 0,
      crawlsMax: 0,
      cleanupCrawlsMax: 0,
      itemsMoved: verified.checked,
      itemsPushed: 0,
      misses: bad,
      status: bad ? `FAILED: ${verified.examples.join('; ')}` : 'SUCCEEDED',
    });
    return rows;
  } finally {
    await client?.close();
    await runtime.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** `lru_crawler_starts` of each node that answers. */
async function crawlStarts(addresses: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    addresses.map(async (a) => {
      const c = await readCrawlCounters(a, { connectTimeoutMs: 500, ioTimeoutMs: 2000 }).catch(
        () => undefined,
      );
      if (c) out.set(a, c.starts);
    }),
  );
  return out;
}

function printTable(rows: readonly Row[]): void {
  const table = [
    [
      'nodes',
      'operation',
      'seconds',
      'max crawls of a node (move)',
      'max crawls (cleanup)',
      'items moved',
      'of which pushed',
      'client misses',
      'status',
    ],
    ...rows.map((r) => [
      r.nodes,
      r.operation,
      r.operation === 'verify' ? '-' : r.seconds.toFixed(1),
      r.operation === 'verify' ? '-' : String(r.crawlsMax),
      r.operation === 'verify' ? '-' : String(r.cleanupCrawlsMax),
      r.operation === 'verify'
        ? `${r.itemsMoved.toLocaleString('en')} read`
        : r.itemsMoved.toLocaleString('en'),
      r.operation === 'verify' ? '-' : r.itemsPushed.toLocaleString('en'),
      String(r.misses),
      r.status,
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of table.entries()) {
    console.log(`| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`);
    if (i === 0) console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  }
}
