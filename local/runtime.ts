import './no-sdk-warning';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { format } from 'node:util';
import { join, resolve } from 'node:path';
import { FILE_SOURCE_POLL_INTERVAL_MS } from '../client/topology-source';
import { emptyTopology, ResyncProgress, ResyncReport, Topology } from '../core';
import { StateNames as S, WAIT_STATES } from '../cdk/state-names';
import { createCancelCommandsHandler } from '../lambdas/cancel-commands';
import { createCommitMigrationHandler } from '../lambdas/commit-migration';
import { createCompleteLifecycleHandler } from '../lambdas/complete-lifecycle';
import { createKeepAliveHandler } from '../lambdas/keep-alive';
import { createNormaliseHandler } from '../lambdas/normalise';
import { createPlanMigrationHandler } from '../lambdas/plan-migration';
import { createRecordFailureHandler } from '../lambdas/record-failure';
import { createReleaseLockHandler } from '../lambdas/release-lock';
import { createRestoreTopologyHandler } from '../lambdas/restore-topology';
import { createTakeLockHandler } from '../lambdas/take-lock';
import { createLocalResyncTask, type SendCommandInput } from './agent-runner';
import { type AslEvent, ExecutionFailedError, StateMachine, type TaskContext } from './asl';
import { createLocalClientsTask } from './clients-task';
import { FileLockStore, FileTopologyStore } from './file-stores';
import { LocalExecutions, LocalMetrics } from './local-metrics';
import { freePort } from './memcached-process';
import { GroupState, LocalScalingGroup } from './scaling-group';

export interface LocalRuntimeOptions {
  /** Where the topology and lock files live. */
  readonly stateDir: string;
  /** @default 'local' */
  readonly cluster?: string;
  /** @default 16384 */
  readonly vbuckets?: number;
  /** @default 2 */
  readonly replicas?: number;
  /** memcached -m per node. @default 256 */
  readonly memoryMb?: number;
  /** The ASL definition CDK synthesizes for the workflow. */
  readonly definition: Record<string, unknown>;
  /** How long the workflow's lock-retry and keep-alive Wait states last here. @default 200 */
  readonly waitMs?: number;
  /**
   * The WaitForClients, WaitBeforeCleanup and WaitBeforeRollbackCleanup states here: at least
   * twice the clients' topology poll interval, or a client could still write to the old members
   * only (or, after a commit or a rollback, still to the replicas that are cleaning up). @default 2000 (twice a file source's default
   * poll, FILE_SOURCE_POLL_INTERVAL_MS)
   */
  readonly clientPropagationMs?: number;
  readonly onProgress?: (progress: ResyncProgress) => void;
  /** Agent progress interval. @default 1000 */
  readonly progressIntervalMs?: number;
  /**
   * Where the handlers' log lines go (their CloudWatch Logs): console output is redirected to
   * this file until stop(), so it never mixes with the scenario's own output.
   * @default '<stateDir>/workflow.log'
   */
  readonly logFile?: string;
  /** Nodes outlive this process (`astaire local up`). @default false */
  readonly detached?: boolean;
  /** A group saved by an earlier process (`astaire local scale` after `up`). */
  readonly group?: GroupState;
  /** Zones a new group spreads its nodes over (a saved group keeps its own). @default none */
  readonly zones?: readonly string[];
  /** Called after every change of the group's membership or lifecycle states. */
  readonly onGroupChange?: (state: GroupState) => void;
  /**
   * Fault injection for tests: called when a node's resync agent has reported success, before its
   * task succeeds; a rejection fails the task as the agent's own failure would (SendTaskFailure).
   */
  readonly afterResync?: (node: string) => Promise<void>;
  /** How long AwaitClients waits for every live client to acknowledge a migration. @default 120000 */
  readonly awaitClientsTimeoutMs?: number;
}

export interface ExecutionOutcome {
  readonly executionId: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: unknown;
  readonly error?: string;
  /** The agents' resync reports (what moved). */
  readonly reports: ResyncReport[];
  /**
   * The agents' cleanup reports (items deleted): after the commit, the vbuckets each node lost; after a
   * rollback, the vbuckets the restored members that pulled do not hold.
   */
  readonly cleanups: ResyncReport[];
  readonly seconds: number;
  /** The top-level states in the order they ran, with how long each took (where the time went). */
  readonly states: readonly StateTiming[];
}

export interface StateTiming {
  readonly state: string;
  readonly seconds: number;
}

/** The rule, locally: wait before agents >= 2 x the clients' default poll of a topology file. */
export const LOCAL_CLIENT_PROPAGATION_MS = 2 * FILE_SOURCE_POLL_INTERVAL_MS;

const GROUP = 'astaire-local';
const LAUNCH_HOOK = 'astaire-launch';
const TERMINATE_HOOK = 'astaire-terminate';

/** The compiled agent: beside this file when running from dist/, or under dist/ when running from source (tests). */
export function agentScript(): string {
  const candidates = [
    resolve(__dirname, '..', 'agent', 'cli.js'),
    resolve(__dirname, '..', 'dist', 'agent', 'cli.js'),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found)
    throw new Error(`the agent is not built (looked for ${candidates.join(' and ')}): run npm run build`);
  return found;
}

/**
 * The AWS side on one machine: an Auto Scaling group of real memcached processes, Parameter
 * Store as files, CloudWatch as counters, and the synthesized state machine run in-process by
 * local/asl with every Task state bound to the Lambda handlers' own code (the SSM task runs the
 * real agent as a child process, which heartbeats with its progress).
 */
export class LocalRuntime {
  readonly cluster: string;
  readonly topology: FileTopologyStore;
  readonly locks: FileLockStore;
  readonly metrics = new LocalMetrics();
  readonly executions = new LocalExecutions();
  private readonly machine: StateMachine;
  private readonly reportsByExecution = new Map<string, ResyncReport[]>();
  private readonly restoreConsole: () => void;

  private constructor(
    private readonly options: LocalRuntimeOptions,
    readonly group: LocalScalingGroup,
  ) {
    this.cluster = options.cluster ?? 'local';
    this.topology = new FileTopologyStore(options.stateDir);
    this.locks = new FileLockStore(options.stateDir);
    this.machine = new StateMachine(options.definition);
    this.restoreConsole = redirectConsole(options.logFile ?? join(options.stateDir, 'workflow.log'));
  }

  static async create(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const port = options.group?.port ?? (await freePort('127.0.1.1'));
    const group = new LocalScalingGroup(
      {
        groupName: GROUP,
        launchHookName: LAUNCH_HOOK,
        terminateHookName: TERMINATE_HOOK,
        port,
        memoryMb: options.memoryMb,
        detached: options.detached,
        onChange: options.onGroupChange,
        zones: options.zones,
      },
      options.group,
    );
    return new LocalRuntime(options, group);
  }

  /** The file agents and clients read: the local `/astaire/<cluster>/topology`. */
  get topologyFile(): string {
    return this.topology.path(this.cluster);
  }

  async readTopology(): Promise<Topology> {
    return this.topology.read(this.cluster);
  }

  /**
   * Starts `nodes` instances in service and brings the topology to them through the workflow
   * (a manual `resync` run: nothing to move into an empty cluster).
   */
  async bootstrap(nodes: number): Promise<ExecutionOutcome> {
    await this.topology.write(
      emptyTopology(this.cluster, { vbuckets: this.options.vbuckets, replicas: this.options.replicas }),
    );
    await this.group.bootstrap(nodes);
    return this.execute({ cluster: this.cluster, action: 'resync' });
  }

  /** Runs one workflow execution to its end (it never throws for a failed execution). */
  async execute(input: unknown): Promise<ExecutionOutcome> {
    const { executionId, name } = this.executions.newExecution();
    const reports: ResyncReport[] = [];
    const cleanups: ResyncReport[] = [];
    const agents = new Set<ChildProcess>();
    this.reportsByExecution.set(executionId, reports);
    this.executions.running.add(executionId);
    const started = Date.now();
    const states: StateTiming[] = [];
    let entered = started;
    const onEvent = (e: AslEvent) => {
      if (e.path.length > 0) return;
      if (e.type === 'StateEntered') entered = Date.now();
      else if (e.type === 'StateExited' || e.type === 'StateFailed')
        states.push({ state: e.state, seconds: (Date.now() - entered) / 1000 });
    };
    try {
      const execution = this.machine.run(input, {
        onEvent,
        handlers: this.handlers(reports, cleanups, agents),
        waitMs: {
          ...Object.fromEntries(WAIT_STATES.map((w) => [w, this.options.waitMs ?? 200])),
          [S.WaitForClients]: this.options.clientPropagationMs ?? LOCAL_CLIENT_PROPAGATION_MS,
          [S.WaitBeforeCleanup]: this.options.clientPropagationMs ?? LOCAL_CLIENT_PROPAGATION_MS,
          [S.WaitBeforeRollbackCleanup]: this.options.clientPropagationMs ?? LOCAL_CLIENT_PROPAGATION_MS,
        },
        context: { Execution: { Id: executionId, Name: name } },
      });
      const output = await execution.result;
      return {
        executionId,
        status: 'SUCCEEDED',
        output,
        reports,
        cleanups,
        seconds: (Date.now() - started) / 1000,
        states,
      };
    } catch (error) {
      const why =
        error instanceof ExecutionFailedError ? `${error.error}: ${error.cause}` : (error as Error).message;
      return {
        executionId,
        status: 'FAILED',
        error: why,
        reports,
        cleanups,
        seconds: (Date.now() - started) / 1000,
        states,
      };
    } finally {
      // A failed execution leaves the agents of its other nodes running (one may wait on a node
      // that does not answer): they work for a migration that was rolled back, so stop them.
      for (const agent of agents) {
        console.warn(
          JSON.stringify({ message: 'stopping an agent of an ended execution', executionId, pid: agent.pid }),
        );
        agent.kill('SIGTERM');
      }
      this.executions.running.delete(executionId);
      this.reportsByExecution.delete(executionId);
    }
  }

  async stop(): Promise<void> {
    this.restoreConsole();
    await this.group.stop();
  }

  /** Every Task state of the workflow, bound to the same handler code the Lambda functions run. */
  private handlers(
    reports: ResyncReport[],
    cleanups: ResyncReport[],
    agents: Set<ChildProcess>,
  ): Record<string, (input: never, task: TaskContext) => Promise<unknown>> {
    const clock = { now: () => new Date() };
    const topology = this.topology;
    const locks = this.locks;
    const lifecycle = this.group;
    const keepAlive = createKeepAliveHandler({ topology, lifecycle });
    const completeLifecycle = createCompleteLifecycleHandler({ lifecycle, metrics: this.metrics, topology });
    const recordFailure = createRecordFailureHandler({ metrics: this.metrics, cluster: this.cluster });
    const agent = createLocalResyncTask({
      agentScript: agentScript(),
      topologyFile: (cluster) => this.topology.path(cluster),
      addressOf: (node) => this.group.address(node),
      onProgress: this.options.onProgress,
      progressIntervalMs: this.options.progressIntervalMs,
      running: agents,
    });
    const clients = createLocalClientsTask({
      readTopology: (cluster) => this.topology.read(cluster),
      timeoutMs: this.options.awaitClientsTimeoutMs,
    });
    return {
      [S.AwaitClients]: clients,
      [S.PublishCommitted]: clients,
      [S.PublishRestored]: clients,
      [S.Normalise]: createNormaliseHandler({ cluster: this.cluster, autoScalingGroupName: GROUP }),
      [S.TakeLock]: createTakeLockHandler({
        locks,
        executions: this.executions,
        clock,
        lockTtlSeconds: 3600,
      }),
      [S.PlanMigration]: createPlanMigrationHandler({
        topology,
        group: this.group,
        addresses: this.group,
        clock,
        autoScalingGroupName: GROUP,
        memcachedPort: this.group.port,
      }),
      [S.ReleaseUnchangedLock]: createReleaseLockHandler({ locks }),
      [S.CommitMigration]: createCommitMigrationHandler({ topology }),
      [S.ReleaseLock]: createReleaseLockHandler({ locks }),
      [S.RecordCleanupFailure]: recordFailure,
      [S.RecordHeartbeat]: keepAlive,
      [S.RecordHeartbeatWhileWaiting]: keepAlive,
      [S.ContinueLifecycle]: completeLifecycle,
      [S.AbandonLaunch]: completeLifecycle,
      // Locally, the execution's agents are its child processes: cancelling its commands stops them.
      [S.CancelAgentCommands]: createCancelCommandsHandler({
        commands: {
          cancelRunning: async () => {
            const pids = [...agents].map((a) => String(a.pid));
            for (const a of agents) a.kill('SIGTERM');
            return pids;
          },
        },
      }),
      [S.RestoreTopology]: createRestoreTopologyHandler({ topology }),
      [S.RecordFailure]: recordFailure,
      [S.RecordRollbackCleanupFailure]: recordFailure,
      [S.ReleaseLockAfterRollback]: createReleaseLockHandler({ locks }),
      [S.ResyncNode]: async (input: SendCommandInput, task: TaskContext) => {
        const report = await agent(input, task);
        reports.push(report);
        await this.options.afterResync?.(input.InstanceIds[0]!);
        return report;
      },
      [S.PushNode]: async (input: SendCommandInput, task: TaskContext) => agent(input, task),
      [S.CleanupNode]: async (input: SendCommandInput, task: TaskContext) => {
        const report = await agent(input, task);
        cleanups.push(report);
        return report;
      },
      [S.RollbackCleanupNode]: async (input: SendCommandInput, task: TaskContext) => {
        const report = await agent(input, task);
        cleanups.push(report);
        return report;
      },
    } as Record<string, (input: never, task: TaskContext) => Promise<unknown>>;
  }
}

/**
 * Sends console output to `file` until the returned function restores it. A line the file cannot take (its
 * directory removed under a late handler, a full disk) goes to the console it replaced: a log line never
 * crashes the process.
 */
export function redirectConsole(file: string): () => void {
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  for (const level of ['log', 'info', 'warn', 'error'] as const)
    console[level] = (...args: unknown[]) => {
      const line = `${new Date().toISOString()} ${level} ${format(...args)}\n`;
      try {
        appendFileSync(file, line);
      } catch {
        saved[level](line.trimEnd());
      }
    };
  return () => Object.assign(console, saved);
}
