import { parseResyncMessage, type ResyncReport, type Topology } from '../../../core';
import { createCancelCommandsHandler } from '../../../lambdas/cancel-commands';
import { createCommitMigrationHandler } from '../../../lambdas/commit-migration';
import { createCompleteLifecycleHandler } from '../../../lambdas/complete-lifecycle';
import { createKeepAliveHandler } from '../../../lambdas/keep-alive';
import { createNormaliseHandler } from '../../../lambdas/normalise';
import { createPlanMigrationHandler } from '../../../lambdas/plan-migration';
import { createRecordFailureHandler } from '../../../lambdas/record-failure';
import { createReleaseLockHandler } from '../../../lambdas/release-lock';
import { createRestoreTopologyHandler } from '../../../lambdas/restore-topology';
import { createTakeLockHandler } from '../../../lambdas/take-lock';
import { TopologyNotFoundError } from '../../../lambdas/errors';
import type { GroupMember, LifecycleActionRef, LockRecord } from '../../../lambdas/ports';
import { StateNames as S } from '../../../cdk/state-names';

export const CLUSTER = 'local';
export const GROUP = 'astaire-local';
export const HOOK_LAUNCH = 'astaire-launch';
export const HOOK_TERMINATE = 'astaire-terminate';

/** What the resolved Parameters of the ResyncNode (ssm:sendCommand) task look like. */
export interface SendCommandRequest {
  DocumentName: string;
  InstanceIds: string[];
  Comment: string;
  TimeoutSeconds: number;
  CloudWatchOutputConfig?: { CloudWatchLogGroupName: string; CloudWatchOutputEnabled: boolean };
  Parameters: { taskToken: string[]; cluster: string[]; node: string[]; epoch: string[]; mode: string[] };
}

/**
 * An in-memory AWS: Parameter Store (topology), DynamoDB (lock), the group's members and their pending
 * lifecycle actions, CloudWatch counts, and agents. `log` records, in order, what a user
 * would observe: topology writes, resyncs, lifecycle completions.
 */
export class FakeWorld {
  topology: Topology | undefined;
  lock: LockRecord | undefined;
  breakMarkers = new Set<string>();
  members: { -readonly [K in keyof GroupMember]: GroupMember[K] }[] = [];
  /** instanceId → pending lifecycle action (hook name) */
  pendingActions = new Map<string, string>();
  completed: { instanceId: string; result: string }[] = [];
  heartbeats: string[] = [];
  metrics: string[] = [];
  running = new Set<string>();
  log: string[] = [];
  /** Data each node holds, as the epochs it was resynced for. */
  resynced = new Map<string, number[]>();
  sendCommands: SendCommandRequest[] = [];
  /** The AwaitClients / PublishCommitted / PublishRestored commands, in order. */
  clientCommands: SendCommandRequest[] = [];
  /** What AwaitClients does (the live clients' answer); succeeds by default. */
  awaitClients: (req: SendCommandRequest) => Promise<unknown> = async () => ({ clients: 0 });
  /** Overridable agent behaviour, per call. */
  agent: (req: SendCommandRequest) => Promise<ResyncReport> = (req) => this.succeedingAgent(req);
  /** Overridable push agent behaviour, per call (mode push): it moves nothing here. */
  pushAgent: (req: SendCommandRequest) => Promise<unknown> = async (req) => ({
    status: 'succeeded',
    node: req.InstanceIds[0],
  });
  /** Overridable cleanup agent behaviour, per call (mode cleanup). */
  cleanupAgent: (req: SendCommandRequest) => Promise<ResyncReport> = (req) => this.succeedingCleanup(req);
  now = new Date('2025-01-01T00:00:00Z');
  /** When set, CompleteLifecycleAction fails with it (Auto Scaling unavailable). */
  completeError: Error | undefined;
  /** Errors the lock store throws, one per call to create, in order (DynamoDB unavailable, AccessDenied). */
  lockErrors: Error[] = [];
  /** When set, every RecordLifecycleActionHeartbeat made after the commit fails with it. */
  heartbeatAfterCommitError: Error | undefined;
  /** Errors RecordLifecycleActionHeartbeat throws, one per call, in order; `onHeartbeatError` runs after each. */
  heartbeatErrors: Error[] = [];
  onHeartbeatError: (() => void) | undefined;
  /** What the failure path asked SSM to cancel: the Comments and the time sent after. */
  cancelRequests: { comments: readonly string[]; since: string }[] = [];

  constructor(servers: string[]) {
    this.topology = {
      cluster: CLUSTER,
      epoch: 1,
      vbuckets: 64,
      replicas: 2,
      servers: servers.map((id) => ({ id, address: ipOf(id) + ':11211' })),
    };
    this.members = servers.map((id) => ({ instanceId: id, lifecycleState: 'InService' }));
  }

  launch(instanceId: string): void {
    this.members.push({ instanceId, lifecycleState: 'Pending:Wait' });
    this.pendingActions.set(instanceId, HOOK_LAUNCH);
  }

  terminate(instanceId: string): void {
    this.members.find((m) => m.instanceId === instanceId)!.lifecycleState = 'Terminating:Wait';
    this.pendingActions.set(instanceId, HOOK_TERMINATE);
  }

  async succeedingAgent(req: SendCommandRequest): Promise<ResyncReport> {
    const node = req.Parameters.node[0]!;
    const epoch = Number(req.Parameters.epoch[0]);
    const t = this.topology!;
    if (t.epoch !== epoch || !t.newServers?.some((s) => s.id === node))
      throw Object.assign(new Error(`agent ${node}: topology moved on`), { name: 'ResyncFailed' });
    await new Promise((r) => setTimeout(r, 20));
    this.resynced.set(node, [...(this.resynced.get(node) ?? []), epoch]);
    this.log.push(`resynced ${node}@${epoch}`);
    return parseResyncMessage({
      type: 'result',
      status: 'succeeded',
      cluster: CLUSTER,
      node,
      epoch,
      vbuckets: 1,
      vbucketsDone: 1,
      items: 10,
      bytes: 100,
      seconds: 1,
      bytesPerSec: 100,
    }) as ResyncReport;
  }

  async succeedingCleanup(req: SendCommandRequest): Promise<ResyncReport> {
    const node = req.Parameters.node[0]!;
    const epoch = Number(req.Parameters.epoch[0]);
    const t = this.topology!;
    if (t.epoch !== epoch || t.newServers || !t.servers.some((s) => s.id === node))
      throw Object.assign(new Error(`agent ${node}: not a member of the committed topology`), {
        name: 'CleanupFailed',
      });
    this.log.push(`cleaned ${node}@${epoch}${this.lock ? ' locked' : ''}`);
    return parseResyncMessage({
      type: 'result',
      status: 'succeeded',
      cluster: CLUSTER,
      node,
      epoch,
      vbuckets: 1,
      vbucketsDone: 1,
      items: 5,
      bytes: 0,
      seconds: 1,
      bytesPerSec: 0,
    }) as ResyncReport;
  }

  /** Handlers by Task state name, each the real handler factory over this world's fake ports. */
  handlers(): Record<string, (input: never) => Promise<unknown>> {
    const topology = {
      read: async (cluster: string) => {
        if (!this.topology || cluster !== CLUSTER)
          throw new TopologyNotFoundError(`/astaire/${cluster}/topology`);
        return this.topology;
      },
      write: async (t: Topology) => {
        this.topology = t;
        this.log.push(
          `topology@${t.epoch} servers=${t.servers.map((s) => s.id).join(',')}${t.newServers ? ` new=${t.newServers.map((s) => s.id).join(',')}` : ''}${t.migration?.gone ? ` gone=${t.migration.gone.join(',')}` : ''}`,
        );
      },
    };
    const locks = {
      create: async (_c: string, lock: LockRecord) => {
        const error = this.lockErrors.shift();
        if (error) throw error;
        return this.lock ? false : ((this.lock = lock), true);
      },
      read: async () => this.lock,
      replaceStale: async (_c: string, stale: LockRecord, fresh: LockRecord) => {
        const key = JSON.stringify(stale);
        if (this.breakMarkers.has(key)) return false;
        this.breakMarkers.add(key);
        this.lock = fresh;
        return true;
      },
      release: async (_c: string, owner: string) =>
        this.lock?.owner === owner ? ((this.lock = undefined), true) : false,
    };
    const lifecycle = {
      complete: async (a: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON') => {
        if (this.completeError) throw this.completeError;
        if (!this.pendingActions.has(a.instanceId)) return 'gone' as const;
        this.pendingActions.delete(a.instanceId);
        this.completed.push({ instanceId: a.instanceId, result });
        this.log.push(`${result} ${a.instanceId}`);
        const m = this.members.find((x) => x.instanceId === a.instanceId);
        if (m)
          m.lifecycleState =
            m.lifecycleState.startsWith('Terminating') || result === 'ABANDON' ? 'Terminated' : 'InService';
        return 'done' as const;
      },
      heartbeat: async (a: LifecycleActionRef) => {
        const error = this.heartbeatErrors.shift();
        if (error) {
          this.onHeartbeatError?.();
          throw error;
        }
        if (this.heartbeatAfterCommitError && !this.topology?.newServers)
          throw this.heartbeatAfterCommitError;
        this.heartbeats.push(a.instanceId);
        return this.pendingActions.has(a.instanceId) ? ('done' as const) : ('gone' as const);
      },
    };
    const metrics = { count: async (_c: string, name: string) => void this.metrics.push(name) };
    const clock = { now: () => this.now };
    const commands = {
      cancelRunning: async (comments: readonly string[], since: string) => {
        this.cancelRequests.push({ comments, since });
        return [];
      },
    };
    const keepAlive = createKeepAliveHandler({ topology, lifecycle });
    const complete = createCompleteLifecycleHandler({ lifecycle, metrics, topology });
    return {
      [S.Normalise]: createNormaliseHandler({ cluster: CLUSTER, autoScalingGroupName: GROUP }),
      [S.TakeLock]: createTakeLockHandler({
        locks,
        executions: { isRunning: async (id) => this.running.has(id) },
        clock,
        lockTtlSeconds: 3600,
      }),
      [S.PlanMigration]: createPlanMigrationHandler({
        topology,
        group: { list: async () => this.members.map((m) => ({ ...m })) },
        addresses: { privateIps: async (ids) => new Map(ids.map((id) => [id, ipOf(id)])) },
        clock,
        autoScalingGroupName: GROUP,
        memcachedPort: 11211,
      }),
      [S.ReleaseUnchangedLock]: createReleaseLockHandler({ locks }),
      [S.CommitMigration]: createCommitMigrationHandler({ topology }),
      [S.ReleaseLock]: createReleaseLockHandler({ locks }),
      [S.RecordCleanupFailure]: createRecordFailureHandler({ metrics, cluster: CLUSTER }),
      [S.RecordHeartbeat]: keepAlive,
      [S.RecordHeartbeatWhileWaiting]: keepAlive,
      [S.ContinueLifecycle]: complete,
      [S.AbandonLaunch]: complete,
      [S.CancelAgentCommands]: createCancelCommandsHandler({ commands }),
      [S.RestoreTopology]: createRestoreTopologyHandler({ topology }),
      [S.RecordFailure]: createRecordFailureHandler({ metrics, cluster: CLUSTER }),
      [S.RecordRollbackCleanupFailure]: createRecordFailureHandler({ metrics, cluster: CLUSTER }),
      [S.ReleaseLockAfterRollback]: createReleaseLockHandler({ locks }),
      [S.ResyncNode]: async (req: SendCommandRequest) => {
        this.sendCommands.push(req);
        return this.agent(req);
      },
      // A source's push (it moves nothing in this world: the receivers' fake agents do); a failure fails nothing.
      [S.PushNode]: async (req: SendCommandRequest) => {
        this.sendCommands.push(req);
        return this.pushAgent(req);
      },
      [S.CleanupNode]: async (req: SendCommandRequest) => {
        this.sendCommands.push(req);
        return this.cleanupAgent(req);
      },
      [S.RollbackCleanupNode]: async (req: SendCommandRequest) => {
        this.sendCommands.push(req);
        return this.cleanupAgent(req);
      },
      [S.AwaitClients]: async (req: SendCommandRequest) => {
        this.clientCommands.push(req);
        this.log.push(`await-clients@${req.Parameters.epoch[0]} on ${req.InstanceIds[0]}`);
        return this.awaitClients(req);
      },
      [S.PublishCommitted]: async (req: SendCommandRequest) => {
        this.clientCommands.push(req);
        this.log.push(`publish@${req.Parameters.epoch[0]}`);
        return { published: [] };
      },
      [S.PublishRestored]: async (req: SendCommandRequest) => {
        this.clientCommands.push(req);
        this.log.push(`publish@${req.Parameters.epoch[0]}`);
        return { published: [] };
      },
    } as Record<string, (input: never) => Promise<unknown>>;
  }
}

/** A stable fake private address per instance id (distinct for instance ids that differ in their last 16 bits). */
export function ipOf(id: string): string {
  const hex = /^i-([0-9a-f]+)$/.exec(id)?.[1];
  if (hex) {
    const n = parseInt(hex.slice(-4), 16);
    return `10.0.${n >> 8}.${n & 0xff}`;
  }
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) & 0xffff;
  return `10.0.${h >> 8}.${h & 0xff || 1}`;
}

export function lifecycleEvent(
  kind: 'launch' | 'terminate',
  instanceId: string,
  token = '11111111-2222-3333-4444-555555555555',
) {
  return {
    version: '0',
    id: `event-${kind}-${instanceId}`,
    'detail-type':
      kind === 'launch' ? 'EC2 Instance-launch Lifecycle Action' : 'EC2 Instance-terminate Lifecycle Action',
    source: 'aws.autoscaling',
    account: '123456789012',
    time: '2025-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      LifecycleActionToken: token,
      AutoScalingGroupName: GROUP,
      LifecycleHookName: kind === 'launch' ? HOOK_LAUNCH : HOOK_TERMINATE,
      EC2InstanceId: instanceId,
      LifecycleTransition:
        kind === 'launch' ? 'autoscaling:EC2_INSTANCE_LAUNCHING' : 'autoscaling:EC2_INSTANCE_TERMINATING',
    },
  };
}
