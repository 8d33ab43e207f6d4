import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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

/** True when `pid` is an `astaire local watch` (a pid reused by another process is left alone). */
function isWatcher(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('local') && argv.includes('watch');
  } catch {
    return false;
  }
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

  static exists(stateDir: string): boolean {
    return existsSync(LocalSession.file(stateDir));
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
    if (!existsSync(file))
      throw new NoLocalClusterError(`no local cluster in ${stateDir}: start one with astaire local up`);
    return JSON.parse(readFileSync(file, 'utf8')) as SessionState;
  }

  private static async start(
    stateDir: string,
    state: SessionState,
    definition: Record<string, unknown>,
    onProgress?: (p: ResyncProgress) => void,
  ): Promise<LocalSession> {
    // The runtime reports group changes from the moment it exists; the session it saves into comes next.
    const holder: { session?: LocalSession } = {};
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

  /** Stops every node of the saved state and removes the state directory. */
  static async down(stateDir: string): Promise<number> {
    const state = LocalSession.read(stateDir);
    let stopped = 0;
    for (const instance of state.group.instances)
      if (instance.pid && (await stopPid(instance.pid))) stopped++;
    if (state.scalingPid && isAlive(state.scalingPid)) process.kill(state.scalingPid, 'SIGTERM');
    if (state.healerPid && isAlive(state.healerPid) && isWatcher(state.healerPid))
      process.kill(state.healerPid, 'SIGTERM');
    rmSync(stateDir, { recursive: true, force: true });
    return stopped;
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
