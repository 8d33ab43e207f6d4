import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileLockStore } from '../../../local/file-stores';
import { LocalExecutions } from '../../../local/local-metrics';
import { ProcessLock, processRef } from '../../../local/process-lock';
import { tempDir } from '../../support/temp-dirs';

// The locks of local mode between real processes: several `astaire local` commands share one
// state directory (issue 11, case 2). Children load the compiled modules (npm run build).
jest.setTimeout(60_000);
const dist = resolve(__dirname, '..', '..', '..', 'dist', 'local');
let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => (dir = tempDir('astaire-locks-')));
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A node process running `script`; resolves `ready` on its first line of output. */
function child(script: string): { proc: ChildProcess; ready: Promise<string>; exited: Promise<string> } {
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  const ready = new Promise<string>((ok) =>
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) ok(out.trim());
    }),
  );
  const exited = new Promise<string>((ok) => proc.once('close', () => ok(out.trim())));
  return { proc, ready, exited };
}

const executionOf = (pid: number, start: string) =>
  `arn:aws:states:local:000000000000:execution:astaire-local:p${pid}-${start}-2c4b7e8e-0f7e-4d0e-9a53-5d3c1c2b9e11`;

describe('LocalExecutions across processes', () => {
  it('given an execution owned by another live process, then it is running until that process dies, and a reused pid does not count', async () => {
    const other = child('console.log("up"); setTimeout(() => {}, 60000)');
    await other.ready;
    const ref = processRef(other.proc.pid!)!;
    const executions = new LocalExecutions();

    expect(await executions.isRunning(executionOf(ref.pid, ref.start))).toBe(true);
    expect(await executions.isRunning(executionOf(ref.pid, `${Number(ref.start) + 1}`))).toBe(false);
    other.proc.kill('SIGKILL');
    await other.exited;
    expect(await executions.isRunning(executionOf(ref.pid, ref.start))).toBe(false);
  });

  it('given an execution of this process that has ended, then it is not running', async () => {
    const executions = new LocalExecutions();
    const { executionId } = executions.newExecution();
    executions.running.add(executionId);
    expect(await executions.isRunning(executionId)).toBe(true);
    executions.running.delete(executionId);
    expect(await executions.isRunning(executionId)).toBe(false);
  });
});

describe('FileLockStore.replaceStale across processes', () => {
  it('given 4 processes breaking the same dead lock at once, then exactly one wins and holds it', async () => {
    const stale = {
      owner: 'dead',
      acquiredAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T01:00:00.000Z',
    };
    await new FileLockStore(dir).create('c', stale);
    const at = Date.now() + 1500;
    const breakers = [1, 2, 3, 4].map((n) =>
      child(`
        const { FileLockStore } = require(${JSON.stringify(join(dist, 'file-stores.js'))});
        const store = new FileLockStore(${JSON.stringify(dir)});
        const fresh = { owner: 'breaker-${n}', acquiredAt: new Date().toISOString(), expiresAt: '2099-01-01T00:00:00.000Z' };
        const go = () => store.replaceStale('c', ${JSON.stringify(stale)}, fresh).then((won) => console.log(won ? 'won ${n}' : 'lost'));
        setTimeout(go, ${at} - Date.now());
      `),
    );
    const results = await Promise.all(breakers.map((b) => b.exited));
    const winners = results.filter((r) => r.startsWith('won'));
    expect(winners).toHaveLength(1);
    const holder = JSON.parse(readFileSync(join(dir, 'c.lock.json'), 'utf8')) as { owner: string };
    expect(holder.owner).toBe(`breaker-${winners[0]!.split(' ')[1]}`);
  });
});

describe('FileLockStore.create and release across processes', () => {
  it('given 4 processes creating the lock at once, then exactly one wins; a release by another owner keeps it', async () => {
    const at = Date.now() + 1500;
    const creators = [1, 2, 3, 4].map((n) =>
      child(`
        const { FileLockStore } = require(${JSON.stringify(join(dist, 'file-stores.js'))});
        const store = new FileLockStore(${JSON.stringify(dir)});
        const lock = { owner: 'creator-${n}', acquiredAt: new Date().toISOString(), expiresAt: '2099-01-01T00:00:00.000Z' };
        const go = () => store.create('c', lock).then((won) => console.log(won ? 'won ${n}' : 'lost'));
        setTimeout(go, ${at} - Date.now());
      `),
    );
    const winners = (await Promise.all(creators.map((c) => c.exited))).filter((r) => r.startsWith('won'));
    expect(winners).toHaveLength(1);
    const owner = `creator-${winners[0]!.split(' ')[1]}`;
    const store = new FileLockStore(dir);
    expect(await store.release('c', 'someone-else')).toBe(false);
    expect((await store.read('c'))?.owner).toBe(owner);
    expect(await store.release('c', owner)).toBe(true);
    expect(await store.read('c')).toBeUndefined();
    expect(await store.release('c', owner)).toBe(false);
  });
});

describe('ProcessLock (the session lock of astaire local)', () => {
  const holderScript = (path: string, holdMs: number) => `
    const { ProcessLock } = require(${JSON.stringify(join(dist, 'process-lock.js'))});
    const taken = new ProcessLock(${JSON.stringify(path)}).tryAcquire('astaire local scale 4');
    if (!taken.acquired) { console.log('busy'); process.exit(1); }
    console.log('held');
    setTimeout(() => taken.release(), ${holdMs});
  `;

  it('given a live holder in another process, then a second one waits for it, named, and gets the lock when it releases', async () => {
    const path = join(dir, 'session.lock');
    const first = child(holderScript(path, 1500));
    expect(await first.ready).toBe('held');

    const waitedFor: number[] = [];
    const release = await new ProcessLock(path).acquire('astaire local scale 2', (h) =>
      waitedFor.push(h.pid),
    );
    expect(waitedFor).toEqual([first.proc.pid]);
    expect(first.proc.exitCode ?? (await first.exited, first.proc.exitCode)).toBe(0);
    release();
  });

  it('given a holder that was killed, then the lock is broken at once', async () => {
    const path = join(dir, 'session.lock');
    const first = child(holderScript(path, 60_000));
    expect(await first.ready).toBe('held');
    const lock = new ProcessLock(path);
    expect(lock.tryAcquire('astaire local scale 2')).toMatchObject({
      acquired: false,
      holder: { pid: first.proc.pid },
    });

    first.proc.kill('SIGKILL');
    await first.exited;
    const taken = lock.tryAcquire('astaire local scale 2');
    expect(taken.acquired).toBe(true);
    if (taken.acquired) taken.release();
  });
});
