import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { answersVersion, isAlive, stopPid } from '../../local/memcached-process';
import { tempDir } from '../support/temp-dirs';

// Issue 16: a damaged state directory. A truncated session.json is named with what to do, and
// `local down` still stops every process the cluster started (from its process records), keeping
// the logs. Real memcached nodes and the real CLI (needs npm run build).
jest.setTimeout(120_000);
const run = promisify(execFile);
const cli = process.env.ASTAIRE_CLI_UNDER_TEST ?? resolve(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');
const stateDir = tempDir('astaire-local-state-');
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

async function astaire(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'local', ...args, '--state-dir', stateDir], {
      env,
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Saved {
  group: { port: number; instances: { pid: number; ip: string }[] };
  healerPid: number;
}
let saved: Saved | undefined;

afterAll(async () => {
  // Whatever the outcome, nothing this test started outlives it (by the pids it recorded).
  for (const i of saved?.group.instances ?? []) await stopPid(i.pid);
  if (saved && isAlive(saved.healerPid)) process.kill(saved.healerPid, 'SIGTERM');
});

describe('astaire local with a damaged state directory', () => {
  it('given a running cluster whose session.json is truncated, then status names the file and down still stops every node and the watcher, keeping the logs', async () => {
    expect((await astaire('up', '--nodes', '2')).code).toBe(0);
    const file = join(stateDir, 'session.json');
    const text = readFileSync(file, 'utf8');
    saved = JSON.parse(text) as Saved;
    writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));

    const status = await astaire('status');
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/session\.json is corrupt \(not valid JSON\); run astaire local down/);

    const down = await astaire('down');
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/stopped 2 nodes/);
    const nodes = saved.group.instances;
    expect(await Promise.all(nodes.map((i) => answersVersion(i.ip, saved!.group.port)))).toEqual(
      nodes.map(() => false),
    );
    for (let i = 0; i < 50 && isAlive(saved.healerPid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(saved.healerPid)).toBe(false);
    expect(existsSync(join(stateDir, 'workflow.log'))).toBe(true);
    expect(existsSync(file)).toBe(false);
  });
});
