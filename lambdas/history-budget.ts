/**
 * Step Functions keeps at most 25,000 events in a standard execution's history and fails the
 * execution beyond it (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
 * An inline Map's iterations write into that history; SendTaskHeartbeat writes nothing (there is no
 * heartbeat history event type). Counted per state, from the history event types:
 */
export const HISTORY_EVENT_LIMIT = 25_000;

export const HistoryEvents = {
  /** A Lambda task: TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited. */
  lambdaTask: 5,
  /** One retry of a task: TaskScheduled, TaskStarted, TaskFailed (or TaskSubmitFailed). */
  retry: 3,
  /** A Wait or Choice state: entered, exited. */
  flowState: 2,
  /**
   * One node's SSM command (a ResyncNode, PushNode, CleanupNode or RollbackCleanupNode iteration): MapIterationStarted,
   * TaskStateEntered, TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded (or TaskFailed), TaskStateExited,
   * MapIterationSucceeded. The agent's heartbeats (every 5 s) add none.
   */
  agentCommand: 8,
  /**
   * SendCommand retries for an instance whose SSM Agent is still registering (InvalidInstanceId):
   * at most 12 retries of 3 events, once per added instance.
   */
  addedInstanceRetries: 12 * 3,
  /** One round of the lock wait: WaitForLock, RecordHeartbeatWhileWaiting, TakeLock, IsLockTaken. */
  lockWaitRound: 2 + 5 + 5 + 2,
  /** One round of the keep-alive loop while data moves: KeepAliveWait, RecordHeartbeat, IsMigrationRunning. */
  keepAliveRound: 2 + 5 + 2,
  /**
   * Everything else one execution passes, retries of its Lambda tasks included (about 30 states on the
   * longest path, each task retried up to 5 times): a generous fixed reserve.
   */
  fixed: 1_000,
} as const;

/** What one migration's agent commands cost in history events, on its longest path. */
export function migrationHistoryEvents(plan: {
  readonly pulls: number;
  readonly cleanups: number;
  readonly added: number;
  /** Sources that push to their receivers (PushNodes, beside the receivers' Map). */
  readonly pushes?: number;
}): number {
  // A commit is followed by the cleanups; a rollback by at most one cleanup per pulling node.
  const commands = plan.pulls + Math.max(plan.cleanups, plan.pulls) + (plan.pushes ?? 0);
  return commands * HistoryEvents.agentCommand + plan.added * HistoryEvents.addedInstanceRetries;
}
