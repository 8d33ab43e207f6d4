import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../cli/astaire';
import { AstaireClient, FileTopologySource } from '../../../client';
import { load } from '../../../local/traffic';
import { MemcachedCluster } from '../../support/memcached';
import { tempDir } from '../../support/temp-dirs';

// Issue 16: `astaire plan --to N / --add ID=ADDR / --remove ID`, a what-if on the current topology,
// with the bytes to move from the servers' memcached stats (real memcached on loopback).
async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('astaire plan, what-if', () => {
  let cluster: MemcachedCluster;
  const dir = tempDir('astaire-plan-');
  const file = join(dir, 'topology.json');
  const unreachable = join(dir, 'unreachable.json');

  beforeAll(async () => {
    cluster = await MemcachedCluster.start(3);
    writeFileSync(
      file,
      JSON.stringify({ cluster: 'demo', epoch: 4, vbuckets: 1024, servers: cluster.servers() }),
    );
    writeFileSync(
      unreachable,
      JSON.stringify({
        cluster: 'demo',
        epoch: 4,
        vbuckets: 1024,
        servers: [{ id: 'gone', address: '127.0.0.1:9' }],
      }),
    );
    const client = await AstaireClient.open({ source: new FileTopologySource(file), pollIntervalMs: 0 });
    try {
      await load(client, 0, 3000);
    } finally {
      await client.close();
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('given 3 servers holding data, when asked --to 4, then about a quarter moves, only new-1 pulls, and its bytes are the total to move', async () => {
    const { code, out, err } = await run('plan', '--topology', file, '--to', '4', '--json');
    expect([code, err]).toEqual([0, []]);
    const plan = JSON.parse(out[0]);
    expect(plan.whatIf).toEqual({ added: [{ id: 'new-1', address: '(new)' }], removed: [] });
    expect(plan.pulls.map((p: { node: string }) => p.node)).toEqual(['new-1']);
    expect(plan.movedFraction).toBeGreaterThan(0.2);
    expect(plan.movedFraction).toBeLessThan(0.3);
    expect(plan.bytesToMove).toBeGreaterThan(0);
    expect(Math.abs(plan.pulls[0].bytes - plan.bytesToMove)).toBeLessThanOrEqual(1);
  });

  it('given 3 servers, when one is removed and one added, then the text names the change, the pulls and the bytes', async () => {
    const [first] = cluster.servers();
    const { code, out } = await run('plan', '-t', file, '--remove', first.id, '--add', 'node-9=127.0.0.1:1');
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(new RegExp(`^what-if on epoch 4: \\+node-9 -${first.id}$`, 'm'));
    expect(text).toMatch(/3 -> 3 servers/);
    expect(text).toMatch(/node-9 127\.0\.0\.1:1: pulls \d+ vbuckets, about [\d.]+ MB; primary sources: /);
    expect(text).toMatch(/^bytes to move: about [\d.]+ MB \(memcached stats of the current servers\)$/m);
  });

  it('given a server that does not answer, then the bytes are unknown, not zero', async () => {
    const { code, out } = await run('plan', '--topology', unreachable, '--to', '2', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(out[0]).bytesToMove).toBeNull();
  });

  it.each([
    [['--remove', 'nobody'], /--remove nobody: no such server in the topology \(servers: /],
    [['--add', 'x'], /--add must be ID=HOST:PORT/],
    [['--to', '0'], /--to must be a whole number from 1 to 1000, got "0"/],
  ])('given %j, then it exits 2 with a reason', async (args, message) => {
    const { code, err } = await run('plan', '--topology', file, ...args);
    expect(code).toBe(2);
    expect(err).toEqual([expect.stringMatching(message)]);
  });
});
