import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  abortMigration,
  beginMigration,
  type MigrationPlan,
  planMigration,
  planPushes,
  type Server,
  type Topology,
} from '../core';
import { AutoScalingGroupMembers } from './adapters/auto-scaling';
import { Ec2InstanceAddresses } from './adapters/ec2';
import { SsmTopologyStore } from './adapters/ssm-parameters';
import { MigrationTooLargeError } from './errors';
import { migrationHistoryEvents } from './history-budget';
import { configuredName, requireEnv, requirePositiveInt } from './env';
import type { Clock, GroupMember, GroupMembers, InstanceAddresses, TopologyStore } from './ports';
import type { WorkflowRequest } from './request';

/**
 * Lifecycle states that make an instance a member of the target topology. Pending ones are
 * included so that instances launching together move their data in one migration; Standby is
 * maintenance (memcached keeps its data). Terminating*, Detaching, Warmed:* are not members.
 */
export const MEMBER_STATES: ReadonlySet<string> = new Set([
  'Pending',
  'Pending:Wait',
  'Pending:Proceed',
  'InService',
  'EnteringStandby',
  'Standby',
]);

export interface PlanMigrationPorts {
  readonly topology: TopologyStore;
  readonly group: GroupMembers;
  readonly addresses: InstanceAddresses;
  readonly clock: Clock;
  readonly autoScalingGroupName: string;
  readonly memcachedPort: number;
  /**
   * History events one execution may spend on agent commands (see history-budget.ts); a larger
   * migration fails before it is written. @default no limit (local mode has no history)
   */
  readonly historyEventBudget?: number;
}

/** One node that must pull data: an item of the ResyncNodes Map. */
export interface PullItem {
  readonly node: string;
  readonly address: string;
  /** How many vbuckets it pulls. */
  readonly vbuckets: number;
}

/** One source that pushes to several receivers (astaire-agent push): an item of the PushNodes Map. */
export interface PushItem {
  readonly node: string;
  readonly address: string;
  /** How many vbucket-receiver pairs it pushes. */
  readonly vbuckets: number;
}

/** One node that must delete the vbuckets it loses once the migration commits: an item of the CleanupNodes Map. */
export interface CleanupItem {
  readonly node: string;
  readonly address: string;
  /** How many vbuckets it loses. */
  readonly vbuckets: number;
}

/** State `PlanMigration` output (at `$.plan`). */
export interface PlanResult {
  /** False when the members already match: nothing was written, nothing moves. */
  readonly changed: boolean;
  /** Epoch of the topology the agents resync against (with newServers when changed). */
  readonly epoch: number;
  readonly servers: readonly string[];
  readonly newServers: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly vbucketsMoved: number;
  /** vbuckets whose every old replica is gone from the group: their data is declared lost. */
  readonly vbucketsLost: number;
  /** Old servers gone from the group (no source): recorded in the migration for the agents. */
  readonly gone: readonly string[];
  readonly pulls: readonly PullItem[];
  /** Sources that push (each crawled once for all its receivers); the receivers pull what they do not push. */
  readonly pushes: readonly PushItem[];
  readonly cleanups: readonly CleanupItem[];
  /**
   * Why this lifecycle event changed nothing: its instance is not in the lifecycle state the event
   * claims (a replayed, late or forged event). No lifecycle action is completed for it.
   */
  readonly ignored?: string;
  /** A dead execution's migration that was rolled back first. */
  readonly abortedMigrationOf?: string;
  /**
   * The member that publishes the topology on every node and awaits the clients' acknowledgements
   * (`astaire-agent await-clients`/`publish`, states AwaitClients, PublishCommitted, PublishRestored):
   * one that stays a member when there is one. Absent for an empty cluster.
   */
  readonly publisher?: { readonly node: string; readonly address: string };
}

/**
 * Runs with the cluster's lock held. Computes the target members from the group and, when
 * they differ from `servers`, writes the topology with `newServers` (beginMigration).
 */
export function createPlanMigrationHandler(ports: PlanMigrationPorts) {
  return async ({ request }: { request: WorkflowRequest }): Promise<PlanResult> => {
    const { cluster, executionId: me } = request;
    let topology = await ports.topology.read(cluster);
    let abortedMigrationOf: string | undefined;
    if (topology.migration) {
      // Our own migration: this invocation is a retry after the write went through.
      if (topology.migration.executionId === me) return result(topology, true, undefined);
      // We hold the lock, so whoever started this migration is dead: roll it back first.
      abortedMigrationOf = topology.migration.executionId;
      topology = abortMigration(topology);
    }
    const members = await ports.group.list(ports.autoScalingGroupName);
    const ignored = mismatch(request, members);
    if (ignored) {
      console.warn(JSON.stringify({ message: 'lifecycle event ignored', reason: ignored, request }));
      if (abortedMigrationOf) await ports.topology.write(topology);
      return { ...result(topology, false, abortedMigrationOf), ignored };
    }
    const target = await targetMembers(ports, request, members, topology);
    if (sameMembers(topology.servers, target)) {
      if (abortedMigrationOf) await ports.topology.write(topology);
      return result(topology, false, abortedMigrationOf);
    }
    const listed = new Set(members.map((m) => m.instanceId));
    const gone = topology.servers.filter((s) => !listed.has(s.id)).map((s) => s.id);
    if (gone.length)
      console.warn(
        JSON.stringify({ message: 'servers gone from the group: no source for their vbuckets', gone }),
      );
    const begun = beginMigration(topology, target, {
      executionId: me,
      startedAt: ports.clock.now().toISOString(),
      ...(gone.length ? { gone } : {}),
    });
    const planned = result(begun, true, abortedMigrationOf);
    const events = migrationHistoryEvents({
      pulls: planned.pulls.length,
      cleanups: planned.cleanups.length,
      added: planned.added.length,
      pushes: planned.pushes.length,
    });
    if (ports.historyEventBudget !== undefined && events > ports.historyEventBudget)
      throw new MigrationTooLargeError(cluster, events, ports.historyEventBudget);
    await ports.topology.write(begun);
    if (planned.vbucketsLost > 0)
      console.warn(
        JSON.stringify({
          message: 'vbuckets declared lost: every old replica is gone from the group',
          vbucketsLost: planned.vbucketsLost,
          gone,
        }),
      );
    return planned;
  };
}

/** The lifecycle state an event's instance must be in for the event to be current. */
const EXPECTED_STATE: Record<string, string> = { launch: 'Pending:Wait', terminate: 'Terminating:Wait' };

/**
 * Why a lifecycle event does not match the group (undefined when it does): its instance must be
 * waiting in the state the event announces. A replayed or forged terminate for an InService
 * instance would otherwise take a live node out of the topology.
 */
function mismatch(request: WorkflowRequest, members: readonly GroupMember[]): string | undefined {
  if (!request.lifecycle) return undefined;
  const expected = EXPECTED_STATE[request.action];
  const { instanceId } = request.lifecycle;
  const state = members.find((m) => m.instanceId === instanceId)?.lifecycleState;
  if (state === expected) return undefined;
  return `${request.action} event for ${instanceId}, which is ${state ?? 'not in the group'}, not ${expected}: nothing changed`;
}

async function targetMembers(
  ports: PlanMigrationPorts,
  request: WorkflowRequest,
  members: readonly GroupMember[],
  topology: Topology,
): Promise<Server[]> {
  const leaving = request.action === 'terminate' ? request.lifecycle?.instanceId : undefined;
  const ids = members
    .filter((m) => MEMBER_STATES.has(m.lifecycleState) && m.instanceId !== leaving)
    .map((m) => m.instanceId);
  const ips = await ports.addresses.privateIps(ids);
  const zones = (await ports.addresses.zones?.(ids)) ?? new Map<string, string>();
  const missing = ids.filter((id) => !ips.has(id));
  if (missing.length)
    console.warn(JSON.stringify({ message: 'members without a private address left out', missing }));
  const wanted = new Map<string, Server>(
    ids
      .filter((id) => ips.has(id))
      .map((id) => {
        const address = `${ips.get(id)!}:${ports.memcachedPort}`;
        const zone = zones.get(id);
        return [id, zone === undefined ? { id, address } : { id, address, zone }];
      }),
  );
  // Keep the current order for staying members and append newcomers sorted: a stable document.
  // A staying member takes the zone EC2 reports now (a cluster from before zones learns them).
  const staying = topology.servers
    .filter((s) => wanted.get(s.id)?.address === s.address)
    .map((s) => wanted.get(s.id)!);
  const stayingIds = new Set(staying.map((s) => s.id));
  const joining = [...wanted.values()]
    .filter((s) => !stayingIds.has(s.id))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [...staying, ...joining];
}

function sameMembers(a: readonly Server[], b: readonly Server[]): boolean {
  const key = (s: readonly Server[]) =>
    s
      .map((x) => `${x.id}@${x.address}@${x.zone ?? ''}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}

function result(topology: Topology, changed: boolean, abortedMigrationOf: string | undefined): PlanResult {
  const servers = topology.servers.map((s) => s.id);
  const newServers = (topology.newServers ?? topology.servers).map((s) => s.id);
  const plan = changed && topology.newServers ? planMigration(topology) : undefined;
  return {
    changed,
    epoch: topology.epoch,
    servers,
    newServers,
    added: newServers.filter((id) => !servers.includes(id)),
    removed: servers.filter((id) => !newServers.includes(id)),
    vbucketsMoved: plan?.vbucketsMoved ?? 0,
    vbucketsLost: plan?.vbucketsLost.length ?? 0,
    gone: topology.migration?.gone ?? [],
    pulls: changed && topology.newServers ? agentRuns(topology, plan!) : [],
    pushes: plan
      ? planPushes(plan, topology).pushes.map((p) => ({
          node: p.node,
          address: p.address,
          vbuckets: p.vbuckets.reduce((n, v) => n + v.receivers.length, 0),
        }))
      : [],
    cleanups: (plan?.cleanups ?? []).map((c) => ({
      node: c.node,
      address: c.address,
      vbuckets: c.vbuckets.length,
    })),
    ...(abortedMigrationOf ? { abortedMigrationOf } : {}),
    ...publisherOf(topology),
  };
}

function publisherOf(topology: Topology): { publisher?: { node: string; address: string } } {
  const staying = new Set((topology.newServers ?? topology.servers).map((s) => s.id));
  const s =
    topology.servers.find((m) => staying.has(m.id)) ?? topology.newServers?.[0] ?? topology.servers[0];
  return s ? { publisher: { node: s.id, address: s.address } } : {};
}

/**
 * The nodes whose agent runs: every node with vbuckets to pull, and every node joining with nothing to
 * pull (the first members of a cluster): its agent proves that its memcached answers and marks it a
 * complete replica, which makes it a source for later migrations.
 */
function agentRuns(topology: Topology, plan: MigrationPlan): PullItem[] {
  const pulling = new Map(plan.pulls.map((p) => [p.node, p.vbuckets.length]));
  const old = new Set(topology.servers.map((s) => s.id));
  return (topology.newServers ?? [])
    .filter((s) => pulling.has(s.id) || !old.has(s.id))
    .map((s) => ({ node: s.id, address: s.address, vbuckets: pulling.get(s.id) ?? 0 }));
}

const ssm = new SSMClient({});
const autoScaling = new AutoScalingClient({});
const ec2 = new EC2Client({});
let wired: ReturnType<typeof createPlanMigrationHandler> | undefined;
export const handler = (event: { request: WorkflowRequest }) =>
  (wired ??= createPlanMigrationHandler({
    topology: new SsmTopologyStore(ssm, configuredName('TOPOLOGY_PARAMETER_NAME')),
    group: new AutoScalingGroupMembers(autoScaling),
    addresses: new Ec2InstanceAddresses(ec2),
    clock: { now: () => new Date() },
    autoScalingGroupName: requireEnv('AUTO_SCALING_GROUP_NAME'),
    memcachedPort: requirePositiveInt('MEMCACHED_PORT'),
    historyEventBudget: requirePositiveInt('HISTORY_EVENT_BUDGET'),
  }))(event);
