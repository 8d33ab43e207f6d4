import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseResyncMessage, parseTopology, Topology, vbucketOf } from '../../../core';
import { runCleanup, vbucketsNotHeld, watermarkKey } from '../../../agent';
import { MemcachedCluster } from '../../support/memcached';
import { Item, pipeline, readAll, setCommand } from './support';
import { tempDir } from '../../support/temp-dirs';

// The agent's cleanup after a commit, against a real memcached: the node deletes the items of the
// vbuckets it does not hold, and nothing else.
jest.setTimeout(60_000);
const VBUCKETS = 64;
const agent = resolve(__dirname, '..', '..', '..', 'dist', 'agent', 'cli.js');

function fail(what: unknown): never {
  throw new Error(`unexpected answer: ${String(what)}`);
}

function items(count: number, prefix: string): Item[] {
  return Array.from({ length: count }, (_, i) => ({
    // Every fifth key needs base64 on the wire (a space and a non-ASCII byte).
    key: Buffer.from(i % 5 === 0 ? `${prefix} ${i}\u00e9` : `${prefix}:${i}`),
    value: Buffer.from(`v${i}`),
    flags: i,
    ttl: 0,
  }));
}

function topologyOf(local: string): Topology {
  return parseTopology(
    {
      cluster: 'c',
      epoch: 5,
      vbuckets: VBUCKETS,
      replicas: 2,
      servers: [
        { id: 'n1', address: local },
        { id: 'n2', address: '127.0.0.1:1' },
        { id: 'n3', address: '127.0.0.1:2' },
        { id: 'n4', address: '127.0.0.1:3' },
      ],
    },
    'test',
  );
}

describe('astaire-agent cleanup against a real memcached', () => {
  let cluster: MemcachedCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('given items of held and lost vbuckets and reserved keys, when cleanup runs, then exactly the lost vbuckets items are gone', async () => {
    cluster = await MemcachedCluster.start(1, { memoryMb: 64 });
    const local = cluster.nodes[0].address;
    const topology = topologyOf(local);
    const notHeld = vbucketsNotHeld(topology, 'n1');
    const isLost = (i: Item) => notHeld[vbucketOf(i.key, VBUCKETS)] === 1;
    const all = items(20000, 'old');
    // Astaire's own keys, some in vbuckets the node does not hold: never deleted.
    const reserved = items(200, 'astaire:marker').filter(isLost);
    await pipeline(
      local,
      [...all, ...reserved].map((i) => setCommand(i)),
      { value: fail, error: fail, status: fail },
    );
    const lost = all.filter(isLost);
    const held = all.filter((i) => !isLost(i));
    expect(lost.length).toBeGreaterThan(5000);
    expect(held.length).toBeGreaterThan(5000);
    expect(reserved.length).toBeGreaterThan(50);

    const file = join(tempDir('cleanup-'), 'topology.json');
    writeFileSync(file, JSON.stringify(topology));
    const { stdout } = await promisify(execFile)(process.execPath, [
      agent,
      'cleanup',
      '--node',
      'n1',
      '--topology',
      file,
      '--local',
      local,
      '--json',
    ]);

    const lines = stdout.trim().split('\n').map(parseResyncMessage);
    const report = lines[lines.length - 1];
    expect(report).toMatchObject({
      type: 'result',
      mode: 'cleanup',
      status: 'succeeded',
      cluster: 'c',
      node: 'n1',
      epoch: 5,
      items: lost.length,
      vbuckets: notHeld.reduce((n, w) => n + w, 0),
    });
    const gone = await readAll(
      local,
      lost.map((i) => i.key),
    );
    expect(gone.filter((g) => g !== undefined)).toEqual([]);
    const kept = await readAll(
      local,
      held.map((i) => i.key),
    );
    expect(kept.every((g, n) => g !== undefined && g.value.equals(held[n].value))).toBe(true);
    const markers = await readAll(
      local,
      reserved.map((i) => i.key),
    );
    expect(markers.every((g, n) => g !== undefined && g.value.equals(reserved[n].value))).toBe(true);
  });

  it('given writes to lost vbuckets once the watermark is taken, when cleanup runs throttled, then they survive and the rest goes', async () => {
    cluster = await MemcachedCluster.start(1, { memoryMb: 64 });
    const local = cluster.nodes[0].address;
    const topology = topologyOf(local);
    const notHeld = vbucketsNotHeld(topology, 'n1');
    const isLost = (i: Item) => notHeld[vbucketOf(i.key, VBUCKETS)] === 1;
    const before = items(12000, 'a').filter(isLost);
    await pipeline(
      local,
      before.map((i) => setCommand(i)),
      { value: fail, error: fail, status: fail },
    );
    const rewritten = before.slice(-300).map((i) => ({ ...i, value: Buffer.from('client'), flags: 42 }));
    const fresh = items(3000, 'late').filter(isLost);

    // 2,000 deletes/s: several seconds for the stale items, so the writes below land mid-cleanup.
    const cleanup = runCleanup({ topology, node: 'n1', local, maxDeletesPerSec: 2000 });
    let settled = false;
    void cleanup.finally(() => (settled = true));
    const marker = Buffer.from(watermarkKey('n1'));
    let polls = 0;
    while (polls++ < 1000 && (await readAll(local, [marker]))[0] === undefined)
      await new Promise((r) => setTimeout(r, 10));
    await pipeline(
      local,
      [...rewritten, ...fresh].map((i) => setCommand(i)),
      { value: fail, error: fail, status: fail },
    );
    const writtenDuringCleanup = !settled;
    const report = await cleanup;

    expect(polls).toBeLessThan(1000);
    expect(writtenDuringCleanup).toBe(true);
    expect(report.status).toBe('succeeded');
    const got = await readAll(
      local,
      [...rewritten, ...fresh].map((i) => i.key),
    );
    expect(got.filter((g) => g === undefined)).toEqual([]);
    expect(got.slice(0, rewritten.length).every((g) => g!.value.toString() === 'client')).toBe(true);
    const rest = await readAll(
      local,
      before.slice(0, -300).map((i) => i.key),
    );
    expect(rest.filter((g) => g !== undefined)).toEqual([]);
    expect(report.items).toBe(before.length - rewritten.length);
  });

  it('given the local memcached is down, when cleanup runs, then the report fails and names it', async () => {
    cluster = await MemcachedCluster.start(1, { memoryMb: 64 });
    const local = cluster.nodes[0].address;
    await cluster.nodes[0].kill();
    const report = await runCleanup({
      topology: topologyOf(local),
      node: 'n1',
      local,
      connectTimeoutMs: 500,
    });
    expect(report).toMatchObject({ status: 'failed', items: 0, vbucketsDone: 0 });
    expect(report.error).toMatch(new RegExp(`LocalMemcachedError: local memcached ${local} is unreachable`));
  });
});
