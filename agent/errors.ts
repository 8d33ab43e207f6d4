import { AstaireError } from '../core';

/**
 * Errors of the node agent. The CLI maps them to exit codes and Step Functions
 * Catch rules match on `name`, so every name is explicit and is a contract.
 */
export class AgentError extends AstaireError {
  override readonly name: string = 'AgentError';
}

/** Bad command line or input document: exit code 2, nothing was copied. */
export class UsageError extends AgentError {
  override readonly name = 'UsageError';
}

/** A memcached connection failed: refused, reset, timed out or answered something unexpected. */
export class ConnectionError extends AgentError {
  override readonly name: string = 'ConnectionError';
  constructor(
    readonly address: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`memcached ${address}: ${message}`, options);
  }
}

/** No answer within the socket timeout: a hung peer must not hang the agent. */
export class ConnectionTimeoutError extends ConnectionError {
  override readonly name = 'ConnectionTimeoutError';
}

/** memcached answered with a line the protocol does not allow here. */
export class ProtocolError extends AgentError {
  override readonly name = 'ProtocolError';
}

/** The local memcached (the one being filled) failed: the whole resync fails. */
export class LocalMemcachedError extends AgentError {
  override readonly name = 'LocalMemcachedError';

  /** The local node could not be reached (connect, or the first request on a connection). */
  static unreachable(address: string, cause: unknown): LocalMemcachedError {
    return new LocalMemcachedError(`local memcached ${address} is unreachable: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** Some vbuckets could not be copied from any of their replicas (failed, or not complete). */
export class VbucketsUnavailableError extends AgentError {
  override readonly name = 'VbucketsUnavailableError';
  constructor(
    readonly vbuckets: readonly number[],
    readonly failedSources: readonly string[],
  ) {
    super(
      `${vbuckets.length} vbucket(s) could not be copied from any complete replica (${summarize(vbuckets)}); failed sources: ${failedSources.join(', ') || 'none'}`,
    );
  }
}

function summarize(vbuckets: readonly number[]): string {
  const shown = vbuckets.slice(0, 20).join(', ');
  return vbuckets.length > 20 ? `${shown}, ... ${vbuckets.length - 20} more` : shown;
}

/** An old replica failed while we copied from it; its vbuckets are taken from another replica. */
export class SourceFailedError extends AgentError {
  override readonly name: string = 'SourceFailedError';
  constructor(
    readonly sourceId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`source ${sourceId}: ${message}`, options);
  }
}

/**
 * A source that answers but cannot prove it holds its vbuckets' data (its memcached restarted or was
 * flushed since it became a complete replica): skipped like a failed one.
 */
export class SourceIncompleteError extends SourceFailedError {
  override readonly name = 'SourceIncompleteError';
}

/** A push could not reach or finish one receiver: that receiver pulls those vbuckets itself. */
export class PushReceiverError extends AgentError {
  override readonly name = 'PushReceiverError';
  constructor(
    readonly receiverId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`receiver ${receiverId}: ${message}`, options);
  }
}

/** The migration the agent serves is no longer the current one (rolled back, or another took over). */
export class MigrationSupersededError extends AgentError {
  override readonly name = 'MigrationSupersededError';
}

export { TopologySourceError } from '../core';

/**
 * await-clients or publish was sent for an epoch the topology no longer holds (a later execution or a
 * rollback moved it on): publishing it would take the clients back.
 */
export class TopologyMovedOnError extends AgentError {
  override readonly name = 'TopologyMovedOn';
}
