import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AstaireClient, InMemoryTopologySource } from '../client';
import { parseTopology, Placement, planMigration, pullsFor, Topology, vbucketOf } from '../core';
import { MemcachedProcess } from '../local/memcached-process';
import { benchRedis, cpuSeconds, loadMemcached, markSources, runAgent } from './resync';

const ITEMS_TO_MOVE = Number(process.env.BENCH_ITEMS ?? 500_000);
const LARGE_TO_MOVE = Number(process.env.BENCH_LARGE_ITEMS ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/**
 * Client operations per second while 1 KB items move (80% gets, 20% sets). 20k/s saturated the one
 * client process on the shared 2-core machine before any copy (baseline p50 160 ms): 10k/s does not.
 */
const CLIENT_OPS = Number(process.env.BENCH_CLIENT_OPS ?? 10_000);
/** The same with 100 KB items: 20k/s of them would be 2 GB/s, far more than the copy itself. */
const LARGE_CLIENT_OPS = Number(process.env.BENCH_LARGE_CLIENT_OPS ?? 1000);
const BASELINE_MS = Number(process.env.BENCH_BASELINE_MS ?? 3000);
const VBUCKETS = 16384;
/**
 * The agent's arguments per variant: BENCH_AGENT_ARGS, and with BENCH_COMPARE="ARGS" a second variant run
 * right after each first one (same sources, same load on the machine), to compare settings fairly.
 */
const VARIANTS = [
  process.env.BENCH_AGENT_ARGS ?? '',
  ...(process.env.BENCH_COMPARE ? [process.env.BENCH_COMPARE] : []),
];
const argsOf = (v: string) => v.split(' ').filter(Boolean);
const nameOf = (v: string) => (VARIANTS.length > 1 ? ` [${v || 'default'}]` : '');
/** How the AWS nodes run memcached (cdk/elastic-memcached-cluster.ts): -L where THP allows, default threads. */
const NODE_OPTIONS = { threads: 4, largePages: true } as const;

/**
 * The production shape of a scale-out (issue 17): every run pulls into a FRESH memcached started as
 * the nodes start it, while clients use the cluster through AstaireClient with the topology in its
 * migration state (writes to old and new replicas, reads new then old, read-repair). Prints each run
 * (agent items/s, MB/s, peak RSS, crawls per source, clients' latency before and during the copy) and
 * the medians; then the same with 100 KB items against the loopback ceiling measured in the same run.
 * Exits 1 when any run leaves a moved key missing on the new node.
 */
export async function runResyncLiveBench(): Promise<void> {
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (2 cores shared)`,
  );
  let smallItemsPerSec = NaN;
  if (!process.env.BENCH_SKIP_SMALL) {
    const small = await benchShape({
      label: '1 KB',
      value: Buffer.alloc(1024, 0x61),
      moving: ITEMS_TO_MOVE,
      clientOps: CLIENT_OPS,
      sourceMb: 1400,
      localMb: 1024,
    });
    small.forEach((runs, i) =>
      printMedians(
        `1 KB${nameOf(VARIANTS[i])}`,
        runs,
        '(targets >= 150000 items/s, <= 150 MB, during p99 <= 2x before)',
      ),
    );
    smallItemsPerSec = med(small[0].map((r) => r.itemsPerSec));
  }
  if (process.env.BENCH_SKIP_LARGE) return;
  const large = await benchShape({
    label: '100 KB',
    value: Buffer.alloc(100 * 1024, 0x62),
    moving: LARGE_TO_MOVE,
    clientOps: LARGE_CLIENT_OPS,
    sourceMb: 1400,
    localMb: 1024,
    ceiling: true,
  });
  large.forEach((runs, i) => printMedians(`100 KB${nameOf(VARIANTS[i])}`, runs, ''));
  const ceiling = med(large[0].map((r) => r.ceilingMbPerSec ?? NaN));
  const mb = med(large[0].map((r) => r.mbPerSec));
  console.log(
    `100 KB${nameOf(VARIANTS[0])}: agent ${mb.toFixed(0)} MB/s = ${((mb / ceiling) * 100).toFixed(0)}% of the loopback ceiling ${ceiling.toFixed(0)} MB/s (one ms stream of the same bytes into a fresh memcached; target >= 70%)`,
  );
  if (process.env.BENCH_SKIP_REDIS) console.log('BENCH_SKIP_REDIS is set: Redis Cluster comparison skipped');
  else if (spawnSync('redis-server', ['--version']).status === 0) {
    const redis = med(await benchRedis());
    const items = smallItemsPerSec;
    console.log(
      `redis cluster reshard median: ${Math.round(redis)} keys/s; ratio astaire/redis ${(items / redis).toFixed(2)}x`,
    );
  } else console.log('redis-server is not installed: Redis Cluster comparison skipped');
  console.log(
    `load average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

interface Shape {
  readonly label: string;
  readonly value: Buffer;
  readonly moving: number;
  readonly clientOps: number;
  readonly sourceMb: number;
  readonly localMb: number;
  readonly ceiling?: boolean;
}

interface LiveRun {
  itemsPerSec: number;
  mbPerSec: number;
  peakRssMb: number;
  crawls: number[];
  before: Percentiles;
  during: Percentiles;
  ceilingMbPerSec?: number;
}

interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  ops: number;
  errors: number;
  shed: number;
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function printMedians(label: string, runs: LiveRun[], targets: string): void {
  const m = (f: (r: LiveRun) => number) => med(runs.map(f));
  console.log(
    `resync-live ${label} median of ${runs.length}: ${Math.round(m((r) => r.itemsPerSec))} items/s, ` +
      `${m((r) => r.mbPerSec).toFixed(1)} MB/s, agent peak RSS ${m((r) => r.peakRssMb).toFixed(1)} MB, ` +
      `client p50/p99/p99.9 before ${ms(m((r) => r.before.p50))}/${ms(m((r) => r.before.p99))}/${ms(m((r) => r.before.p999))}` +
      ` during ${ms(m((r) => r.during.p50))}/${ms(m((r) => r.during.p99))}/${ms(m((r) => r.during.p999))} ms, ` +
      `p99 ratio ${m((r) => r.during.p99 / r.before.p99).toFixed(2)}x ${targets}`,
  );
}

const ms = (us: number) => (us / 1000).toFixed(2);

async function benchShape(shape: Shape): Promise<LiveRun[][]> {
  const sources = await Promise.all(
    [1, 2, 3].map(() => MemcachedProcess.start({ memoryMb: shape.sourceMb, ...NODE_OPTIONS })),
  );
  const dir = mkdtempSync(join(tmpdir(), 'astaire-bench-'));
  const runs: LiveRun[][] = VARIANTS.map(() => []);
  try {
    const servers = sources.map((s, i) => ({ id: `node-${i + 1}`, address: s.address }));
    const placement = new Placement(
      servers.map((s) => s.id),
      VBUCKETS,
      2,
    );
    // Which vbuckets node-4 gains depends only on the ids: plan with a placeholder address.
    const planned = migrationTopology(servers, '127.0.0.1:1');
    const wanted = new Uint8Array(VBUCKETS);
    for (const p of pullsFor(planMigration(planned), 'node-4')) wanted[p.vbucket] = 1;
    const perSource = servers.map(() => [] as Buffer[]);
    const movingKeys: Buffer[] = [];
    let total = 0;
    for (let i = 0; movingKeys.length < shape.moving; i++, total++) {
      const key = Buffer.from(`bench:${i}`);
      const vb = vbucketOf(key, VBUCKETS);
      if (wanted[vb]) movingKeys.push(key);
      for (const id of placement.replicasOf(vb)) perSource[Number(id.slice(5)) - 1].push(key);
    }
    const t0 = Date.now();
    await Promise.all(sources.map((s, i) => loadMemcached(s.port, perSource[i], shape.value)));
    await markSources(servers, 'bench');
    console.log(
      `${shape.label}: loaded ${total} items (x2 replicas) into 3 sources in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `node-4 must pull ${movingKeys.length}; clients ${shape.clientOps} ops/s (80% get, 20% set)`,
    );
    for (let n = 0; n < RUNS * VARIANTS.length; n++) {
      const run = Math.floor(n / VARIANTS.length) + 1;
      const variant = n % VARIANTS.length;
      const label = `${shape.label}${nameOf(VARIANTS[variant])}`;
      const local = await MemcachedProcess.start({ memoryMb: shape.localMb, ...NODE_OPTIONS });
      try {
        const ceilingMbPerSec = shape.ceiling ? await loopbackCeiling(movingKeys, shape.value) : undefined;
        const topology = migrationTopology(servers, local.address);
        const file = join(dir, 'topology.json');
        writeFileSync(file, JSON.stringify(topology));
        const client = await AstaireClient.open({
          source: new InMemoryTopologySource(topology),
          pollIntervalMs: 0,
        });
        const load = new ClientLoad(client, total, shape.clientOps, shape.value);
        let r: LiveRun;
        try {
          load.start();
          // Connections and JIT warm up first: that second is no baseline.
          await new Promise((res) => setTimeout(res, 1000));
          load.phase();
          await new Promise((res) => setTimeout(res, BASELINE_MS));
          const before = load.phase();
          const starts0 = await Promise.all(sources.map((s) => crawlerStarts(s.port)));
          const sourceCpu0 = sources.reduce((n, s) => n + cpuSeconds(s.pid as number), 0);
          const localCpu0 = cpuSeconds(local.pid as number);
          // The clients run in this process: its CPU during the copy is theirs (the agent is a child).
          const clientCpu0 = process.cpuUsage();
          const { report, peakRssKb, wallSec, cpuSec } = await runAgent([
            'resync',
            '--node',
            'node-4',
            '--topology',
            file,
            '--local',
            local.address,
            '--json',
            ...argsOf(VARIANTS[variant]),
          ]);
          const during = load.phase();
          const sourceCpu = sources.reduce((n, s) => n + cpuSeconds(s.pid as number), 0) - sourceCpu0;
          const localCpu = cpuSeconds(local.pid as number) - localCpu0;
          const clientUsage = process.cpuUsage(clientCpu0);
          const clientCpu = (clientUsage.user + clientUsage.system) / 1e6;
          const machineCpu = cpus().length * wallSec;
          const starts1 = await Promise.all(sources.map((s) => crawlerStarts(s.port)));
          await load.stop();
          const missing = await countMissing(local.port, movingKeys);
          if (report.status !== 'succeeded' || missing > 0) {
            // A speed bought with lost items is no speed: the figures still print, but the bench fails.
            console.log(
              `${label} run ${run}: INCOMPLETE, ${missing} of ${movingKeys.length} keys missing on the new node (${report.status}${report.error ? `: ${report.error}` : ''})`,
            );
            process.exitCode = 1;
          }
          r = {
            itemsPerSec: report.items / report.seconds,
            mbPerSec: report.bytes / report.seconds / 1e6,
            peakRssMb: peakRssKb / 1024,
            crawls: starts1.map((s, i) => s - starts0[i]),
            before,
            during,
            ceilingMbPerSec,
          };
          console.log(
            `${label} run ${run}: ${report.items} items in ${report.seconds.toFixed(2)} s: ${Math.round(r.itemsPerSec)} items/s, ` +
              `${r.mbPerSec.toFixed(1)} MB/s${ceilingMbPerSec ? ` (ceiling ${ceilingMbPerSec.toFixed(0)} MB/s)` : ''}, peak RSS ${r.peakRssMb.toFixed(1)} MB, ` +
              `crawls per source ${r.crawls.join('/')}, cpu agent ${cpuSec.toFixed(2)} s of ${wallSec.toFixed(2)} s, sources ${sourceCpu.toFixed(2)} s, ` +
              `new node ${localCpu.toFixed(2)} s, clients ${clientCpu.toFixed(2)} s: ${(cpuSec + sourceCpu + localCpu + clientCpu).toFixed(2)} of the machine's ${machineCpu.toFixed(2)} CPU-s; load ${loadavg()[0].toFixed(2)}`,
          );
          console.log(`  clients before: ${describe(before)}`);
          console.log(`  clients during: ${describe(during)}`);
          const extra = report as unknown as { itemsNotStored?: number; itemsFoundLate?: number };
          console.log(
            `  items a client wrote first ${extra.itemsNotStored ?? 0}, found by later passes ${extra.itemsFoundLate ?? 0}`,
          );
        } finally {
          await load.stop();
          await client.close();
        }
        runs[variant].push(r);
      } finally {
        await local.stop();
      }
    }
    return runs;
  } finally {
    await Promise.all(sources.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function describe(p: Percentiles): string {
  return `${p.ops} ops, p50 ${ms(p.p50)} ms, p99 ${ms(p.p99)} ms, p99.9 ${ms(p.p999)} ms, errors ${p.errors}, not sent (over the in-flight cap) ${p.shed}`;
}

function migrationTopology(servers: { id: string; address: string }[], local: string): Topology {
  return parseTopology(
    {
      cluster: 'bench',
      epoch: 1,
      vbuckets: VBUCKETS,
      replicas: 2,
      servers,
      newServers: [...servers, { id: 'node-4', address: local }],
    },
    'bench',
  );
}

/**
 * An open-loop client load: every 5 ms it starts its share of `opsPerSec` operations (random keys of
 * the loaded set; 1 in 5 a set of the same value), whatever the latency of earlier ones, so a slow
 * server shows as latency rather than as fewer requests. Bounded: at most MAX_IN_FLIGHT outstanding
 * (the rest are counted as not sent) and MAX_SECONDS in all.
 */
class ClientLoad {
  private static readonly MAX_IN_FLIGHT = 5000;
  private static readonly MAX_SECONDS = 300;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private latencies: number[] = [];
  private errors = 0;
  private shed = 0;
  private started = 0;
  private seed = 12345;

  constructor(
    private readonly client: AstaireClient,
    private readonly keys: number,
    private readonly opsPerSec: number,
    private readonly value: Buffer,
  ) {}

  start(): void {
    this.started = Date.now();
    let due = 0;
    let last = process.hrtime.bigint();
    this.timer = setInterval(() => {
      if (Date.now() - this.started > ClientLoad.MAX_SECONDS * 1000) return void this.halt();
      const now = process.hrtime.bigint();
      due += (Number(now - last) / 1e9) * this.opsPerSec;
      last = now;
      for (; due >= 1; due--) this.one();
    }, 5);
  }

  /** The latencies since the last call (or the start). */
  phase(): Percentiles {
    const xs = this.latencies.sort((a, b) => a - b);
    const at = (q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
    const p = {
      p50: at(0.5),
      p99: at(0.99),
      p999: at(0.999),
      ops: xs.length,
      errors: this.errors,
      shed: this.shed,
    };
    this.latencies = [];
    this.errors = 0;
    this.shed = 0;
    return p;
  }

  async stop(): Promise<void> {
    this.halt();
    await Promise.all([...this.inFlight]);
  }

  private halt(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private random(): number {
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    return this.seed / 4294967296;
  }

  private one(): void {
    if (this.inFlight.size >= ClientLoad.MAX_IN_FLIGHT) {
      this.shed++;
      return;
    }
    const key = `bench:${Math.floor(this.random() * this.keys)}`;
    const t0 = process.hrtime.bigint();
    const op = this.random() < 0.2 ? this.client.set(key, this.value, { flags: 7 }) : this.client.get(key);
    const p: Promise<void> = op.then(
      () => {
        this.latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
        this.inFlight.delete(p);
      },
      () => {
        this.errors++;
        this.inFlight.delete(p);
      },
    );
    this.inFlight.add(p);
  }
}

/** `lru_crawler_starts` of a memcached: crawls it began. */
async function crawlerStarts(port: number): Promise<number> {
  const text = await ask(port, 'stats\r\n', (t) => t.endsWith('END\r\n'));
  const m = /STAT lru_crawler_starts (\d+)/.exec(text);
  if (!m) throw new Error(`memcached on ${port} reports no lru_crawler_starts`);
  return Number(m[1]);
}

function ask(port: number, text: string, done: (t: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`memcached on ${port} did not answer`));
    }, 30000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (done(got)) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.connect(port, '127.0.0.1', () => s.write(text));
  });
}

/** How many of `keys` the memcached on `port` lacks (pipelined `mg <key>`: HD or EN, one line each). */
async function countMissing(port: number, keys: Buffer[]): Promise<number> {
  let missing = 0;
  for (let i = 0; i < keys.length; i += 50_000) {
    const batch = keys.slice(i, i + 50_000);
    const text = await ask(
      port,
      batch.map((k) => `mg ${k.toString('latin1')}\r\n`).join('') + 'mn\r\n',
      (t) => t.endsWith('MN\r\n'),
    );
    const lines = text.split('\r\n');
    const answers = lines.filter((l) => l === 'HD' || l === 'EN');
    if (answers.length !== batch.length)
      throw new Error(`presence check got ${answers.length} answers for ${batch.length}`);
    missing += answers.filter((l) => l === 'EN').length;
  }
  return missing;
}

/** MB/s of one pipelined `ms` stream of the moving keys' bytes into a fresh memcached (then stopped). */
async function loopbackCeiling(keys: Buffer[], value: Buffer): Promise<number> {
  const target = await MemcachedProcess.start({ memoryMb: 1024, ...NODE_OPTIONS });
  try {
    const t0 = process.hrtime.bigint();
    await loadMemcached(target.port, keys, value);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    return (keys.length * value.length) / sec / 1e6;
  } finally {
    await target.stop();
  }
}
