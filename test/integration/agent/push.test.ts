import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Server,
  Topology,
  parseTopology,
  planMigration,
  planPushes,
  serializeTopology,
  vbucketOf,
} from '../../../core';
import { readCrawlCounters } from '../../../agent/crawl-proof';
import { AgentResyncReport, PushReport, runPush, runResync } from '../../../agent';
import { MemcachedCluster } from '../../support/memcached';
import { tempDir } from '../../support/temp-dirs';
import { Item, load, makeItems, mismatches, pipeline, readAll, setCommand } from './support';

const VBUCKETS = 1024;
const REPLICAS = 2;
const MEMCACHED = { memoryMb: 128 };

function topology(servers: Server[], newServers: Server[]): Topology {
  return parseTopology(
    { cluster: 'itest', epoch: 7, vbuckets: VBUCKETS, replicas: REPLICAS, servers, newServers },
    'test',
  );
}

/** One migration as the workflow runs it: every designated source pushes while every receiver resyncs. */
async function migrate(
  t: Topology,
  pusherOptions: { maxBytesPerSec?: number; heartbeatMs?: number } = {},
): Promise<{ pushes: PushReport[]; resyncs: AgentResyncReport[]; receiverLogs: string[] }> {
  const pushers = planPushes(planMigration(t), t).pushes;
  const receiverLogs: string[] = [];
  const [pushes, resyncs] = await Promise.all([
    Promise.all(
      pushers.map((p) => runPush({ topology: t, node: p.node, local: p.address, ...pusherOptions })),
    ),
    Promise.all(
      planMigration(t).pulls.map((p) =>
        runResync({
          topology: t,
          node: p.node,
          local: p.address,
          expectPushes: { stallTimeoutMs: 5000 },
          log: (line) => receiverLogs.push(`${p.node}: ${line}`),
        }),
      ),
    ),
  ]);
  return { pushes, resyncs, receiverLogs };
}

/**
 * Every mismatch between `items` and what the receivers of `t` hold in the vbuckets they gain: value and
 * flags exact, TTL within what the test's run time can explain (no TTL: -1). For runs where an old replica
 * died, so mismatches() cannot read it for reference.
 */
async function gainedMismatches(
  t: Topology,
  items: readonly Item[],
  maxElapsedSec: number,
): Promise<string[]> {
  const problems: string[] = [];
  for (const pull of planMigration(t).pulls) {
    const gained = new Set(pull.vbuckets.map((v) => v.vbucket));
    const expected = items.filter((i) => gained.has(vbucketOf(i.key, t.vbuckets)));
    const got = await readAll(
      pull.address,
      expected.map((i) => i.key),
    );
    expected.forEach((item, n) => {
      const g = got[n];
      const name = `${pull.node} key ${JSON.stringify(item.key.toString('latin1'))}`;
      if (!g) return void problems.push(`${name}: missing`);
      if (!g.value.equals(item.value)) problems.push(`${name}: value differs`);
      if (g.flags !== item.flags) problems.push(`${name}: flags ${g.flags} vs ${item.flags}`);
      // memcached's clock ticks once a second and lags up to 1 s: a node reports up to 1 s more than written
      // (the source itself does; the resync test 'at any phase of the one-second clocks' holds copies to it).
      const ttlOk =
        item.ttl === 0 ? g.ttl === -1 : g.ttl <= item.ttl + 1 && g.ttl >= item.ttl - maxElapsedSec;
      if (!ttlOk) problems.push(`${name}: ttl ${g.ttl} vs ${item.ttl} written`);
    });
  }
  return problems;
}

/** makeItems' items with keys of their own (its keys with few random bytes can repeat across seeds). */
function freshItems(count: number, seed: number): Item[] {
  return makeItems(count, seed).map((i) => ({ ...i, key: Buffer.concat([Buffer.from('fresh:'), i.key]) }));
}

/**
 * A client writing `items` to `address`, `batch` every 50 ms, until `stop()` (or 60 s, or the items run
 * out): each crawl of the node meanwhile lists keys no earlier one had.
 */
async function keepWriting(address: string, items: readonly Item[], batch: number, stop: () => boolean) {
  const deadline = Date.now() + 60000;
  for (let i = 0; !stop() && Date.now() < deadline && i < items.length; i += batch) {
    await pipeline(
      address,
      items.slice(i, i + batch).map((item) => setCommand(item)),
      {
        value: () => undefined,
        error: (line) => {
          throw new Error(line);
        },
      },
    );
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * node-5's push (crawl proof off: every crawl unproven, as under traffic) while `receive` runs the receivers
 * and a client writes `items` to node-5 (`batch` every 50 ms): the push and receivers' reports, and the
 * crawls of node-5 meanwhile.
 */
async function pushWhileWriting(
  t: Topology,
  leaving: string,
  items: readonly Item[],
  batch: number,
  receive: () => Promise<AgentResyncReport[]>,
): Promise<{ push: PushReport; resyncs: AgentResyncReport[]; crawls: number }> {
  const before = await crawlStarts(leaving);
  let writing = true;
  const writer = keepWriting(leaving, items, batch, () => !writing);
  const [push, resyncs] = await Promise.all([
    runPush({ topology: t, node: 'node-5', local: leaving, crawlProof: false }),
    receive(),
  ]).finally(() => {
    writing = false;
  });
  await writer;
  return { push, resyncs, crawls: (await crawlStarts(leaving)) - before };
}

async function crawlStarts(address: string): Promise<number> {
  const c = await readCrawlCounters(address);
  if (!c) throw new Error(`no crawler counters from ${address}`);
  return c.starts;
}

describe('a migration crawls each source a bounded number of times, whatever the number of receivers', () => {
  jest.setTimeout(120000);
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  const items = makeItems(20000, 3);

  it('given 5 nodes, when node-5 leaves (4 receivers), then node-5 is crawled at most 3 times and every key is on its new replicas', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const leaving = old[4].address;
    const before = await crawlStarts(leaving);

    const { pushes, resyncs, receiverLogs } = await migrate(t);

    const crawls = (await crawlStarts(leaving)) - before;
    // A receiver that pulls nothing probes no source (the adaptive throttle's probes are load on them).
    expect(receiverLogs.filter((l) => /latency before the copy/.test(l))).toEqual([]);
    process.stdout.write(`push test: node-5 crawled ${crawls} times for ${resyncs.length} receivers\n`);
    expect(pushes.map((r) => r.error ?? r.status)).toEqual(['succeeded']);
    expect(pushes[0]).toMatchObject({ node: 'node-5', receivers: 4, receiversDone: 4 });
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    // Nothing was pulled: every receiver took all of its vbuckets from the push.
    for (const r of resyncs) expect(r.pushed).toMatchObject({ pushers: 1, pushersDone: 1, fallbacks: [] });
    expect(resyncs.reduce((n, r) => n + r.items, 0)).toBe(pushes[0].items);
    expect(crawls).toBe(pushes[0].crawls);
    expect(crawls).toBeLessThanOrEqual(3);
    expect(await mismatches(old.slice(0, 4), old, VBUCKETS, REPLICAS, items)).toEqual([]);
  });

  it('given 3 nodes, when 2 join at once (2 receivers), then each old node is crawled at most 3 times and every key is on its new replicas', async () => {
    cluster = await MemcachedCluster.start(3, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    await cluster.add(2, MEMCACHED);
    const t = topology(old, cluster.servers());
    const before = await Promise.all(old.map((s) => crawlStarts(s.address)));

    const { pushes, resyncs } = await migrate(t);

    const crawls = await Promise.all(old.map(async (s, i) => (await crawlStarts(s.address)) - before[i]));
    expect(pushes.map((r) => r.error ?? r.status)).toEqual(Array(3).fill('succeeded'));
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(['succeeded', 'succeeded']);
    for (const r of resyncs) expect(r.pushed).toMatchObject({ pushers: 3, pushersDone: 3, fallbacks: [] });
    for (const c of crawls) expect(c).toBeLessThanOrEqual(3);
    expect(await mismatches(cluster.servers(), old, VBUCKETS, REPLICAS, items)).toEqual([]);
  });

  it('given a receiver fed by a push, when it reports progress, then its progress counts the pushed items as they arrive', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const receiver = planMigration(t).pulls[0];
    const seen: { items: number; vbucketsDone: number }[] = [];
    const reporter = {
      progress: async (p: { items: number; vbucketsDone: number }) => void seen.push(p),
      finish: async () => undefined,
    };
    const [push, resyncs] = await Promise.all([
      // Slow enough for several progress intervals of the receivers.
      runPush({
        topology: t,
        node: 'node-5',
        local: old[4].address,
        maxBytesPerSec: 4_000_000,
        heartbeatMs: 100,
      }),
      Promise.all(
        planMigration(t).pulls.map((p) =>
          runResync({
            topology: t,
            node: p.node,
            local: p.address,
            expectPushes: { stallTimeoutMs: 5000 },
            progressIntervalMs: 100,
            ...(p.node === receiver.node ? { reporter: reporter as never } : {}),
          }),
        ),
      ),
    ]);
    const resync = resyncs.find((r) => r.node === receiver.node)!;
    expect(push.status).toBe('succeeded');
    expect(resync.status).toBe('succeeded');
    expect(resync.pushed).toMatchObject({ pushersDone: 1, fallbacks: [] });
    // Before its report, the receiver showed items arriving (not 0 until the end), never more than it got.
    const during = seen.filter((p) => p.items > 0 && p.items < resync.items);
    expect(during.length).toBeGreaterThan(0);
    expect(Math.max(...seen.map((p) => p.items))).toBeLessThanOrEqual(resync.items);
    expect(seen.at(-1)!.vbucketsDone).toBeLessThanOrEqual(resync.vbucketsDone);
  });

  it('given a push under way, when the pushing node dies, then the receivers pull from the other replica and nothing is lost', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    // From the writes on: the TTLs left are checked against what was written (no old replica to compare).
    const started = Date.now();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const leaving = cluster.nodes[4];
    // Slowed down so the kill lands mid-push: killed once a receiver holds part of it.
    let killed = false;
    const killer = (async () => {
      const deadline = Date.now() + 30000;
      while (Date.now() < deadline) {
        const [record] = await readAll(old[0].address, [Buffer.from('astaire:pushed:node-5')]);
        if (record && (JSON.parse(record.value.toString()) as { items: number }).items > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await leaving.kill();
      killed = true;
    })();

    const [{ pushes, resyncs }] = await Promise.all([
      migrate(t, { maxBytesPerSec: 4_000_000, heartbeatMs: 50 }),
      killer,
    ]);

    expect(killed).toBe(true);
    expect(pushes[0].status).toBe('failed');
    expect(pushes[0].receiversDone).toBe(0);
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    for (const r of resyncs) {
      expect(r.pushed).toMatchObject({ pushers: 1, pushersDone: 0 });
      // Its failure record, or (a receiver it had not reached yet) its memcached found down: never a 30 s wait.
      expect(r.pushed!.fallbacks).toEqual([expect.stringMatching(/^node-5: (it failed|unreachable)/)]);
    }
    // + memcached's 1 s clock lag and the 1 s the copy takes off (never outliving its original).
    const elapsed = Math.ceil((Date.now() - started) / 1000) + 2;
    expect(await gainedMismatches(t, items, elapsed)).toEqual([]);
  });

  it('given a pusher process killed mid-push (no failure record, its heartbeat stops), then the receivers pull what it did not finish', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const file = join(tempDir('astaire-push-'), 'topology.json');
    writeFileSync(file, serializeTopology(t));
    const started = Date.now();
    const cli = join(__dirname, '../../../dist/agent/cli.js');
    const pusher = spawn(
      process.execPath,
      [
        cli,
        'push',
        '--node',
        'node-5',
        '--topology',
        file,
        '--local',
        old[4].address,
        '--max-bytes-per-sec',
        '2000000',
        '--json',
      ],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    const exited = new Promise<number | null>((resolve) => pusher.on('exit', (code) => resolve(code)));
    const killer = (async () => {
      const deadline = Date.now() + 30000;
      while (Date.now() < deadline) {
        const [record] = await readAll(old[0].address, [Buffer.from('astaire:pushed:node-5')]);
        if (record && (JSON.parse(record.value.toString()) as { items: number }).items > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      pusher.kill('SIGKILL');
      return exited;
    })();

    const [resyncs, code] = await Promise.all([
      Promise.all(
        planMigration(t).pulls.map((p) =>
          runResync({ topology: t, node: p.node, local: p.address, expectPushes: { stallTimeoutMs: 3000 } }),
        ),
      ),
      killer,
    ]);

    expect(code).toBeNull(); // killed, not exited
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    for (const r of resyncs) {
      expect(r.pushed).toMatchObject({ pushers: 1, pushersDone: 0 });
      expect(r.pushed!.fallbacks).toEqual([expect.stringMatching(/^node-5: no heartbeat for 3000 ms/)]);
    }
    const elapsed = Math.ceil((Date.now() - started) / 1000) + 2;
    expect(await mismatches(old.slice(0, 4), old, VBUCKETS, REPLICAS, items, elapsed)).toEqual([]);
  });

  it('given the leaving node is not a complete replica (it restarted: no marker), then it pushes nothing and its receivers pull from the other replica at once', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    await pipeline(old[4].address, [Buffer.from('md astaire:complete q\r\n')], {
      value: () => undefined,
      error: (line) => {
        throw new Error(line);
      },
    });
    const t = topology(old, old.slice(0, 4));
    const started = Date.now();

    const { pushes, resyncs } = await migrate(t);

    expect(pushes[0]).toMatchObject({ status: 'failed', receiversDone: 0 });
    expect(pushes[0].error).toMatch(/^SourceIncompleteError: /);
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    for (const r of resyncs)
      expect(r.pushed!.fallbacks).toEqual([expect.stringMatching(/^node-5: not a complete replica/)]);
    // Not the 30 s a silent pusher is waited for.
    expect(Date.now() - started).toBeLessThan(30000);
    expect(await mismatches(old.slice(0, 4), old, VBUCKETS, REPLICAS, items, 60)).toEqual([]);
  });

  it('given receivers that become ready in waves (agents starting in turn) and no crawl that proves itself complete, then the leaving node is crawled twice, not once more per late receiver', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const leaving = old[4].address;
    const before = await crawlStarts(leaving);
    const pusherLog: string[] = [];

    const [push, resyncs] = await Promise.all([
      // Ready 2 s apart, past the pusher's 1 s quiet gate: each comes in a wave of its own.
      // No proof: every crawl may have missed items (the worst case, as under client traffic), so each
      // receiver takes a second pass. Late receivers share it with the others instead of each asking for
      // one of their own once ready.
      runPush({
        topology: t,
        node: 'node-5',
        local: leaving,
        crawlProof: false,
        log: (l) => pusherLog.push(l),
      }),
      Promise.all(
        planMigration(t).pulls.map(async (p, i) => {
          await new Promise((r) => setTimeout(r, i * 2000));
          return runResync({ topology: t, node: p.node, local: p.address, expectPushes: {} });
        }),
      ),
    ]);

    const crawls = (await crawlStarts(leaving)) - before;
    expect(push).toMatchObject({ status: 'succeeded', receiversDone: 4 });
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    expect(crawls).toBe(push.crawls);
    expect(crawls).toBe(2);
    // Said once for the shared crawl, not once per receiver reading it.
    expect(pusherLog.filter((l) => /enumerating again: crawl 1 /.test(l))).toHaveLength(1);
    expect(await mismatches(old.slice(0, 4), old, VBUCKETS, REPLICAS, items, 30)).toEqual([]);
  });

  it('given receivers that become ready in waves while clients keep writing to the leaving node, then every pass is one shared crawl: 3 crawls at most, not one more per late receiver', async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const leaving = old[4].address;
    // New keys keep arriving on node-5 (bounded: 20 every 50 ms, 60 s at most): each pass lists keys no
    // earlier pass had, so each receiver takes every pass it may (maxPasses 3).
    const { push, resyncs, crawls } = await pushWhileWriting(t, leaving, freshItems(24000, 99), 20, () =>
      Promise.all(
        planMigration(t).pulls.map(async (p, i) => {
          await new Promise((r) => setTimeout(r, i * 2000));
          return runResync({ topology: t, node: p.node, local: p.address, expectPushes: {} });
        }),
      ),
    );

    expect(push).toMatchObject({ status: 'succeeded', receiversDone: 4 });
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    expect(crawls).toBe(push.crawls);
    expect(crawls).toBeLessThanOrEqual(3);
    expect(await mismatches(old.slice(0, 4), old, VBUCKETS, REPLICAS, items, 30)).toEqual([]);
  });

  it("given receivers that start one at a time (a Map of concurrency 1) and clients writing only to the first one's vbuckets, then no receiver waits for one that is not started: every push ends, in 3 crawls at most", async () => {
    cluster = await MemcachedCluster.start(5, MEMCACHED);
    const old = cluster.servers();
    await load(old, VBUCKETS, REPLICAS, items);
    const t = topology(old, old.slice(0, 4));
    const leaving = old[4].address;
    const pulls = planMigration(t).pulls;
    // New keys in the first receiver's vbuckets only: its second pass finds some, so it asks for a third
    // round; the receivers not started yet find none in theirs and ask for nothing. The third round must
    // not wait for them (they start only after the first one is done).
    const first = new Set(pulls[0].vbuckets.map((v) => v.vbucket));
    const fresh = freshItems(40000, 77).filter((i) => first.has(vbucketOf(i.key, VBUCKETS)));
    const { push, resyncs, crawls } = await pushWhileWriting(t, leaving, fresh, 10, async () => {
      const reports: AgentResyncReport[] = [];
      for (const p of pulls)
        reports.push(await runResync({ topology: t, node: p.node, local: p.address, expectPushes: {} }));
      return reports;
    });

    expect(push).toMatchObject({ status: 'succeeded', receiversDone: 4 });
    expect(resyncs.map((r) => r.error ?? r.status)).toEqual(Array(4).fill('succeeded'));
    expect(crawls).toBe(push.crawls);
    expect(crawls).toBeLessThanOrEqual(3);
    expect(await mismatches(old.slice(0, 4), old, VBUCKETS, REPLICAS, items, 60)).toEqual([]);
  });
});
