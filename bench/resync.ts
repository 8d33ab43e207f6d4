import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseResyncMessage,
  parseTopology,
  Placement,
  planMigration,
  pullsFor,
  ResyncReport,
  vbucketOf,
} from '../core';
import { readNodeState, writeMarker } from '../agent/marker';
import { MemcachedProcess } from '../local/memcached-process';
import { cli, clusterNodes, clusterOk, loadRedis, slotOf, startRedisNodes } from './resync/redis';

const ITEMS_TO_MOVE = Number(process.env.BENCH_ITEMS ?? 500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const VALUE = Buffer.alloc(1024, 0x61);
const VBUCKETS = 16384;

/**
 * One node pulls ITEMS_TO_MOVE items of 1 KB from 3 old replicas (3 -> 4 servers,
 * 2 replicas: the sources hold about twice as many), the agent running as a child
 * process so its peak RSS (VmHWM) can be read; then Redis Cluster reshards the
 * same number of 1 KB keys onto a new master. Prints each run and the medians.
 */
export async function runResyncBench(): Promise<void> {
  const agentRuns = process.env.BENCH_SKIP_AGENT
    ? [{ itemsPerSec: NaN, mbPerSec: NaN, peakRssMb: NaN }]
    : await benchAgent();
  const redisRuns = process.env.BENCH_SKIP_REDIS ? [NaN] : await benchRedis();
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const itemsPerSec = med(agentRuns.map((r) => r.itemsPerSec));
  const mbPerSec = med(agentRuns.map((r) => r.mbPerSec));
  const rss = med(agentRuns.map((r) => r.peakRssMb));
  const redis = med(redisRuns);
  console.log(
    `resync median of ${RUNS}: ${Math.round(itemsPerSec)} items/s, ${mbPerSec.toFixed(1)} MB/s, agent peak RSS ${rss.toFixed(1)} MB` +
      ` (targets >= 150000 items/s, <= 150 MB)`,
  );
  console.log(`redis cluster reshard median of ${RUNS}: ${Math.round(redis)} keys/s`);
  console.log(`ratio astaire/redis: ${(itemsPerSec / redis).toFixed(2)}x (target >= 3x)`);
}

interface AgentRun {
  itemsPerSec: number;
  mbPerSec: number;
  peakRssMb: number;
}

async function benchAgent(): Promise<AgentRun[]> {
  const sources = await Promise.all(
    [1, 2, 3].map(() => MemcachedProcess.start({ memoryMb: 1400, threads: 2, largePages: true })),
  );
  // -L as on the AWS nodes (see elastic-memcached-cluster.ts): a fresh node's first fill is the scale-out case.
  const local = await MemcachedProcess.start({ memoryMb: 1024, threads: 2, largePages: true });
  const dir = mkdtempSync(join(tmpdir(), 'astaire-bench-'));
  try {
    const servers = sources.map((s, i) => ({ id: `node-${i + 1}`, address: s.address }));
    const topology = parseTopology(
      {
        cluster: 'bench',
        epoch: 1,
        vbuckets: VBUCKETS,
        replicas: 2,
        servers,
        newServers: [...servers, { id: 'node-4', address: local.address }],
      },
      'bench',
    );
    const wanted = new Uint8Array(VBUCKETS);
    for (const p of pullsFor(planMigration(topology), 'node-4')) wanted[p.vbucket] = 1;
    const placement = new Placement(
      servers.map((s) => s.id),
      VBUCKETS,
      2,
    );
    const perSource = servers.map(() => [] as Buffer[]);
    let moving = 0;
    let total = 0;
    // Load until exactly ITEMS_TO_MOVE keys fall in the vbuckets node-4 gains; the rest stay where they are.
    for (let i = 0; moving < ITEMS_TO_MOVE; i++, total++) {
      const key = Buffer.from(`bench:${i}`);
      const vb = vbucketOf(key, VBUCKETS);
      if (wanted[vb]) moving++;
      for (const id of placement.replicasOf(vb)) perSource[Number(id.slice(5)) - 1].push(key);
    }
    const t0 = Date.now();
    await Promise.all(sources.map((s, i) => loadMemcached(s.port, perSource[i])));
    // Loaded from the start, so complete replicas: the agent takes from a source only while it says so.
    await markSources(servers, 'bench');
    console.log(
      `loaded ${total} items of 1 KB (x2 replicas) into 3 memcached sources in ${((Date.now() - t0) / 1000).toFixed(1)} s; node-4 must pull ${moving}`,
    );
    const file = join(dir, 'topology.json');
    writeFileSync(file, JSON.stringify(topology));
    const runs: AgentRun[] = [];
    for (let run = 1; run <= RUNS; run++) {
      await command(local.port, 'flush_all\r\n');
      const sourcePids = sources.map((m) => m.pid as number);
      const sourceCpu0 = sourcePids.reduce((n, pid) => n + cpuSeconds(pid), 0);
      const localCpu0 = cpuSeconds(local.pid as number);
      const { report, peakRssKb, wallSec, cpuSec } = await runAgent([
        'resync',
        '--node',
        'node-4',
        '--topology',
        file,
        '--local',
        local.address,
        '--json',
        ...(process.env.BENCH_AGENT_ARGS?.split(' ').filter(Boolean) ?? []),
      ]);
      if (report.status !== 'succeeded')
        throw new Error(`agent run ${run} failed: ${JSON.stringify(report)}`);
      // Reported, not hidden: see the report's note on lru_crawler completeness.
      if (report.items !== moving) {
        // A speed bought with lost items is no speed: the figures still print, but the bench fails.
        console.log(`agent run ${run}: INCOMPLETE, copied ${report.items} of ${moving} items`);
        process.exitCode = 1;
      }
      const r = {
        itemsPerSec: report.items / report.seconds,
        mbPerSec: report.bytes / report.seconds / 1e6,
        peakRssMb: peakRssKb / 1024,
      };
      const sourceCpu = sourcePids.reduce((n, pid) => n + cpuSeconds(pid), 0) - sourceCpu0;
      const localCpu = cpuSeconds(local.pid as number) - localCpu0;
      console.log(
        `agent run ${run}: ${report.items} items in ${report.seconds.toFixed(2)} s (process wall ${wallSec.toFixed(2)} s): ` +
          `${Math.round(r.itemsPerSec)} items/s, ${r.mbPerSec.toFixed(1)} MB/s, peak RSS ${r.peakRssMb.toFixed(1)} MB`,
      );
      // Where the 2 cores went: the agent's CPU time, and the 4 memcached servers' (crawls, gets, sets).
      console.log(
        `  cpu: agent ${cpuSec.toFixed(2)} s (${((cpuSec / wallSec) * 100).toFixed(0)}% of a core), ` +
          `memcached sources ${sourceCpu.toFixed(2)} s, local memcached ${localCpu.toFixed(2)} s`,
      );
      const passes =
        (
          report as unknown as {
            passes?: { pass: number; keys: number; missing: number; copied: number; proven?: number }[];
          }
        ).passes ?? [];
      console.log(
        `  passes: ${passes.map((p) => `#${p.pass} listed ${p.keys}, missing ${p.missing}, copied ${p.copied}, sources proven complete ${p.proven ?? 0}/3`).join('; ')}`,
      );
      runs.push(r);
    }
    return runs;
  } finally {
    await Promise.all([...sources, local].map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes each server's completeness marker (agent/marker.ts), as a finished resync or heal would. */
export async function markSources(
  servers: readonly { id: string; address: string }[],
  cluster: string,
): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      const state = await readNodeState(s.address);
      if (!(await writeMarker(s.address, state.identity, { cluster, node: s.id })))
        throw new Error(`could not mark ${s.address}: it restarted`);
    }),
  );
}

/** user + system CPU seconds of a live process, from /proc (clock ticks of 1/100 s); 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state: utime and stime are 12 and 13 on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function runAgent(
  args: string[],
): Promise<{ report: ResyncReport; peakRssKb: number; wallSec: number; cpuSec: number }> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      join(__dirname, '..', 'agent', 'cli.js'),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let peak = 0;
  let cpu = 0;
  // VmHWM is the peak; poll it (and the CPU time) until the process is gone (they cannot be read after exit).
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
      cpu = Math.max(cpu, cpuSeconds(child.pid as number));
    } catch {
      // exited
    }
  }, 20);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      clearInterval(poll);
      const lines = out.trim().split('\n');
      try {
        const last = parseResyncMessage(lines[lines.length - 1]);
        if (last.type !== 'result') throw new Error('last line is not the report');
        resolve({ report: last, peakRssKb: peak, wallSec: (Date.now() - started) / 1000, cpuSec: cpu });
      } catch (e) {
        reject(new Error(`agent exited ${code}: ${(e as Error).message}`));
      }
    });
  });
}

export function command(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      s.destroy();
      resolve(d.toString());
    });
    s.connect(port, '127.0.0.1', () => s.write(text));
  });
}

/** Pipelined `ms ... q`, then `mn`; anything but MN back is a failure. */
export function loadMemcached(port: number, keys: Buffer[], value: Buffer = VALUE): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    let text = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.endsWith('MN\r\n')) {
        s.destroy();
        if (text === 'MN\r\n') resolve();
        else reject(new Error(`loading answered ${text.slice(0, 200)}`));
      }
    });
    const send = async () => {
      let parts: Buffer[] = [];
      let bytes = 0;
      for (const k of keys) {
        parts.push(Buffer.from(`ms ${k.toString('latin1')} ${value.length} F7 T0 q\r\n`), value, CRLF);
        bytes += value.length + 40;
        if (bytes > 4 * 1024 * 1024) {
          if (!s.write(Buffer.concat(parts))) await new Promise((r) => s.once('drain', r));
          parts = [];
          bytes = 0;
        }
      }
      s.write(Buffer.concat([...parts, Buffer.from('mn\r\n')]));
    };
    s.connect(port, '127.0.0.1', () => void send().catch(reject));
  });
}
const CRLF = Buffer.from('\r\n');

export async function benchRedis(): Promise<number[]> {
  // Checked first: a missing binary would otherwise crash the run (an 'error' event of the spawned child).
  const probe = spawnSync('redis-server', ['--version']);
  if (probe.error)
    throw new Error(
      `redis-server cannot run (${probe.error.message}): install it (apt-get install redis-server), or set BENCH_SKIP_REDIS=1 to skip the comparison`,
    );
  const nodes = await startRedisNodes(4);
  try {
    const [a, b, c, fresh] = nodes;
    const masters = [a, b, c];
    cli([
      '--cluster',
      'create',
      ...masters.map((n) => n.address),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitFor(() => masters.every((n) => clusterOk(n.port)));
    const owners = clusterNodes(a.port)
      .filter((n) => n.slots.length > 0)
      .sort((x, y) => x.slots[0][0] - y.slots[0][0]);
    // Move about 5/6 of the slots (the share that holds ITEMS_TO_MOVE of 1.2 x ITEMS_TO_MOVE keys), the
    // first slots of each master: `reshard --cluster-from <one master>` takes a master's lowest slots, so
    // the moved slots are known before loading, and the load puts exactly ITEMS_TO_MOVE keys in them.
    const movingSlots = Math.round(16384 / 1.2);
    const moving = new Uint8Array(16384);
    const slotPort = new Int32Array(16384);
    const take = owners.map(
      (_, i) => Math.floor(movingSlots / owners.length) + (i < movingSlots % owners.length ? 1 : 0),
    );
    owners.forEach((o, i) => {
      const all: number[] = [];
      for (const [lo, hi] of o.slots) for (let s = lo; s <= hi; s++) all.push(s);
      all.sort((x, y) => x - y);
      for (const s of all) slotPort[s] = o.port;
      for (const s of all.slice(0, take[i])) moving[s] = 1;
    });
    const perPort = new Map<number, Buffer[]>(owners.map((o) => [o.port, []]));
    let total = 0;
    for (let i = 0, inMoving = 0; inMoving < ITEMS_TO_MOVE; i++, total++) {
      const key = Buffer.from(`bench:${i}`);
      const slot = slotOf(key);
      if (moving[slot]) inMoving++;
      perPort.get(slotPort[slot])!.push(key);
    }
    const t0 = Date.now();
    await Promise.all([...perPort].map(([port, keys]) => loadRedis(port, keys, VALUE)));
    console.log(
      `loaded ${total} keys of 1 KB into a 3-master Redis Cluster in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `${ITEMS_TO_MOVE} of them in the ${movingSlots} slots to move`,
    );
    cli(['--cluster', 'add-node', fresh.address, a.address]);
    // Every node must know the new one, and the new one must know every slot (a node whose state is not ok
    // answers CLUSTERDOWN to MIGRATE's RESTORE-ASKING), before slots move to it.
    const freshId = cli(['-p', String(fresh.port), 'cluster', 'myid']).trim();
    // A node still in handshake is listed under a temporary id: wait until every node lists the new one by
    // its own id, with no node in handshake, failing or without address.
    const settled = () =>
      nodes.every((n) => {
        const view = clusterNodes(n.port);
        return (
          view.length === 4 &&
          view.some((v) => v.id === freshId) &&
          view.every((v) => !/handshake|fail|noaddr/.test(v.flags)) &&
          clusterOk(n.port)
        );
      }) && cli(['--cluster', 'check', a.address]).includes('[OK] All 16384 slots covered');
    await waitFor(settled, 60000);
    const rates: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const started = Date.now();
      // --cluster-pipeline 1000: far above the default of 10, the fastest an operator would reasonably run it.
      owners.forEach((o, i) =>
        cli([
          '--cluster',
          'reshard',
          a.address,
          '--cluster-from',
          o.id,
          '--cluster-to',
          freshId,
          '--cluster-slots',
          String(take[i]),
          '--cluster-yes',
          '--cluster-pipeline',
          '1000',
        ]),
      );
      const seconds = (Date.now() - started) / 1000;
      const moved = Number(cli(['-p', String(fresh.port), 'dbsize']).trim());
      if (moved !== ITEMS_TO_MOVE)
        throw new Error(`redis reshard run ${run} moved ${moved} keys, not ${ITEMS_TO_MOVE}`);
      rates.push(moved / seconds);
      console.log(
        `redis reshard run ${run}: ${moved} keys (${movingSlots} slots) in ${seconds.toFixed(2)} s: ${Math.round(moved / seconds)} keys/s`,
      );
      await waitFor(settled, 60000);
      if (run < RUNS) {
        // Put the slots back (untimed), each to its master: the new node's lowest slots are the first master's, and so on.
        owners.forEach((o, i) =>
          cli([
            '--cluster',
            'reshard',
            a.address,
            '--cluster-from',
            freshId,
            '--cluster-to',
            o.id,
            '--cluster-slots',
            String(take[i]),
            '--cluster-yes',
            '--cluster-pipeline',
            '1000',
          ]),
        );
        await waitFor(
          () => Number(cli(['-p', String(fresh.port), 'dbsize']).trim()) === 0 && settled(),
          60000,
        );
      }
    }
    return rates;
  } finally {
    for (const n of nodes) n.stop();
  }
}

async function waitFor(check: () => boolean, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // redis-cli exits non-zero while the nodes still disagree: that is "not yet", not a failure.
  const safe = () => {
    try {
      return check();
    } catch {
      return false;
    }
  };
  while (!safe()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the cluster');
    await new Promise((r) => setTimeout(r, 200));
  }
}
