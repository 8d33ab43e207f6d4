import { AstaireError } from '../core';

/**
 * Errors of the workflow's handlers. The state machine's Retry/Catch and operators match on
 * `name` (set explicitly: bundles are minified), so every name is a contract.
 */

/** A required environment variable is missing: the function is misconfigured. */
export class ConfigurationError extends AstaireError {
  override readonly name = 'ConfigurationError';
}

/** The execution input is neither a lifecycle event of this cluster's group nor a valid manual input. */
export class MalformedInputError extends AstaireError {
  override readonly name = 'MalformedInputError';
  constructor(
    message: string,
    readonly input: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The topology parameter does not exist (the cluster was never created, or was deleted). */
export class TopologyNotFoundError extends AstaireError {
  override readonly name = 'TopologyNotFoundError';
  constructor(readonly parameter: string) {
    super(`topology parameter ${parameter} does not exist`);
  }
}

/** The cluster's Auto Scaling group does not exist. */
export class GroupNotFoundError extends AstaireError {
  override readonly name = 'GroupNotFoundError';
  constructor(readonly groupName: string) {
    super(`Auto Scaling group ${groupName} does not exist`);
  }
}

/**
 * The migration this execution planned is not in the topology any more (another execution
 * broke its lock and took over, or someone edited the parameter): it must not commit.
 */
export class MigrationNotOwnedError extends AstaireError {
  override readonly name = 'MigrationNotOwnedError';
  constructor(
    readonly cluster: string,
    readonly executionId: string,
    readonly ownerFound: string | undefined,
  ) {
    super(
      `cluster ${cluster}: the topology's migration is owned by ${ownerFound ?? 'nobody'}, not by ${executionId}; not committing`,
    );
  }
}

/**
 * A migration needs more agent commands than one execution's history can record (25,000 events, part
 * of them kept for waiting on the lock): the plan fails before anything is written.
 */
export class MigrationTooLargeError extends AstaireError {
  override readonly name = 'MigrationTooLargeError';
  constructor(
    readonly cluster: string,
    readonly events: number,
    readonly budget: number,
  ) {
    super(
      `astaire plan: the migration of cluster ${cluster} needs ${events} execution history events for its agent commands, but only ${budget} are left of the 25,000 one execution may write; scale in smaller steps, or lengthen keepAliveInterval or shorten workflowTimeout (docs/scale.md, "Limits of one execution")`,
    );
  }
}
