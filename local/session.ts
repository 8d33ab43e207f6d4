import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ResyncProgress } from '../core';
import { writeAtomically } from './file-stores';
import { answersVersion, isAlive, stopPid } from './memcached-process';
import { ProcessLock } from './process-lock';
// Type-only: the runtime loads the workflow's handlers, which construct AWS SDK clients (a
// NodeVersionSupportWarning on Node 20); `astaire local status`/`down` need none of it.
import type { ExecutionOutcome, LocalRuntime } from './runtime';
import type { GroupState } from './scaling-group';

/** What `astaire local` keeps in its state directory between commands. */
export interface SessionState {
  readonly cluster: string;
  group: GroupState;
  /** Items written by `astaire local load` (what `verify` checks). */
  items: number;
  /** The most recent workflow executions, newest last. */
  executions: {
    id: string;
    trigger: string;
    status: string;
    error?: string;
    seconds: number;
    finishedAt: string;
  }[];
  /** The `astaire local scale` process running executions, if any. */
  scalingPid?: number;
  /** The background heal watcher (`astaire local watch`) that `up` started. */
  healerPid?: number;
}

export class NoLocalClusterError extends Error {
  override readonly name = 'NoLocalClusterError';
}

/** The state directory or its session file cannot be used as it is (a file, unreadable, corrupt). */
export class LocalStateError extends Error {
  override readonly name = 'LocalStateError';
}

/** The logs a cluster leaves: `down` keeps them in the state directory. */
export const LOG_FILES = ['workflow.log', 'heal.log'] as const;

/** One process a session started, appended to `<state-dir>/processes.jsonl` when it starts. */
export interface ProcessRecord {
  readonly pid: number;
  readonly kind: 'memcached' | 'watcher' | 'command';
  /** memcached: the address it listens on (`-l`), and the group's port (`-p`). */
  readonly ip?: string;
  readonly port?: number;
}

const ERRNO: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  ELOOP: 'too many symbolic links',
};
const words = (error: unknown) =>
  ERRNO[(error as NodeJS.ErrnoException).code ?? ''] ??
  (error as NodeJS.ErrnoException).code ??
  String(error);

/** The command line of `pid` as its arguments ([] when it is gone or not ours to read). */
function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** True when `pid` runs a memcached listening on ip:port (a reused pid is left alone). */
function isOurMemcached(pid: number, port: number | undefined, ip?: string): boolean {
  const argv = commandLine(pid);
  if (!argv[0]?.endsWith('memcached')) return false;
  const arg = (flag: string) => argv[argv.indexOf(flag) + 1];
  return arg('-p') === String(port) && (ip === undefined || arg('-l') === ip);
}

/** True when `pid` is an `astaire local watch` (a pid reused by another process is left alone). */
function isWatcher(pid: number): boolean {
  const argv = commandLine(pid);
  return argv.includes('local') && argv.includes('watch');
}

/** True when `pid` is an `astaire local` command (scale, resync, ...). */
function isLocalCommand(pid: number): boolean {
  const argv = commandLine(pid);
  return argv.some((a) => a.endsWith('astaire.js') || a.endsWith('astaire')) && argv.includes('local');
}

/** Agents (resync, cleanup, heal) of this state directory: their --topology file lives in it. */
function agentsOf(stateDir: string): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    const argv = commandLine(Number(entry));
    const topology = argv[argv.indexOf('--topology') + 1];
    if (
      argv.some((a) => a.endsWith('cli.js')) &&
      argv.includes('--topology') &&
      topology?.startsWith(`${stateDir}/`)
    )
      pids.push(Number(entry));
  }
  return pids;
}

/**
 * A local cluster that outlives single commands: nodes are detached memcached processes and
 * the group, the topology and the lock live as files in the state directory.
 */
export class LocalSession {
  private constructor(
    readonly stateDir: string,
    readonly state: SessionState,
    readonly runtime: LocalRuntime,
  ) {}

  private static file(stateDir: string): string {
    return join(stateDir, 'session.json');
  }

  private static processesFile(stateDir: string): string {
    return join(stateDir, 'processes.jsonl');
  }

  /**
   * Whether a cluster's state is there. A state directory that is a file or cannot be read is
   * not "no cluster": it throws a LocalStateError saying what to do.
   */
  static exists(stateDir: string): boolean {
    if (!LocalSession.checkDir(stateDir)) return false;
    try {
      statSync(LocalSession.file(stateDir));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new LocalStateError(
        `cannot read ${LocalSession.file(stateDir)}: ${words(error)}; fix its permissions, or pass --state-dir DIR`,
      );
    }
  }

  /** True when the state directory exists; throws a LocalStateError when it is a file or not usable. */
  static checkDir(stateDir: string): boolean {
    let stat;
    try {
      stat = statSync(stateDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new LocalStateError(
        `cannot use the state directory ${stateDir}: ${words(error)}; fix its permissions, or pass --state-dir DIR`,
      );
    }
    if (!stat.isDirectory())
      throw new LocalStateError(
        `the state directory ${stateDir} is a file, not a directory; remove it or pass --state-dir DIR`,
      );
    try {
      readdirSync(stateDir);
    } catch (error) {
      throw new LocalStateError(
        `cannot read the state directory ${stateDir}: ${words(error)}; fix its permissions, or pass --state-dir DIR`,
      );
    }
    return true;
  }

  /** Notes a process this session started, so that `down` finds it even when session.json is lost. */
  static recordProcess(stateDir: string, record: ProcessRecord): void {
    appendFileSync(LocalSession.processesFile(stateDir), `${JSON.stringify(record)}\n`);
  }

  /** Every process record that parses (a line cut short by a crash is skipped). */
  private static processRecords(stateDir: string): ProcessRecord[] {
    let text: string;
    try {
      text = readFileSync(LocalSession.processesFile(stateDir), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').flatMap((line) => {
      try {
        const r = JSON.parse(line) as ProcessRecord;
        return Number.isInteger(r.pid) && r.pid > 1 ? [r] : [];
      } catch {
        return [];
      }
    });
  }

  /** Starts `nodes` detached memcached nodes and commits the first topology through the workflow. */
  static async up(
    stateDir: string,
    nodes: number,
    definition: Record<string, unknown>,
    zones: readonly string[] = [],
  ): Promise<{ session: LocalSession; outcome: ExecutionOutcome }> {
    const state: SessionState = {
      cluster: 'local',
      group: { port: 0, sequence: 0, ...(zones.length ? { zones } : {}), instances: [] },
      items: 0,
      executions: [],
    };
    const session = await LocalSession.start(stateDir, state, definition);
    const outcome = await session.runtime.bootstrap(nodes);
    session.record('up', outcome);
    return { session, outcome };
  }

  static async open(
    stateDir: string,
    definition: Record<string, unknown>,
    onProgress?: (p: ResyncProgress) => void,
  ): Promise<LocalSession> {
    return LocalSession.start(stateDir, LocalSession.read(stateDir), definition, onProgress);
  }

  /** The saved state, without starting anything (for status and wait-sync). */
  static read(stateDir: string): SessionState {
    const file = LocalSession.file(stateDir);
    if (!LocalSession.exists(stateDir))
      throw new NoLocalClusterError(`no local cluster in ${stateDir}; start one with astaire local up`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new LocalStateError(
        `cannot read ${file}: ${words(error)}; fix its permissions, or pass --state-dir DIR`,
      );
    }
    const corrupt = (why: string) =>
      new LocalStateError(
        `${file} is corrupt (${why}); run astaire local down to stop the processes it started, then astaire local up`,
      );
    let state: SessionState;
    try {
      state = JSON.parse(text) as SessionState;
    } catch {
      throw corrupt(text.trim() ? 'not valid JSON' : 'empty');
    }
    const s = state as unknown as Record<string, unknown>;
    const group = s?.group as Record<string, unknown> | undefined;
    if (
      typeof s !== 'object' ||
      s === null ||
      typeof s.cluster !== 'string' ||
      typeof s.items !== 'number' ||
      !Array.isArray(s.executions) ||
      typeof group !== 'object' ||
      group === null ||
      !Array.isArray(group.instances) ||
      typeof group.port !== 'number'
    )
      throw corrupt('fields are missing');
    return state;
  }

  private static async start(
    stateDir: string,
    state: SessionState,
    definition: Record<string, unknown>,
    onProgress?: (p: ResyncProgress) => void,
  ): Promise<LocalSession> {
    // The runtime reports group changes from the moment it exists; the session it saves into comes next.
    const holder: { session?: LocalSession } = {};
    const recorded = new Set(state.group.instances.map((i) => i.pid));
    const runtime = await (
      await import('./runtime')
    ).LocalRuntime.create({
      stateDir,
      cluster: state.cluster,
      definition,
      detached: true,
      memoryMb: 512,
      group: state.group.instances.length ? state.group : undefined,
      zones: state.group.zones,
      onProgress,
      onGroupChange: (group) => {
        for (const i of group.instances)
          if (i.pid && !recorded.has(i.pid)) {
            recorded.add(i.pid);
            LocalSession.recordProcess(stateDir, {
              pid: i.pid,
              kind: 'memcached',
              ip: i.ip,
              port: group.port,
            });
          }
        state.group = group;
        holder.session?.save();
      },
    });
    const session = new LocalSession(stateDir, state, runtime);
    holder.session = session;
    state.group = runtime.group.snapshot();
    session.save();
    return session;
  }

  record(trigger: string, outcome: ExecutionOutcome): void {
    this.state.executions.push({
      id: outcome.executionId,
      trigger,
      status: outcome.status,
      ...(outcome.error ? { error: outcome.error } : {}),
      seconds: outcome.seconds,
      finishedAt: new Date().toISOString(),
    });
    this.state.executions = this.state.executions.slice(-20);
    this.save();
  }

  /**
   * Only the process holding the session lock (sessionLock) saves the group and the executions;
   * `load` may have raised `items` meanwhile without it, so the larger count is kept.
   */
  save(): void {
    const file = LocalSession.file(this.stateDir);
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<SessionState>;
      if (typeof saved.items === 'number') this.state.items = Math.max(this.state.items, saved.items);
    } catch {
      // first save, or a state directory being removed
    }
    writeAtomically(file, JSON.stringify(this.state, null, 2));
  }

  /**
   * The lock that the commands changing a cluster (up, scale, resync, redrive) hold from before
   * they read the session until after they saved it: a second one waits, then reads what the
   * first left.
   */
  static lock(stateDir: string): ProcessLock {
    mkdirSync(stateDir, { recursive: true });
    return new ProcessLock(join(stateDir, 'session.lock'));
  }

  /**
   * Runs every lifecycle action left waiting (an interrupted run, a failed execution) through the
   * workflow again, one at a time, as the console's manual input: each completes or is abandoned.
   */
  async redrive(
    onOutcome: (action: { action: string; instanceId: string }, outcome: ExecutionOutcome) => void,
    only?: string,
  ): Promise<ExecutionOutcome[]> {
    const outcomes: ExecutionOutcome[] = [];
    for (const pending of this.runtime.group.pendingActions()) {
      if (only !== undefined && pending.instanceId !== only) continue;
      const outcome = await this.runtime.execute({ cluster: this.state.cluster, ...pending });
      this.record(`redrive ${pending.action} ${pending.instanceId}`, outcome);
      onOutcome(pending, outcome);
      outcomes.push(outcome);
    }
    return outcomes;
  }

  /** Changes the saved state in place (for commands that start nothing, such as load). */
  static update(stateDir: string, change: (state: SessionState) => void): void {
    const state = LocalSession.read(stateDir);
    change(state);
    writeAtomically(LocalSession.file(stateDir), JSON.stringify(state, null, 2));
  }

  /**
   * Stops every process the cluster started (the scaling command, agents, the heal watcher, the
   * memcached nodes), from session.json when it reads and from the process records whatever else is
   * broken, and removes the state directory but its logs.
   */
  static async down(stateDir: string): Promise<{ stopped: number; problem?: string; logs: string[] }> {
    if (!LocalSession.checkDir(stateDir))
      throw new NoLocalClusterError(`no local cluster in ${stateDir}; start one with astaire local up`);
    let state: SessionState | undefined;
    let problem: string | undefined;
    try {
      state = LocalSession.read(stateDir);
    } catch (error) {
      problem = (error as Error).message;
    }
    const records = LocalSession.processRecords(stateDir);
    if (!state && records.length === 0 && !LocalSession.exists(stateDir))
      throw new NoLocalClusterError(`no local cluster in ${stateDir}; start one with astaire local up`);
    const port = state?.group.port ?? records.find((r) => r.port)?.port;
    const commands = new Set(records.filter((r) => r.kind === 'command').map((r) => r.pid));
    if (state?.scalingPid) commands.add(state.scalingPid);
    for (const pid of commands)
      if (pid !== process.pid && isAlive(pid) && isLocalCommand(pid)) process.kill(pid, 'SIGTERM');
    for (const pid of agentsOf(stateDir)) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
    const watchers = new Set(records.filter((r) => r.kind === 'watcher').map((r) => r.pid));
    if (state?.healerPid) watchers.add(state.healerPid);
    for (const pid of watchers) if (isAlive(pid) && isWatcher(pid)) process.kill(pid, 'SIGTERM');
    const nodes = new Map<number, string | undefined>();
    for (const r of records) if (r.kind === 'memcached') nodes.set(r.pid, r.ip);
    for (const i of state?.group.instances ?? []) if (i.pid) nodes.set(i.pid, i.ip);
    const stops = await Promise.all(
      [...nodes].map(async ([pid, ip]) => isOurMemcached(pid, port, ip) && (await stopPid(pid))),
    );
    const entries = readdirSync(stateDir);
    for (const entry of entries)
      if (!(LOG_FILES as readonly string[]).includes(entry))
        rmSync(join(stateDir, entry), { recursive: true, force: true });
    const logs = LOG_FILES.filter((f) => entries.includes(f)).map((f) => join(stateDir, f));
    if (logs.length === 0) rmSync(stateDir, { recursive: true, force: true });
    return { stopped: stops.filter(Boolean).length, problem, logs };
  }

  /** Each node of the saved state and whether its memcached answers. */
  static async probe(
    state: SessionState,
  ): Promise<{ id: string; address: string; lifecycleState: string; up: boolean }[]> {
    return Promise.all(
      state.group.instances.map(async (i) => ({
        id: i.id,
        address: `${i.ip}:${state.group.port}`,
        lifecycleState: i.lifecycleState,
        up: await answersVersion(i.ip, state.group.port),
      })),
    );
  }
}
