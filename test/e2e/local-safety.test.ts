import { ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../support/temp-dirs';

// Local mode under a hostile operator (issue 11, cases 2, 3 and 5): several `astaire local`
// processes, a CLI killed mid-migration, a failed scale-in. Each test keeps its own state directory
// (needs `npm run build`, which npm test runs first).
jest.setTimeout(240_000);
const run = promisify(execFile);
const cli = resolve(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const stateDirs: string[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function astaire(stateDir: string, ...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'local', ...args, '--state-dir', stateDir], {
      env,
      timeout: 150_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A command left running in the background, as a second shell would. */
function background(stateDir: string, ...args: string[]): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [cli, 'local', ...args, '--state-dir', stateDir], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Result>((ok) =>
    child.once('close', (code, signal) => ok({ code: code ?? (signal ? 128 : 1), stdout, stderr })),
  );
  return { child, done };
}

/** A fresh state directory; the definition an earlier test's `up` synthesized is reused (one CDK synth per file). */
function newStateDir(): string {
  const dir = tempDir('astaire-local-safety-');
  const synthesized = stateDirs.map((d) => join(d, 'definition.asl.json')).find((f) => existsSync(f));
  if (synthesized) copyFileSync(synthesized, join(dir, 'definition.asl.json'));
  stateDirs.push(dir);
  return dir;
}

function topologyOf(stateDir: string): { epoch: number; servers: unknown[]; newServers?: unknown[] } {
  return JSON.parse(readFileSync(join(stateDir, 'local.topology.json'), 'utf8'));
}

/** Polls (bounded) until a migration is recorded in the topology. */
async function migrationStarted(stateDir: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if (topologyOf(stateDir).newServers) return;
    } catch {
      // not written yet or being renamed
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no migration started within 60 s');
}

interface Node {
  id: string;
  address: string;
  lifecycleState: string;
  up: boolean;
}

/** The cluster as an operator must find it after any sequence of commands: nothing stuck, nothing lost. */
async function expectHealthy(stateDir: string, servers: number, items: number): Promise<void> {
  const status = JSON.parse((await astaire(stateDir, 'status', '--json')).stdout) as {
    topology: { servers: { id: string; address: string }[]; newServers?: unknown };
    nodes: Node[];
  };
  const up = new Set(status.nodes.filter((n) => n.up).map((n) => `${n.id}@${n.address}`));
  expect({
    servers: status.topology.servers.length,
    migrating: !!status.topology.newServers,
    serversNotUp: status.topology.servers.filter((s) => !up.has(`${s.id}@${s.address}`)).map((s) => s.id),
    notInService: status.nodes.filter((n) => n.lifecycleState !== 'InService').map((n) => n.lifecycleState),
  }).toEqual({ servers, migrating: false, serversNotUp: [], notInService: [] });
  expect(status.nodes).toHaveLength(servers);
  const verified = await astaire(stateDir, 'verify');
  expect(verified.stdout).toMatch(
    new RegExp(`${items.toLocaleString('en')} items checked: 0 missing, 0 wrong value, 0 wrong flags`),
  );
  expect(verified.code).toBe(0);
}

afterAll(async () => {
  for (const dir of stateDirs) if (existsSync(join(dir, 'session.json'))) await astaire(dir, 'down');
});

describe('astaire local across several processes', () => {
  it('given local scale 4 migrating, when local scale 2 runs in a second process, then it waits for the first and the cluster ends at 2 nodes with nothing lost', async () => {
    const dir = newStateDir();
    expect((await astaire(dir, 'up', '--nodes', '3')).code).toBe(0);
    expect((await astaire(dir, 'load', '--items', '10000')).code).toBe(0);

    const first = background(dir, 'scale', '4');
    await migrationStarted(dir);
    const second = await astaire(dir, 'scale', '2');
    const firstResult = await first.done;

    expect(second.stdout + second.stderr).toMatch(/waiting for .*pid \d+/);
    expect({ first: firstResult.code, second: second.code }).toEqual({ first: 0, second: 0 });
    await expectHealthy(dir, 2, 10000);
  });

  it('given local scale killed mid-migration, when local scale runs again, then it completes the pending launch instead of launching another node', async () => {
    const dir = newStateDir();
    expect((await astaire(dir, 'up', '--nodes', '3')).code).toBe(0);
    expect((await astaire(dir, 'load', '--items', '10000')).code).toBe(0);

    const first = background(dir, 'scale', '4');
    await migrationStarted(dir);
    first.child.kill('SIGKILL');
    await first.done;
    const waited = await astaire(dir, 'wait-sync', '--timeout', '5');
    expect(waited.stderr).toMatch(/interrupted; run astaire local scale again/);

    const rerun = await astaire(dir, 'scale', '4');
    expect(rerun.stdout).toMatch(/re-driving/);
    expect(rerun.code).toBe(0);
    await expectHealthy(dir, 4, 10000);
  });

  it('given a scale-in that failed (a node stopped answering), then scale returns FAILED instead of hanging; when redrive runs, the leaving node leaves and nothing is lost; resync then changes nothing', async () => {
    const dir = newStateDir();
    expect((await astaire(dir, 'up', '--nodes', '3')).code).toBe(0);
    expect((await astaire(dir, 'load', '--items', '5000')).code).toBe(0);
    const session = JSON.parse(readFileSync(join(dir, 'session.json'), 'utf8')) as {
      group: { instances: { id: string; pid: number }[] };
    };
    // scale 2 terminates the last node; the first one receives vbuckets from it and is a source of
    // the second's pulls: both agents wait on it while it is frozen.
    const frozen = session.group.instances[0]!;
    const leaving = session.group.instances[2]!;
    process.kill(frozen.pid, 'SIGSTOP');
    let failed: Result;
    try {
      failed = await astaire(dir, 'scale', '2');
    } finally {
      process.kill(frozen.pid, 'SIGCONT');
    }
    expect(failed.stdout).toMatch(/FAILED/);
    expect(failed.code).toBe(1);
    const stuck = JSON.parse((await astaire(dir, 'status', '--json')).stdout) as { nodes: Node[] };
    expect(stuck.nodes.find((n) => n.id === leaving.id)?.lifecycleState).toBe('Terminating:Wait');
    expect((await astaire(dir, 'status')).stdout).toMatch(
      `lifecycle actions left waiting: terminate ${leaving.id} (astaire local redrive re-drives them)`,
    );
    expect(await astaire(dir, 'wait-sync', '--timeout', '5')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /left lifecycle actions waiting \(terminate i-0+3\); see .*workflow\.log, fix the cause, then run astaire local redrive/,
      ),
    });

    const help = await run(process.execPath, [cli, 'local', '--help'], { env });
    expect(help.stdout).toMatch(/astaire local redrive \[INSTANCE-ID\]/);
    expect(help.stdout).toMatch(/astaire local resync/);
    const redriven = await astaire(dir, 'redrive', leaving.id);
    expect(redriven.stdout).toMatch(new RegExp(`${leaving.id}: SUCCEEDED`));
    expect(redriven.code).toBe(0);
    await expectHealthy(dir, 2, 5000);

    const epoch = topologyOf(dir).epoch;
    const resynced = await astaire(dir, 'resync');
    expect(resynced.stdout).toMatch(/resync: SUCCEEDED/);
    expect(resynced.code).toBe(0);
    expect(topologyOf(dir).epoch).toBe(epoch);
    expect((await astaire(dir, 'redrive')).stdout).toMatch(/no lifecycle action is pending/);
    expect(await astaire(dir, 'redrive', frozen.id)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/instance i-0+1 has no lifecycle action waiting \(it is InService\)/),
    });
  });
});
