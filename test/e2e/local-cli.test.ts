import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseTopology, placementOf, vbucketOf } from '../../core';
import { flagsOf, keyOf, valueOf } from '../../local/dataset';
import { MemcachedProcess } from '../../local/memcached-process';
import { Found, readAll } from '../integration/agent/support';
import { tempDir } from '../support/temp-dirs';

// `astaire local up / load / scale / wait-sync / verify / status / down`, run as a user runs them:
// separate processes sharing a state directory (needs `npm run build`, which npm test runs first).
jest.setTimeout(180_000);
const run = promisify(execFile);
const cli = resolve(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');
const stateDir = tempDir('astaire-local-cli-');
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

async function astaire(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'local', ...args, '--state-dir', stateDir], {
      env,
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let restarted: MemcachedProcess | undefined;
afterAll(async () => {
  if (existsSync(join(stateDir, 'session.json'))) await astaire('down');
  await restarted?.stop();
});

describe('astaire local, command by command', () => {
  it('given a cluster of 2 with 5000 items, when scaled to 3 and back to 2, then every item reads back; a node restarted empty is healed by the watcher; down stops everything', async () => {
    expect((await astaire('up', '--nodes', '2')).code).toBe(0);
    expect((await astaire('load', '--items', '5000')).stdout).toMatch(/loaded 5,000 items/);

    const out = await astaire('scale', '3');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/2 -> 3: 1 lifecycle event, one workflow execution each/);
    // The summary names the node that received data, not only the lifecycle event's instance.
    expect(out.stdout).toMatch(
      /launch i-0+3: SUCCEEDED in [\d.]+ s\n {4}i-0+3 received [1-9][\d,]* items \([\d.]+ MB\)/,
    );
    expect(out.stdout).toMatch(/total: [1-9][\d,]* items \([\d.]+ MB\) received by 1 node/);
    expect((await astaire('wait-sync', '--timeout', '30')).code).toBe(0);
    expect((await astaire('verify')).stdout).toMatch(
      /5,000 items checked: 0 missing, 0 wrong value, 0 wrong flags/,
    );

    expect((await astaire('scale', '2')).code).toBe(0);
    const verified = await astaire('verify');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/0 missing/);

    const status = JSON.parse((await astaire('status', '--json')).stdout);
    expect(status.topology.servers).toHaveLength(2);
    expect(status.topology.epoch).toBe(6);
    expect(
      status.nodes.every(
        (n: { up: boolean; lifecycleState: string }) => n.up && n.lifecycleState === 'InService',
      ),
    ).toBe(true);

    // Self-heal: a node's memcached killed and started again empty on its address, as systemd would.
    const session = JSON.parse(readFileSync(join(stateDir, 'session.json'), 'utf8'));
    const victim = session.group.instances.find(
      (i: { lifecycleState: string }) => i.lifecycleState === 'InService',
    );
    process.kill(victim.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    restarted = await MemcachedProcess.start({ host: victim.ip, port: session.group.port });
    const since = Date.now();
    let marker: Found | undefined;
    while (!marker && Date.now() - since < 60_000) {
      await new Promise((r) => setTimeout(r, 250));
      [marker] = await readAll(restarted.address, [Buffer.from('astaire:complete')]);
    }
    process.stdout.write(
      `local watcher healed ${victim.id} ${((Date.now() - since) / 1000).toFixed(1)} s after its restart\n`,
    );
    expect(marker).toBeDefined();
    const topology = parseTopology(readFileSync(join(stateDir, 'local.topology.json'), 'utf8'), 't');
    const placement = placementOf(topology);
    const mine = [...Array(5000).keys()].filter((i) =>
      placement.replicasOf(vbucketOf(keyOf(i), topology.vbuckets)).includes(victim.id),
    );
    const held = await readAll(
      restarted.address,
      mine.map((i) => Buffer.from(keyOf(i))),
    );
    expect(mine.length).toBeGreaterThan(1000);
    expect(
      held.filter((g, n) => !g || !g.value.equals(valueOf(mine[n], 0)) || g.flags !== flagsOf(mine[n])),
    ).toEqual([]);
    const healAgain = await astaire('heal');
    expect(healAgain.code).toBe(0);
    expect(healAgain.stdout).toMatch(/nothing to heal/);

    const addresses: string[] = status.nodes.map((n: { address: string }) => n.address);
    const down = await astaire('down');
    expect(down.stdout).toMatch(
      /stopped 1 node and removed the cluster's state in .*; its logs stay: .*workflow\.log, .*heal\.log/,
    );
    // The logs survive down; the rest of the state is gone.
    expect([existsSync(join(stateDir, 'workflow.log')), existsSync(join(stateDir, 'heal.log'))]).toEqual([
      true,
      true,
    ]);
    expect(existsSync(join(stateDir, 'session.json'))).toBe(false);
    await restarted.stop();
    // The watcher went with the cluster.
    const { isAlive } = await import('../../local/memcached-process');
    for (let i = 0; i < 50 && isAlive(session.healerPid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(session.healerPid)).toBe(false);
    const after = await astaire('status');
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/no local cluster in .*; start one with astaire local up/);
    // The nodes are really gone.
    const { answersVersion } = await import('../../local/memcached-process');
    for (const a of addresses)
      expect(await answersVersion(a.split(':')[0], Number(a.split(':')[1]))).toBe(false);
  });

  it('given bad usage, then it exits 2 with a reason', async () => {
    expect(await astaire('scale')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/N is missing: give the number of nodes/),
    });
    expect(await astaire('frob')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown subcommand "frob"/),
    });
    expect(await astaire('up', '--items', '3')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--items does not apply to local up/),
    });
  });
});
