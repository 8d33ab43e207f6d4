import type { Topology } from '../core';

/**
 * The narrow ports the workflow's handlers use. AWS adapters live in
 * `lambdas/adapters/`; local mode supplies its own behind the same interfaces.
 */

/** The cluster's topology document (`/astaire/<cluster>/topology`). */
export interface TopologyStore {
  /** Reads and validates the document; throws TopologyNotFoundError when it does not exist. */
  read(cluster: string): Promise<Topology>;
  /** Overwrites the document (choosing the parameter tier the size needs). */
  write(topology: Topology): Promise<void>;
}

/** Who holds a cluster's migration lock, and until when at the latest. */
export interface LockRecord {
  /** Execution ARN (or local execution id) of the owner. */
  readonly owner: string;
  /** ISO 8601. */
  readonly acquiredAt: string;
  /** ISO 8601: after this the owner is certainly dead (>= the workflow's own timeout). */
  readonly expiresAt: string;
}

/**
 * The per-cluster lock: one migration per cluster at a time. On AWS a DynamoDB item per cluster
 * (conditional put and delete); locally a file with the same conditional semantics.
 */
export interface LockStore {
  /** Atomically creates the lock; false when it already exists (whoever holds it). */
  create(cluster: string, lock: LockRecord): Promise<boolean>;
  /** The current lock, or undefined when free. */
  read(cluster: string): Promise<LockRecord | undefined>;
  /**
   * Breaks a dead owner's lock: replaces `stale` by `fresh` unless another breaker already
   * replaced that same `stale` record. True when this caller won and now holds the lock.
   */
  replaceStale(cluster: string, stale: LockRecord, fresh: LockRecord): Promise<boolean>;
  /**
   * Deletes the lock if, and only if, `owner` holds it (one conditional step: someone else's lock
   * is never deleted). True when it did; false when the lock is free or held by another.
   */
  release(cluster: string, owner: string): Promise<boolean>;
}

/** Whether a workflow execution is still running (a lock whose owner is not is broken at once). */
export interface Executions {
  isRunning(executionId: string): Promise<boolean>;
}

/** An Auto Scaling lifecycle state, e.g. `InService`, `Pending:Wait`, `Terminating:Wait`. */
export interface GroupMember {
  readonly instanceId: string;
  readonly lifecycleState: string;
}

export interface GroupMembers {
  /** Every instance of the group, whatever its state. */
  list(groupName: string): Promise<readonly GroupMember[]>;
}

export interface InstanceAddresses {
  /** Private IPv4 address by instance id; instances without one (terminated) are absent. */
  privateIps(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /**
   * Availability Zone (or local zone name) by instance id; instances without one are absent. Optional:
   * without it, servers carry no zone and replicas are only on distinct servers.
   */
  zones?(instanceIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
}

/** Identifies one pending lifecycle action (from the EventBridge event). */
export interface LifecycleActionRef {
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  readonly instanceId: string;
  /** Absent for actions named by instance id only. */
  readonly lifecycleActionToken?: string;
}

/** `gone`: the action was already completed or has expired (Auto Scaling reports no active action). */
export type LifecycleCallOutcome = 'done' | 'gone';

export interface LifecycleActions {
  complete(action: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON'): Promise<LifecycleCallOutcome>;
  heartbeat(action: LifecycleActionRef): Promise<LifecycleCallOutcome>;
}

/** The Run Command commands the workflow sent to the agents. */
export interface AgentCommands {
  /**
   * Cancels every command of the agent document still pending or running whose Comment is one of
   * `comments`, sent at or after `since` (ISO 8601); returns the ids it cancelled.
   */
  cancelRunning(comments: readonly string[], since: string): Promise<readonly string[]>;
}

/** Workflow metrics (dimension `Cluster`). */
export interface Metrics {
  /** Counts one event of `name` (e.g. `MigrationFailed`). */
  count(cluster: string, name: string): Promise<void>;
}

/** Workflow gauges (dimension `Cluster`), put as they are measured. */
export interface Gauges {
  /** Puts one value of `name` in seconds (e.g. `MigrationSeconds`, alarmed on its Maximum). */
  seconds(cluster: string, name: string, value: number): Promise<void>;
}

export interface Clock {
  now(): Date;
}
