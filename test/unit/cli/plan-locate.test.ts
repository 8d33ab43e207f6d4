import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../cli/astaire';
import { beginMigration, commitMigration, emptyTopology, serializeTopology } from '../../../core';
import { instanceIds } from '../../support/ids';
import { tempDir } from '../../support/temp-dirs';

const dir = tempDir('astaire-cli-');
const s = (n: number) => ({ id: `node-${n}`, address: `127.0.0.1:${11210 + n}` });
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}
const migrating = file('migrating.json', {
  cluster: 'demo',
  epoch: 3,
  servers: [s(1), s(2), s(3)],
  newServers: [s(1), s(2), s(3), s(4)],
});
const stable = file('stable.json', { cluster: 'demo', epoch: 3, servers: [s(1), s(2), s(3)] });

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('astaire plan', () => {
  it('given a 3 -> 4 topology, when planned as JSON, then only the new node pulls about a quarter of the slots', async () => {
    const { code, out } = await run('plan', '--topology', migrating, '--json');
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    const plan = JSON.parse(out[0]);
    expect(plan.pulls.map((p: { node: string }) => p.node)).toEqual(['node-4']);
    expect(plan.vbucketsMoved).toBe(plan.pulls[0].vbuckets.length);
    expect(plan.movedFraction).toBeGreaterThan(0.22);
    expect(plan.movedFraction).toBeLessThan(0.28);
    expect(plan.pulls[0].vbuckets.every((v: unknown) => Number.isInteger(v))).toBe(true);
    // What the new node pulls, the three old ones lose.
    expect(plan.cleanups.map((c: { node: string }) => c.node)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(plan.cleanups.reduce((n: number, c: { vbuckets: number[] }) => n + c.vbuckets.length, 0)).toBe(
      plan.pulls[0].vbuckets.length,
    );
  });

  it('given a 3 -> 4 topology, when planned as text, then it names the puller and its sources', async () => {
    const { code, out } = await run('plan', '--topology', migrating);
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/3 -> 4 servers/);
    expect(out.join('\n')).toMatch(/node-4 127\.0\.0\.1:11214: pulls \d+ vbuckets; primary sources: /);
  });

  it('given a topology without newServers, then it exits 2 and says there is nothing to plan', async () => {
    const { code, err } = await run('plan', '--topology', stable);
    expect(code).toBe(2);
    expect(err).toEqual([expect.stringContaining('has no newServers: nothing to plan')]);
  });

  it.each([
    [['plan'], /--topology FILE is required/],
    [
      ['plan', '--topology', join(dir, 'missing.json')],
      /cannot read topology file .*missing\.json: does not exist; check the path/,
    ],
    [['plan', '--topology', file('bad.json', '{"cluster":"demo"')], /bad\.json: document is not valid JSON/],
    [
      ['plan', '--topology', file('bad2.json', { cluster: 'demo', epoch: 'x', servers: [] })],
      /epoch must be a non-negative integer \(got "x"\)/,
    ],
    [['plan', '--topology', migrating, '--verbose'], /unknown option --verbose/],
    [['plan', '--topology', migrating, 'extra'], /unexpected argument "extra"/],
  ])('given %j, then it exits 2 with a one-line reason', async (argv, message) => {
    const { code, out, err } = await run(...argv);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });
});

describe('astaire plan and locate with 1000 servers in 3 zones', () => {
  const all = instanceIds(1001).map((id, i) => ({
    id,
    address: `10.0.${i >> 8}.${i & 255}:11211`,
    zone: `eu-west-1${'abc'[i % 3]}`,
  }));
  const owner = { executionId: 'e', startedAt: '2026-11-27T10:00:00Z' };
  const stable1000 = commitMigration(beginMigration(emptyTopology('big'), all.slice(0, 1000), owner));
  const migrating1000 = file('big.json', serializeTopology(beginMigration(stable1000, all, owner)));

  it('given 1000 -> 1001 servers, when planned as JSON, then only the newcomer pulls about 1/1001 of the slots, in distinct zones', async () => {
    const { code, out } = await run('plan', '--topology', migrating1000, '--json');
    expect(code).toBe(0);
    const plan = JSON.parse(out[0]);
    expect(plan.pulls.map((p: { node: string }) => p.node)).toEqual([all[1000].id]);
    expect(plan.pulls[0].zone).toBe('eu-west-1b');
    expect(plan.movedFraction).toBeLessThanOrEqual(1.2 / 1001);
    expect(plan.zones).toEqual({
      zones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
      vbucketsSharingAZone: 0,
    });
  });

  it('given 1000 -> 1001 servers, when planned as text, then zones are shown', async () => {
    const { code, out } = await run('plan', '--topology', migrating1000);
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/1000 -> 1001 servers/);
    expect(out.join('\n')).toMatch(
      /zones eu-west-1a, eu-west-1b, eu-west-1c: every vbucket's new replicas are in distinct zones/,
    );
    expect(out.join('\n')).toMatch(
      new RegExp(`${all[1000].id} 10\\.0\\.3\\.232:11211 \\(eu-west-1b\\): pulls`),
    );
  });

  it('given a key, when located, then each replica shows its zone, and the zones differ', async () => {
    const json = await run('locate', '--topology', migrating1000, '--json', 'foo');
    const located = JSON.parse(json.out[0]);
    expect(located.zones).toHaveLength(2);
    expect(new Set(located.zones).size).toBe(2);
    expect(new Set(located.newZones).size).toBe(2);
    const text = await run('locate', '--topology', migrating1000, 'foo');
    expect(text.out[0]).toMatch(
      /replicas 10\.0\.\d+\.\d+:11211 \(eu-west-1[abc]\),10\.0\.\d+\.\d+:11211 \(eu-west-1[abc]\)\tnew replicas /,
    );
  });
});

describe('astaire locate', () => {
  it('given keys and a migrating topology, when located as JSON, then each has its vbucket, replicas and new replicas', async () => {
    const { code, out } = await run('locate', '--topology', migrating, '--json', 'foo', 'hello world');
    expect(code).toBe(0);
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { key: 'foo', vbucket: 9505, replicas: expect.any(Array), newReplicas: expect.any(Array) },
      { key: 'hello world', vbucket: 4485, replicas: expect.any(Array), newReplicas: expect.any(Array) },
    ]);
    const first = JSON.parse(out[0]);
    expect(first.replicas).toHaveLength(2);
    expect(first.replicas.every((a: string) => /^127\.0\.0\.1:1121[1-3]$/.test(a))).toBe(true);
  });

  it('given a stable topology, then there are no new replicas', async () => {
    const { out } = await run('locate', '--topology', stable, '--json', 'foo');
    expect(JSON.parse(out[0])).not.toHaveProperty('newReplicas');
    const text = await run('locate', '--topology', stable, 'foo');
    expect(text.out[0]).toMatch(/^foo\tvbucket 9505\treplicas 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
  });

  it('given no key, then it exits 2', async () => {
    const { code, err } = await run('locate', '--topology', stable);
    expect(code).toBe(2);
    expect(err[0]).toMatch(/at least one KEY is required/);
  });
});

describe('astaire', () => {
  it('given no command, then it prints the overview and exits 2; with --help it exits 0', async () => {
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.out.join('\n')).toMatch(/Commands:[\s\S]*plan[\s\S]*locate/);
    expect((await run('--help')).code).toBe(0);
  });

  it('given an unknown command, then it exits 2 naming it', async () => {
    const { code, err } = await run('frobnicate');
    expect(code).toBe(2);
    expect(err[0]).toMatch(/unknown command "frobnicate"/);
  });

  it('given COMMAND --help, then it prints usage and options and exits 0', async () => {
    const { code, out } = await run('plan', '--help');
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(
      /Usage: astaire plan \(--topology FILE \| --parameter NAME[\s\S]*--to N[\s\S]*--topology FILE/,
    );
  });
});

describe('astaire --version', () => {
  it('given --version, then it prints the package version and exits 0', async () => {
    const { code, out } = await run('--version');
    expect(code).toBe(0);
    expect(out).toEqual([
      JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version,
    ]);
  });
});
