/**
 * Every state name of the Astaire workflow. Local mode binds a handler to each Task state by
 * these names (aws-local-stepfunctions `overrides.taskResourceLocalHandlers`), and shortens the
 * Wait states by name (`overrides.waitTimeOverrides`): renaming one is a breaking change.
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
  // SSM task (inside the Map): sendCommand.waitForTaskToken
  ResyncNode: 'ResyncNode',
  // Lambda tasks (failure path)
  RestoreTopology: 'RestoreTopology',
  AbandonLaunch: 'AbandonLaunch',
  RecordFailure: 'RecordFailure',
  // Wait states
  WaitForLock: 'WaitForLock',
  WaitForClients: 'WaitForClients',
  KeepAliveWait: 'KeepAliveWait',
  // Flow
  IsLockTaken: 'IsLockTaken',
  IsChangeNeeded: 'IsChangeNeeded',
  MigrateData: 'MigrateData',
  ResyncNodes: 'ResyncNodes',
  IsMigrationRunning: 'IsMigrationRunning',
  KeepAliveDone: 'KeepAliveDone',
  HasLifecycleAction: 'HasLifecycleAction',
  IsLaunch: 'IsLaunch',
  Done: 'Done',
  Failed: 'Failed',
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
  StateNames.RestoreTopology,
  StateNames.AbandonLaunch,
  StateNames.RecordFailure,
] as const;

/** The Wait states (local mode overrides their duration). */
export const WAIT_STATES = [
  StateNames.WaitForLock,
  StateNames.WaitForClients,
  StateNames.KeepAliveWait,
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
  /** Epoch of the topology with newServers the agent must resync against, as a decimal string. */
  epoch: 'epoch',
} as const;
