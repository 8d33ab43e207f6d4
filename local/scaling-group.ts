import { randomUUID } from 'node:crypto';
import type {
  GroupMember,
  GroupMembers,
  InstanceAddresses,
  LifecycleActionRef,
  LifecycleActions,
  LifecycleCallOutcome,
} from '../lambdas/ports';
import { MemcachedProcess, stopPid } from './memcached-process';

export const LAUNCH_TRANSITION = 'autoscaling:EC2_INSTANCE_LAUNCHING';
export const TERMINATE_TRANSITION = 'autoscaling:EC2_INSTANCE_TERMINATING';

/** The EventBridge event Auto Scaling emits for a lifecycle hook (the workflow's input). */
export interface LifecycleEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'EC2 Instance-launch Lifecycle Action' | 'EC2 Instance-terminate Lifecycle Action';
  readonly source: 'aws.autoscaling';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: {
    readonly LifecycleActionToken: string;
    readonly AutoScalingGroupName: string;
    readonly LifecycleHookName: string;
    readonly EC2InstanceId: string;
    readonly LifecycleTransition: string;
  };
}

const WAIT_STATES: Record<string, 'launch' | 'terminate' | undefined> = {
  'Pending:Wait': 'launch',
  'Terminating:Wait': 'terminate',
};

interface Instance {
  readonly id: string;
  readonly ip: string;
  readonly zone?: string;
  lifecycleState: string;
  actionToken?: string;
  pid?: number;
  process?: MemcachedProcess;
}

/** What `astaire local` keeps between commands. */
export interface GroupState {
  readonly port: number;
  readonly sequence: number;
  /** Zones new instances are spread over (`astaire local up --zones a,b,c`); none when absent. */
  readonly zones?: readonly string[];
  readonly instances: readonly {
    id: string;
    ip: string;
    zone?: string;
    lifecycleState: string;
    actionToken?: string;
    pid?: number;
  }[];
}

export interface LocalScalingGroupOptions {
  readonly groupName: string;
  readonly launchHookName: string;
  readonly terminateHookName: string;
  /** Every node listens on this port, each on its own loopback address (127.0.1.N). */
  readonly port: number;
  /** memcached -m per node. @default 256 */
  readonly memoryMb?: number;
  /** Nodes outlive this process (`astaire local up`). @default false */
  readonly detached?: boolean;
  /** Called after every change of membership or lifecycle state (to persist it). */
  readonly onChange?: (state: GroupState) => void;
  /** Zones to spread instances over, each launch going to the zone with the fewest members. */
  readonly zones?: readonly string[];
}

/**
 * An Auto Scaling group on one machine: each instance is a real memcached process on its own
 * loopback address, so the workflow's `privateIp:port` addressing works unchanged. Lifecycle
 * states follow EC2 Auto Scaling: Pending:Wait -> InService, Terminating:Wait -> Terminated,
 * and an ABANDONed launch is terminated.
 */
export class LocalScalingGroup implements GroupMembers, InstanceAddresses, LifecycleActions {
  private readonly instances = new Map<string, Instance>();
  private sequence = 0;
  private readonly zoneNames: readonly string[];

  constructor(
    private readonly options: LocalScalingGroupOptions,
    restored?: GroupState,
  ) {
    this.zoneNames = restored?.zones ?? options.zones ?? [];
    if (restored) {
      this.sequence = restored.sequence;
      for (const i of restored.instances) this.instances.set(i.id, { ...i });
    }
  }

  snapshot(): GroupState {
    return {
      port: this.options.port,
      sequence: this.sequence,
      ...(this.zoneNames.length ? { zones: this.zoneNames } : {}),
      instances: [...this.instances.values()]
        .filter((i) => i.lifecycleState !== 'Terminated')
        .map(({ id, ip, zone, lifecycleState, actionToken, pid }) => ({
          id,
          ip,
          ...(zone === undefined ? {} : { zone }),
          lifecycleState,
          actionToken,
          pid,
        })),
    };
  }

  /** The port every node listens on. */
  get port(): number {
    return this.options.port;
  }

  /** Instances not yet terminated, in launch order. */
  members(): readonly { id: string; ip: string; address: string; lifecycleState: string }[] {
    return [...this.instances.values()]
      .filter((i) => i.lifecycleState !== 'Terminated')
      .map((i) => ({
        id: i.id,
        ip: i.ip,
        address: `${i.ip}:${this.options.port}`,
        lifecycleState: i.lifecycleState,
      }));
  }

  /**
   * Lifecycle actions still waiting (Pending:Wait or Terminating:Wait with an action token), as the
   * workflow's manual input that re-drives each (without cluster: the caller's).
   */
  pendingActions(): { action: 'launch' | 'terminate'; instanceId: string; lifecycleHookName: string }[] {
    return [...this.instances.values()]
      .filter((i) => i.actionToken && WAIT_STATES[i.lifecycleState])
      .map((i) => {
        const action = WAIT_STATES[i.lifecycleState]!;
        const hook = action === 'launch' ? this.options.launchHookName : this.options.terminateHookName;
        return { action, instanceId: i.id, lifecycleHookName: hook };
      });
  }

  address(id: string): string {
    const instance = this.instances.get(id);
    if (!instance) throw new Error(`no instance ${id} in group ${this.options.groupName}`);
    return `${instance.ip}:${this.options.port}`;
  }

  /** Starts `count` instances straight into service (the cluster's first members). */
  async bootstrap(count: number): Promise<string[]> {
    const started = await this.startInstances(count, 'InService');
    return started.map((i) => i.id);
  }

  /** Launches `count` instances into Pending:Wait and returns the lifecycle events Auto Scaling would emit. */
  async launch(count: number): Promise<LifecycleEvent[]> {
    const started = await this.startInstances(count, 'Pending:Wait');
    const events = started.map((i) =>
      this.event(i, 'EC2 Instance-launch Lifecycle Action', this.options.launchHookName, LAUNCH_TRANSITION),
    );
    this.changed();
    return events;
  }

  /** Moves in-service instances to Terminating:Wait and returns their lifecycle events. */
  terminate(ids: readonly string[]): LifecycleEvent[] {
    return ids.map((id) => {
      const instance = this.instances.get(id);
      if (!instance || instance.lifecycleState !== 'InService')
        throw new Error(`instance ${id} is not InService (it is ${instance?.lifecycleState ?? 'unknown'})`);
      instance.lifecycleState = 'Terminating:Wait';
      const event = this.event(
        instance,
        'EC2 Instance-terminate Lifecycle Action',
        this.options.terminateHookName,
        TERMINATE_TRANSITION,
      );
      this.changed();
      return event;
    });
  }

  async list(groupName: string): Promise<readonly GroupMember[]> {
    this.checkGroup(groupName);
    return [...this.instances.values()]
      .filter((i) => i.lifecycleState !== 'Terminated')
      .map((i) => ({ instanceId: i.id, lifecycleState: i.lifecycleState }));
  }

  async privateIps(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    const ips = new Map<string, string>();
    for (const id of instanceIds) {
      const instance = this.instances.get(id);
      if (instance && instance.lifecycleState !== 'Terminated') ips.set(id, instance.ip);
    }
    return ips;
  }

  async zones(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    const zones = new Map<string, string>();
    for (const id of instanceIds) {
      const instance = this.instances.get(id);
      if (instance?.zone !== undefined && instance.lifecycleState !== 'Terminated')
        zones.set(id, instance.zone);
    }
    return zones;
  }

  /** The zone with the fewest live instances (the first listed on a tie), as Auto Scaling balances AZs. */
  private nextZone(launching: readonly Instance[]): string | undefined {
    if (this.zoneNames.length === 0) return undefined;
    const count = new Map(this.zoneNames.map((z) => [z, 0]));
    for (const i of [...this.instances.values(), ...launching])
      if (i.zone !== undefined && i.lifecycleState !== 'Terminated')
        count.set(i.zone, (count.get(i.zone) ?? 0) + 1);
    return this.zoneNames.reduce((best, z) => (count.get(z)! < count.get(best)! ? z : best));
  }

  async complete(action: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON'): Promise<LifecycleCallOutcome> {
    const instance = this.pendingAction(action);
    if (!instance) return 'gone';
    instance.actionToken = undefined;
    if (instance.lifecycleState === 'Pending:Wait' && result === 'CONTINUE')
      instance.lifecycleState = 'InService';
    else {
      // A terminating instance leaves whatever the result; an abandoned launch is terminated.
      instance.lifecycleState = 'Terminated';
      await stopInstance(instance);
    }
    this.changed();
    return 'done';
  }

  async heartbeat(action: LifecycleActionRef): Promise<LifecycleCallOutcome> {
    return this.pendingAction(action) ? 'done' : 'gone';
  }

  /** Stops every memcached process this process started (detached ones keep running). */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.instances.values()].map((i) => (this.options.detached ? undefined : i.process?.stop())),
    );
  }

  /** Stops every node, detached or not, and forgets them. */
  async destroy(): Promise<void> {
    await Promise.all([...this.instances.values()].map(stopInstance));
    this.instances.clear();
    this.changed();
  }

  private changed(): void {
    this.options.onChange?.(this.snapshot());
  }

  private pendingAction(action: LifecycleActionRef): Instance | undefined {
    this.checkGroup(action.autoScalingGroupName);
    const instance = this.instances.get(action.instanceId);
    if (!instance?.actionToken) return undefined;
    if (action.lifecycleActionToken !== undefined && action.lifecycleActionToken !== instance.actionToken)
      return undefined;
    return instance;
  }

  private checkGroup(groupName: string): void {
    if (groupName !== this.options.groupName)
      throw new Error(`no Auto Scaling group ${groupName} here (this is ${this.options.groupName})`);
  }

  private async startInstances(count: number, lifecycleState: string): Promise<Instance[]> {
    const fresh: Instance[] = [];
    for (let k = 0; k < count; k++) {
      const n = ++this.sequence;
      if (n > 250) throw new Error('local mode supports at most 250 instances over its lifetime');
      const zone = this.nextZone(fresh);
      const instance: Instance = {
        id: `i-${n.toString(16).padStart(17, '0')}`,
        ip: `127.0.1.${n}`,
        lifecycleState,
        ...(zone === undefined ? {} : { zone }),
      };
      fresh.push(instance);
    }
    await Promise.all(
      fresh.map(async (instance) => {
        instance.process = await MemcachedProcess.start({
          host: instance.ip,
          port: this.options.port,
          memoryMb: this.options.memoryMb ?? 256,
          detached: this.options.detached,
        });
        instance.pid = instance.process.pid;
      }),
    );
    for (const instance of fresh) this.instances.set(instance.id, instance);
    this.changed();
    return fresh;
  }

  private event(
    instance: Instance,
    detailType: LifecycleEvent['detail-type'],
    hookName: string,
    transition: string,
  ): LifecycleEvent {
    instance.actionToken = randomUUID();
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source: 'aws.autoscaling',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'local',
      resources: [
        `arn:aws:autoscaling:local:000000000000:autoScalingGroup:local:autoScalingGroupName/${this.options.groupName}`,
      ],
      detail: {
        LifecycleActionToken: instance.actionToken,
        AutoScalingGroupName: this.options.groupName,
        LifecycleHookName: hookName,
        EC2InstanceId: instance.id,
        LifecycleTransition: transition,
      },
    };
  }
}

async function stopInstance(instance: Instance): Promise<void> {
  if (instance.process) await instance.process.stop();
  else if (instance.pid) await stopPid(instance.pid);
}
