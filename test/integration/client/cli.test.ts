import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../cli/astaire';
import { MemcachedCluster } from '../../support/memcached';
import { tempDir } from '../../support/temp-dirs';

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('astaire get/set/delete', () => {
  let cluster: MemcachedCluster;
  let dir: string;
  let file: string;
  beforeAll(async () => {
    cluster = await MemcachedCluster.start(2);
    dir = tempDir('astaire-cli-');
    file = join(dir, 'topology.json');
    writeFileSync(
      file,
      JSON.stringify({ cluster: 'cli', epoch: 1, vbuckets: 64, servers: cluster.servers() }),
    );
  });
  afterAll(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('given a topology file, when setting then getting a key, then the value, flags and TTL come back', async () => {
    expect(
      await run(['set', '--topology', file, '--ttl', '300', '--flags', '12', 'greeting', 'hello world']),
    ).toEqual({
      code: 0,
      out: ['stored'],
      err: [],
    });
    expect(await run(['get', '--topology', file, 'greeting'])).toEqual({
      code: 0,
      out: ['hello world'],
      err: [],
    });
    const json = await run(['get', '--topology', file, '--json', 'greeting']);
    expect(JSON.parse(json.out[0])).toMatchObject({ key: 'greeting', value: 'hello world', flags: 12 });
    expect(JSON.parse(json.out[0]).ttl).toBeGreaterThan(290);
  });

  it('given a key, when deleted twice and read, then deleted, then not found with exit 1', async () => {
    await run(['set', '--topology', file, 'gone', 'x']);
    expect(await run(['delete', '--topology', file, 'gone'])).toEqual({ code: 0, out: ['deleted'], err: [] });
    expect(await run(['delete', '--topology', file, 'gone'])).toMatchObject({
      code: 1,
      err: ['astaire delete: gone: not found'],
    });
    expect(await run(['get', '--topology', file, 'gone'])).toEqual({
      code: 1,
      out: [],
      err: ['astaire get: gone: not found'],
    });
  });

  it('given bad usage or input, when run, then exit 2 with a clear message', async () => {
    expect((await run(['get', 'k'])).err[0]).toMatch(
      /give exactly one of --topology FILE and --parameter NAME/,
    );
    expect((await run(['get', '--topology', file, 'k'.repeat(251)])).err[0]).toMatch(
      /key is 251 bytes, over the 250-byte limit/,
    );
    expect((await run(['set', '--topology', file, '--flags', '4294967295', 'k', 'v'])).code).toBe(2);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"cluster":"cli","epoch":1,"servers":[{"id":"n1","address":"nohost"}]}');
    const result = await run(['get', '--topology', bad, 'k']);
    expect(result.code).toBe(2);
    expect(result.err[0]).toMatch(/servers\[0\]\.address must be host:port/);
  });

  it('given every server down, when getting, then exit 1 naming the servers', async () => {
    const down = join(dir, 'down.json');
    writeFileSync(
      down,
      JSON.stringify({ cluster: 'cli', epoch: 1, servers: [{ id: 'gone-1', address: '127.0.0.1:9' }] }),
    );
    const result = await run(['get', '--topology', down, '--timeout', '300', 'k']);
    expect(result.code).toBe(1);
    expect(result.err[0]).toMatch(
      /^astaire get: get k: no replica available \(gone-1 \(127\.0\.0\.1:9\): connection failed: connection refused 127\.0\.0\.1:9\); check that the servers answer/,
    );
  });
});
