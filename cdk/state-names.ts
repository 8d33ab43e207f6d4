/**
 * Every state name of the Astaire workflow. Local mode binds a handler to each Task state by
 * these names (local/asl's `handlers`), and shortens the Wait states by name (`waitMs`): renaming
 * one is a breaking change.
 */
export const StateNames = {
  // Lambda tasks (main path)
  Normalise: 'Normalise',
  TakeLock: 'TakeLock',
  PlanMigration: 'PlanMigration',
  ReleaseUnchangedLock: 'ReleaseUnchangedLock',
  CommitMigration: 'CommitMigration',
  RecordHeartbeat: 'RecordHeartbeat',
  RecordHeartbeatWhileWaiting: 'RecordHeartbeatWhileWaiting',
  ContinueLifecycle: 'ContinueLifecycle',
  ReleaseLock: 'ReleaseLock',
  RecordCleanupFailure: 'RecordCleanupFailure',
  // SSM tasks (inside the Maps): sendCommand.waitForTaskToken
  ResyncNode: 'ResyncNode',
  CleanupNode: 'CleanupNode',
  RollbackCleanupNode: 'RollbackCleanupNode',
  // SSM tasks on one member (the publisher): publish the topology on every node, await the clients
  AwaitClients: 'AwaitClients',
  PublishCommitted: 'PublishCommitted',
  PublishRestored: 'PublishRestored',
  PushNode: 'PushNode',
  // Lambda tasks (failure path)
  CancelAgentCommands: 'CancelAgentCommands',
  RestoreTopology: 'RestoreTopology',
  AbandonLaunch: 'AbandonLaunch',
  RecordRollbackCleanupFailure: 'RecordRollbackCleanupFailure',
  ReleaseLockAfterRollback: 'ReleaseLockAfterRollback',
  RecordFailure: 'RecordFailure',
  // Wait states
  WaitForLock: 'WaitForLock',
  WaitForClients: 'WaitForClients',
  KeepAliveWait: 'KeepAliveWait',
  WaitBeforeCleanup: 'WaitBeforeCleanup',
  WaitBeforeRollbackCleanup: 'WaitBeforeRollbackCleanup',
  // Flow
  IsLockTaken: 'IsLockTaken',
  IsChangeNeeded: 'IsChangeNeeded',
  MigrateData: 'MigrateData',
  ResyncNodes: 'ResyncNodes',
  PushNodes: 'PushNodes',
  PushNodeFailed: 'PushNodeFailed',
  IsMigrationRunning: 'IsMigrationRunning',
  KeepAliveDone: 'KeepAliveDone',
  HasLifecycleAction: 'HasLifecycleAction',
  HasCleanups: 'HasCleanups',
  CleanupNodes: 'CleanupNodes',
  CheckOutcome: 'CheckOutcome',
  IsLaunch: 'IsLaunch',
  HasRestored: 'HasRestored',
  HasRollbackCleanups: 'HasRollbackCleanups',
  RollbackCleanupNodes: 'RollbackCleanupNodes',
  Done: 'Done',
  Failed: 'Failed',
  CleanupFailed: 'CleanupFailed',
} as const;

export type StateName = (typeof StateNames)[keyof typeof StateNames];

/** The Task states that run a Lambda handler (each bound to one handler in local mode). */
export const LAMBDA_TASK_STATES = [
  StateNames.Normalise,
  StateNames.TakeLock,
  StateNames.PlanMigration,
  StateNames.ReleaseUnchangedLock,
  StateNames.CommitMigration,
  StateNames.RecordHeartbeat,
  StateNames.RecordHeartbeatWhileWaiting,
  StateNames.ContinueLifecycle,
  StateNames.ReleaseLock,
  StateNames.RecordCleanupFailure,
  StateNames.CancelAgentCommands,
  StateNames.RestoreTopology,
  StateNames.AbandonLaunch,
  StateNames.RecordRollbackCleanupFailure,
  StateNames.ReleaseLockAfterRollback,
  StateNames.RecordFailure,
] as const;

/** The Wait states (local mode overrides their duration). */
export const WAIT_STATES = [
  StateNames.WaitForLock,
  StateNames.WaitForClients,
  StateNames.KeepAliveWait,
  StateNames.WaitBeforeCleanup,
  StateNames.WaitBeforeRollbackCleanup,
] as const;

/**
 * Parameters the workflow passes to the SSM resync document (`ssm:SendCommand` Parameters; each
 * value is a one-element string list). The SSM document must declare exactly these, each
 * constrained by an allowedPattern. The agent reports back with SendTaskSuccess/SendTaskFailure
 * on `taskToken`.
 */
export const ResyncDocumentParameters = {
  /** The Step Functions task token ($$.Task.Token), opaque, up to a few KB. */
  taskToken: 'taskToken',
  /** Cluster name (the agent reads `/astaire/<cluster>/topology`). */
  cluster: 'cluster',
  /** This node's id (EC2 instance id). */
  node: 'node',
  /**
   * Epoch of the topology the agent works on, as a decimal string: with newServers for a resync,
   * the committed one for a cleanup (after a rollback: the restored one).
   */
  epoch: 'epoch',
  /**
   * What the agent runs: `resync` (pull the vbuckets it gains), `cleanup` (delete those it lost),
   * `await-clients` (publish the topology on every node and wait for every live client's acknowledgement)
   * or `publish` (publish only).
   */
  mode: 'mode',
  /**
   * The node's memcached as peers and clients reach it (`privateIp:port`, from the plan): the agent fills
   * and checks memcached there, so a node whose memcached does not answer on its private address fails
   * its readiness check and a launch is abandoned instead of entering service.
   */
  address: 'address',
} as const;
