import { Server, Topology, parseTopology, planMigration, planPushes } from '../../../core';
import { readCrawlCounters } from '../../../agent/crawl-proof';
import { AgentResyncReport, PushReport, runPush, runResync } from '../../../agent';
import { MemcachedCluster } from '../../support/memcached';
import { load, makeItems, mismatches } from './support';

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
): Promise<{ pushes: PushReport[]; resyncs: AgentResyncReport[] }> {
  const pushers = planPushes(planMigration(t), t).pushes;
  const [pushes, resyncs] = await Promise.all([
    Promise.all(
      pushers.map((p) => runPush({ topology: t, node: p.node, local: p.address, ...pusherOptions })),
    ),
    Promise.all(
      planMigration(t).pulls.map((p) =>
        runResync({ topology: t, node: p.node, local: p.address, expectPushes: { stallTimeoutMs: 5000 } }),
      ),
    ),
  ]);
  return { pushes, resyncs };
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

    const { pushes, resyncs } = await migrate(t);

    const crawls = (await crawlStarts(leaving)) - before;
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
});
