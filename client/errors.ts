import { AstaireError } from '../core';

/**
 * Errors of the application client. Every class sets `name` explicitly: callers
 * (and the CLI's exit codes) match on it.
 *
 * - Bad input, refused before any I/O: InvalidKeyError (KeyTooLongError),
 *   ValueTooLargeError, InvalidOptionError.
 * - One server failed: ServerError and its subclasses, each naming the server.
 * - No replica could serve the request: NoReplicaAvailableError, with every server's failure.
 * - Topology: TopologySourceError (cannot read it), NoServersError (it lists none).
 */

/** Where a server error happened, as `id (host:port)`. */
export interface ServerRef {
  readonly id: string;
  readonly address: string;
}

export function describeServer(server: ServerRef): string {
  return `${server.id} (${server.address})`;
}

/** A key memcached cannot store: empty, too long, or too long once base64-encoded. */
export class InvalidKeyError extends AstaireError {
  override readonly name: string = 'InvalidKeyError';
  constructor(
    message: string,
    readonly bytes: number,
  ) {
    super(message);
  }
}

export class KeyTooLongError extends InvalidKeyError {
  override readonly name = 'KeyTooLongError';
  constructor(
    bytes: number,
    readonly limit: number,
    reason: string,
  ) {
    super(`key is ${bytes} bytes, over the ${limit}-byte limit${reason ? ` (${reason})` : ''}`, bytes);
  }
}

/** A value over the item size limit: the client's `maxValueBytes`, or the server's own (`server` set). */
export class ValueTooLargeError extends AstaireError {
  override readonly name = 'ValueTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number | undefined,
    readonly server?: ServerRef,
  ) {
    super(
      server
        ? `value of ${bytes} bytes is too large for the item size limit of ${describeServer(server)}`
        : `value is ${bytes} bytes, over the ${limit}-byte item size limit (maxValueBytes)`,
    );
  }
}

/** Flags, TTL or a client option out of range. */
export class InvalidOptionError extends AstaireError {
  override readonly name = 'InvalidOptionError';
}

/** One server failed one request. */
export class ServerError extends AstaireError {
  override readonly name: string = 'ServerError';
  constructor(
    readonly server: ServerRef,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${describeServer(server)}: ${message}`, options);
  }
}

/** Cannot connect, or the connection broke while the request was pending. */
export class ServerUnavailableError extends ServerError {
  override readonly name = 'ServerUnavailableError';
}

/** No reply within `requestTimeoutMs`. */
export class RequestTimeoutError extends ServerError {
  override readonly name = 'RequestTimeoutError';
  constructor(
    server: ServerRef,
    readonly timeoutMs: number,
  ) {
    super(server, `no reply within ${timeoutMs} ms`);
  }
}

/** The server answered something the protocol does not allow here (or an ERROR/CLIENT_ERROR). */
export class ServerProtocolError extends ServerError {
  override readonly name = 'ServerProtocolError';
}

/** The server refused the request (SERVER_ERROR, such as out of memory). */
export class ServerRejectedError extends ServerError {
  override readonly name = 'ServerRejectedError';
}

/** Every replica a request could use failed; `failures` holds each one's error. */
export class NoReplicaAvailableError extends AstaireError {
  override readonly name = 'NoReplicaAvailableError';
  constructor(
    readonly operation: string,
    readonly key: string,
    readonly failures: readonly ServerError[],
  ) {
    super(
      `${operation} ${key}: no replica available (${failures.map((f) => f.message).join('; ') || 'no replicas'})`,
    );
  }
}

/** The topology lists no servers, so no key has a replica. */
export class NoServersError extends AstaireError {
  override readonly name = 'NoServersError';
  constructor(readonly cluster: string) {
    super(`cluster ${cluster} has no servers in its topology`);
  }
}

/** A request made after `close()`. */
export class ClientClosedError extends AstaireError {
  override readonly name = 'ClientClosedError';
  constructor() {
    super('the Astaire client is closed');
  }
}

/** Bytes from a server that are not a meta-protocol reply; the connection cannot be trusted afterwards. */
export class MetaProtocolError extends AstaireError {
  override readonly name = 'MetaProtocolError';
}

export { TopologySourceError } from '../core';

/** `flush` through the memjs-compatible client: refused, it would empty every node of the cluster. */
export class FlushRefusedError extends AstaireError {
  override readonly name = 'FlushRefusedError';
}

/**
 * A write or delete was refused because the client could not confirm the topology within its lease:
 * its last successful poll of the cluster is older than `leaseMs` and polling again failed. The
 * workflow treats a client silent for longer than its acknowledgement TTL as gone and moves data
 * without it, so writing with the topology it holds could lose the write.
 */
export class TopologyLeaseExpiredError extends AstaireError {
  override readonly name = 'TopologyLeaseExpiredError';
}

/**
 * Live clients did not acknowledge the published epoch in time (the workflow's AwaitClients state
 * fails with this name and rolls the migration back). `pending` names each client, the node it
 * polls and the epoch it last acknowledged.
 */
export class ClientsNotSwitchedError extends AstaireError {
  override readonly name = 'ClientsNotSwitched';
  constructor(
    readonly epoch: number,
    readonly pending: readonly { client: string; node: string; epoch: number }[],
    waitedMs: number,
  ) {
    const shown = pending
      .slice(0, 20)
      .map((p) => `${p.client} (on ${p.node}, at epoch ${p.epoch})`)
      .join(', ');
    super(
      `${pending.length} client(s) did not switch to epoch ${epoch} within ${Math.round(waitedMs / 1000)} s: ${shown}${pending.length > 20 ? ', ...' : ''}; restart or unfreeze them, or wait for their acknowledgement to expire, then retry the migration`,
    );
  }
}
