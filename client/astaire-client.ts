import { EventEmitter } from 'node:events';
import {
  AstaireError,
  DEFAULT_TOMBSTONE_TTL_SECONDS,
  isTombstone,
  isWritableFlags,
  Key,
  keyBytes,
  MAX_CLIENT_FLAGS,
  Routing,
  Server,
  Topology,
  TOMBSTONE_FLAGS,
  vbucketOf,
} from '../core';
import { MetaConnection } from './connection';
import {
  ClientClosedError,
  InvalidOptionError,
  NoReplicaAvailableError,
  NoServersError,
  ServerError,
  ServerProtocolError,
  ServerRejectedError,
  TopologyLeaseExpiredError,
  ValueTooLargeError,
} from './errors';
import { flagValue, MetaReply } from './meta-parser';
import {
  deleteRequest,
  EncodedKey,
  encodeKey,
  getRequest,
  MAX_RELATIVE_TTL,
  maxTtl,
  arithmeticRequest,
  peekRequest,
  repairTtl,
  setRequest,
  tombstoneRequest,
  touchRequest,
  wireTtl,
} from './meta-request';
import { TopologySource } from './topology-source';

/** The poll interval for a source that states none (Parameter Store: its 40 TPS quota is shared). */
export const DEFAULT_POLL_INTERVAL_MS = 5000;

export interface AstaireClientOptions {
  /** Where the topology comes from: Parameter Store, a file or an in-memory value. */
  readonly source: TopologySource;
  /**
   * How often to re-read the source; 0 turns polling off. @default the source's
   * `defaultPollIntervalMs`: 1000 for the cluster, 5000 for Parameter Store, 1000 for a file
   */
  readonly pollIntervalMs?: number;
  /** A request not answered this long after it was written fails (that replica only). @default 1000 */
  readonly requestTimeoutMs?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
  /** After a server's connection fails, requests skip it at once for this long. @default 1000 */
  readonly retryDelayMs?: number;
  /** Requests written to one server and not yet answered; more wait in memory. @default 1024 */
  readonly maxInFlightPerServer?: number;
  /** Largest value accepted, in bytes (memcached's -I; the server may refuse a little less). @default 1048576 */
  readonly maxValueBytes?: number;
  /** Lifetime of a tombstone written by a delete during a migration, in seconds (1 to 30 days). @default 600 */
  readonly tombstoneTtlSeconds?: number;
  /**
   * During a migration, when a read misses on a new replica that the agent fills and then
   * hits on an old replica, copy the item there in add mode (see client/README.md,
   * "Read-repair"). Never delays the read. @default true
   */
  readonly readRepair?: boolean;
}

/** A value as read. */
export interface Item {
  readonly value: Buffer;
  readonly flags: number;
  /** Seconds until it expires, -1 when it never does. */
  readonly ttl: number;
}

export interface WriteOptions {
  /** Client flags, 0 to 0xFFFFFFFE (0xFFFFFFFF is reserved for tombstones). @default 0 */
  readonly flags?: number;
  /** Seconds until it expires; 0 never. Over 30 days is sent as an absolute time. @default 0 */
  readonly ttl?: number;
}

export type Value = Buffer | Uint8Array | string;

export interface ArithmeticOptions {
  /** Create a missing key holding this value (the delta is not applied then). @default a missing key stays missing */
  readonly initial?: number | bigint;
  /** TTL in seconds of a key created from `initial`; 0 never expires. @default 0 */
  readonly ttl?: number;
}

const MAX_COUNTER = (1n << 64n) - 1n;

/** A memcached counter operand: an unsigned 64-bit integer. */
function counter(value: number | bigint, name: string): bigint {
  const big = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (big < 0n || big > MAX_COUNTER)
    throw new InvalidOptionError(`${name} must be an integer from 0 to 2^64-1, got ${String(value)}`);
  return big;
}

export interface SetItem extends WriteOptions {
  readonly key: Key;
  readonly value: Value;
}

/** How one read-repair copy to one new replica ended. */
export interface ReadRepair {
  /** The key as in error messages (`0x...` for a binary key). */
  readonly key: string;
  /** The new replica the item was copied to. */
  readonly server: Server;
  /**
   * `stored`: the copy is there. `exists`: the replica already had the key (a concurrent
   * write, a tombstone or the agent's copy won, as add never overwrites; or the probe of a
   * replica the read did not ask found it). `failed`: see `error`.
   */
  readonly outcome: 'stored' | 'exists' | 'failed';
  readonly error?: Error;
}

/** Counters of read-repair since the client opened. */
export interface ReadRepairStats {
  /** Repairs begun: one per read, key and new replica (not one already under way for that key there). */
  started: number;
  stored: number;
  exists: number;
  failed: number;
  /** Items not copied because they had under MIN_REPAIR_TTL_SECONDS (2 s) left. */
  skippedExpiring: number;
}

export interface AstaireClientEvents {
  /** A new topology (another epoch) is in use. */
  topology: [topology: Topology, previous: Topology];
  /** The source failed or gave a topology that does not parse; the last good one stays in use. */
  topologyError: [error: Error];
  /** One replica failed a request that others served (a request no replica served rejects instead). */
  serverError: [error: ServerError];
  /** A read-repair copy finished (whatever its outcome). */
  readRepair: [repair: ReadRepair];
}

interface Epoch {
  readonly topology: Topology;
  readonly routing: Routing;
}

/** A key's place in one epoch: its read order, and the new replicas that get tombstones on delete. */
interface Route {
  readonly key: EncodedKey;
  readonly servers: Server[];
  readonly tombstoneIds: ReadonlySet<string>;
}

const NO_IDS: ReadonlySet<string> = new Set();

/**
 * The application client: routes each key to its vbucket's replicas (DESIGN "Hashing
 * and placement"), writes to every replica, reads from the first that has the key.
 * See client/README.md for the semantics during a migration and of tombstones.
 */
export class AstaireClient extends EventEmitter<AstaireClientEvents> {
  private epoch: Epoch;
  private readonly connections = new Map<string, MetaConnection>();
  private readonly options: Required<Omit<AstaireClientOptions, 'source'>>;
  private readonly source: TopologySource;
  private pollTimer?: NodeJS.Timeout;
  private refreshing?: Promise<Topology>;
  private unwatch?: () => void;
  private closed = false;
  /** When a poll of a source with a lease last succeeded (Date.now()). */
  private lastPoll = Date.now();
  /** Writes and deletes under way, by the epoch they were routed with (what the client acknowledges). */
  private readonly writesByEpoch = new Map<number, number>();
  /** Read-repair copies under way, by server and key (a second read of the key does not copy again). */
  private readonly repairs = new Map<string, Promise<void>>();
  private readonly repairCounts: ReadRepairStats = {
    started: 0,
    stored: 0,
    exists: 0,
    failed: 0,
    skippedExpiring: 0,
  };

  /** Reads the topology (throws if it cannot be read or does not parse) and starts polling. */
  static async open(options: AstaireClientOptions): Promise<AstaireClient> {
    const topology = await options.source.read();
    return new AstaireClient(options, topology);
  }

  private constructor(options: AstaireClientOptions, topology: Topology) {
    super();
    this.source = options.source;
    this.options = {
      pollIntervalMs: positiveInt(
        options.pollIntervalMs,
        options.source.defaultPollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
        'pollIntervalMs',
        0,
      ),
      requestTimeoutMs: positiveInt(options.requestTimeoutMs, 1000, 'requestTimeoutMs'),
      connectTimeoutMs: positiveInt(options.connectTimeoutMs, 1000, 'connectTimeoutMs'),
      retryDelayMs: positiveInt(options.retryDelayMs, 1000, 'retryDelayMs', 0),
      maxInFlightPerServer: positiveInt(options.maxInFlightPerServer, 1024, 'maxInFlightPerServer'),
      maxValueBytes: positiveInt(options.maxValueBytes, 1024 * 1024, 'maxValueBytes'),
      tombstoneTtlSeconds: positiveInt(
        options.tombstoneTtlSeconds,
        DEFAULT_TOMBSTONE_TTL_SECONDS,
        'tombstoneTtlSeconds',
      ),
      readRepair: options.readRepair ?? true,
    };
    if (typeof this.options.readRepair !== 'boolean')
      throw new InvalidOptionError(`readRepair must be a boolean, got ${String(options.readRepair)}`);
    if (this.options.tombstoneTtlSeconds > MAX_RELATIVE_TTL)
      throw new InvalidOptionError(`tombstoneTtlSeconds must be at most ${MAX_RELATIVE_TTL} (30 days)`);
    this.epoch = { topology, routing: new Routing(topology) };
    this.unwatch = this.source.watch?.(() => this.refreshQuietly());
    this.schedulePoll();
  }

  /** The topology in use. */
  get topology(): Topology {
    return this.epoch.topology;
  }

  /** The value, or undefined when no replica has it (or a tombstone says it was deleted). */
  async get(key: Key): Promise<Item | undefined> {
    return (await this.getMulti([key]))[0];
  }

  /**
   * Values of many keys, in the order given (undefined for a miss). Requests to each
   * server are pipelined. Rejects with NoReplicaAvailableError when some key's every
   * replica failed (a miss is not a failure).
   */
  async getMulti(keys: readonly Key[]): Promise<(Item | undefined)[]> {
    const epoch = this.current();
    const routes = keys.map((k) => this.route(epoch, k));
    const settled = await Promise.allSettled(routes.map((r) => this.readOne(r)));
    const results: (Item | undefined)[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      results.push(s.value);
    }
    return results;
  }

  /** Stores the value on every replica; resolves when at least one stored it. */
  async set(key: Key, value: Value, options: WriteOptions = {}): Promise<void> {
    return this.writing(async (epoch) => {
      const route = this.route(epoch, key);
      const parts = setRequest(
        route.key,
        this.valueBytes(value),
        this.flags(options.flags),
        this.ttl(options.ttl),
        'set',
      );
      await this.fanOut('set', route, async (server) => {
        const reply = await this.call(server, parts, value);
        if (reply.type !== 'HD') throw this.unexpected(server, reply, 'set');
      });
    });
  }

  /** set() for many items, pipelined; rejects with the first failure after all have finished. */
  async setMulti(items: readonly SetItem[]): Promise<void> {
    const settled = await Promise.allSettled(items.map((i) => this.set(i.key, i.value, i)));
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }

  /**
   * Stores the value only where the key is absent (a tombstone counts as absent).
   * Sent to every replica; the answer is the first replica's in read order that
   * answered, so two racing clients get the same verdict.
   */
  async add(key: Key, value: Value, options: WriteOptions = {}): Promise<boolean> {
    return this.writing(async (epoch) => {
      const route = this.route(epoch, key);
      const bytes = this.valueBytes(value);
      const flags = this.flags(options.flags);
      const ttl = this.ttl(options.ttl);
      const results = await this.fanOut('add', route, async (server) => {
        const reply = await this.call(server, setRequest(route.key, bytes, flags, ttl, 'add'), value);
        if (reply.type === 'HD') return true;
        if (reply.type !== 'NS') throw this.unexpected(server, reply, 'add');
        const peek = await this.call(server, peekRequest(route.key));
        if (peek.type === 'EN') return false;
        if (peek.type !== 'HD') throw this.unexpected(server, peek, 'add');
        if (!isTombstone(Number(flagValue(peek.flags, 'f')), Number(flagValue(peek.flags, 's'))))
          return false;
        const cas = flagValue(peek.flags, 'c');
        const replace = await this.call(server, setRequest(route.key, bytes, flags, ttl, 'set', cas), value);
        return replace.type === 'HD';
      });
      return results.find((r) => r !== undefined) as boolean;
    });
  }

  /**
   * Stores the value only where the key holds a value (not a tombstone), on every replica, each
   * guarded by the CAS it read; true when some replica replaced it. During a migration a new
   * replica may not hold the key yet: the agent's later copy carries the replaced value from the
   * old replicas.
   */
  async replace(key: Key, value: Value, options: WriteOptions = {}): Promise<boolean> {
    return this.writing(async (epoch) => {
      const route = this.route(epoch, key);
      const bytes = this.valueBytes(value);
      const flags = this.flags(options.flags);
      const ttl = this.ttl(options.ttl);
      const results = await this.fanOut('replace', route, async (server) => {
        // A write between our peek and our set changes the CAS: look again (bounded).
        for (let attempt = 0; attempt < 5; attempt++) {
          const peek = await this.call(server, peekRequest(route.key));
          if (peek.type === 'EN') return false;
          if (peek.type !== 'HD') throw this.unexpected(server, peek, 'replace');
          if (isTombstone(Number(flagValue(peek.flags, 'f')), Number(flagValue(peek.flags, 's'))))
            return false;
          const cas = flagValue(peek.flags, 'c');
          const reply = await this.call(server, setRequest(route.key, bytes, flags, ttl, 'set', cas), value);
          if (reply.type === 'HD') return true;
          if (reply.type === 'NF') return false;
          if (reply.type !== 'EX') throw this.unexpected(server, reply, 'replace');
        }
        throw new ServerProtocolError(server, 'replace: the item kept changing under 5 attempts');
      });
      return results.some((r) => r === true);
    });
  }

  /**
   * Adds `delta` (an unsigned 64-bit counter, as memcached keeps it) on every replica and returns
   * the new value, or undefined when no replica holds the key and `initial` is not given. With
   * `initial`, a missing key is created holding it, with `ttl`. During a migration the new
   * replicas the agent fills are not created from `initial` (the agent copies the counter there),
   * and the answer comes from a replica that already held it.
   */
  async increment(
    key: Key,
    delta: number | bigint,
    options: ArithmeticOptions = {},
  ): Promise<bigint | undefined> {
    return this.arithmetic('increment', key, delta, options);
  }

  /** Subtracts `delta` like {@link increment}; memcached stops a counter at 0. */
  async decrement(
    key: Key,
    delta: number | bigint,
    options: ArithmeticOptions = {},
  ): Promise<bigint | undefined> {
    return this.arithmetic('decrement', key, delta, options);
  }

  private async arithmetic(
    direction: 'increment' | 'decrement',
    key: Key,
    delta: number | bigint,
    options: ArithmeticOptions,
  ): Promise<bigint | undefined> {
    const amount = counter(delta, 'delta');
    const initial = options.initial === undefined ? undefined : counter(options.initial, 'initial');
    const ttl = this.ttl(options.ttl);
    return this.writing(async (epoch) => {
      const route = this.route(epoch, key);
      const results = await this.fanOut(direction, route, async (server) => {
        const create = initial !== undefined && !route.tombstoneIds.has(server.id);
        const reply = await this.call(
          server,
          arithmeticRequest(route.key, direction, amount, initial ?? 0n, create ? ttl : undefined),
        );
        if (reply.type === 'NF' || reply.type === 'EN') return undefined;
        if (reply.type === 'CLIENT_ERROR')
          throw new InvalidOptionError(`${direction} ${route.key.display}: the value is not a counter`);
        if (reply.type !== 'VA') throw this.unexpected(server, reply, direction);
        return BigInt(reply.value.toString('latin1'));
      });
      const answers = route.servers.map((s, i) => ({ server: s, value: results[i] }));
      const settled =
        answers.find((a) => a.value !== undefined && !route.tombstoneIds.has(a.server.id)) ??
        answers.find((a) => a.value !== undefined);
      return settled?.value;
    });
  }

  /**
   * Deletes the key everywhere. During a migration, the new replicas that the agent
   * copies into get a tombstone instead (see client/README.md), so a copy the agent
   * fetched before the delete cannot bring the key back. Resolves true when some
   * replica held the key.
   */
  async delete(key: Key): Promise<boolean> {
    return this.writing(async (epoch) => {
      const route = this.route(epoch, key);
      const tombstone = tombstoneRequest(route.key, this.options.tombstoneTtlSeconds);
      const del = deleteRequest(route.key);
      const results = await this.fanOut('delete', route, async (server) => {
        if (route.tombstoneIds.has(server.id)) {
          const reply = await this.call(server, tombstone);
          if (reply.type !== 'HD') throw this.unexpected(server, reply, 'delete');
          return false;
        }
        const reply = await this.call(server, del);
        if (reply.type === 'HD') return true;
        if (reply.type === 'NF') return false;
        throw this.unexpected(server, reply, 'delete');
      });
      return results.some((r) => r === true);
    });
  }

  /** Sets a new TTL (seconds, 0 never) on every replica; true when some replica held the key. */
  async touch(key: Key, ttlSeconds: number): Promise<boolean> {
    return this.writing(async (epoch) => {
      const route = this.route(epoch, key);
      const parts = touchRequest(route.key, this.ttl(ttlSeconds));
      const results = await this.fanOut('touch', route, async (server) => {
        const reply = await this.call(server, parts);
        if (reply.type === 'EN') return false;
        if (reply.type !== 'HD') throw this.unexpected(server, reply, 'touch');
        if (!isTombstone(Number(flagValue(reply.flags, 'f')), Number(flagValue(reply.flags, 's'))))
          return true;
        // The touch gave a tombstone the caller's TTL (maybe "never"): put its bounded lifetime back,
        // unless someone wrote the key meanwhile (CAS).
        await this.call(
          server,
          tombstoneRequest(route.key, this.options.tombstoneTtlSeconds, flagValue(reply.flags, 'c')),
        );
        return false;
      });
      return results.some((r) => r === true);
    });
  }

  /** Read-repair counters since the client opened (a copy). */
  get readRepairStats(): ReadRepairStats {
    return { ...this.repairCounts };
  }

  /**
   * Resolves when no read-repair copy is under way (those that reads start meanwhile
   * included). Never rejects: outcomes are in `readRepairStats` and the `readRepair` event.
   */
  async settleRepairs(): Promise<void> {
    while (this.repairs.size > 0) await Promise.all(this.repairs.values());
  }

  /** Re-reads the source now and switches to its topology if the epoch changed. */
  refreshTopology(): Promise<Topology> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    if (!this.refreshing)
      this.refreshing = (this.source.poll ? this.source.poll(this.inUseEpoch()) : this.source.read())
        .then((topology) => {
          this.lastPoll = Date.now();
          const previous = this.epoch.topology.epoch;
          const applied = this.apply(topology);
          // A source that takes acknowledgements hears of the new epoch at once, not a poll later.
          if (this.source.poll && applied.epoch !== previous) setImmediate(() => this.refreshQuietly());
          return applied;
        })
        .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Stops polling, lets pending requests finish (or time out) and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.unwatch?.();
    await Promise.all([
      ...[...this.connections.values()].map((c) => c.close()),
      this.source.close?.().catch((error: unknown) => this.emit('topologyError', asError(error))),
    ]);
    this.connections.clear();
  }

  private current(): Epoch {
    if (this.closed) throw new ClientClosedError();
    return this.epoch;
  }

  /**
   * Runs a write or delete with the current epoch, counted under that epoch until it ends: the client
   * acknowledges only the oldest epoch it still writes under. With a source that has a lease, a client
   * whose last successful poll is older than the lease polls first, and refuses the write if it cannot.
   */
  private async writing<T>(op: (epoch: Epoch) => Promise<T>): Promise<T> {
    this.current();
    const lease = this.source.poll ? this.source.leaseMs : undefined;
    if (lease !== undefined && Date.now() - this.lastPoll > lease)
      await this.refreshTopology().catch((error: unknown) => {
        if (error instanceof ClientClosedError) throw error;
        throw new TopologyLeaseExpiredError(
          `astaire client: the topology was last confirmed ${Date.now() - this.lastPoll} ms ago (lease ${lease} ms) and polling ${this.source.description} failed: ${asError(error).message}; the write was not sent (retry when the cluster answers)`,
          { cause: error },
        );
      });
    const epoch = this.current();
    const id = epoch.topology.epoch;
    this.writesByEpoch.set(id, (this.writesByEpoch.get(id) ?? 0) + 1);
    try {
      return await op(epoch);
    } finally {
      const left = this.writesByEpoch.get(id)! - 1;
      if (left === 0) this.writesByEpoch.delete(id);
      else this.writesByEpoch.set(id, left);
    }
  }

  /** The epoch the client acknowledges: the oldest it still has writes under, else the one in use. */
  private inUseEpoch(): number {
    let oldest = this.epoch.topology.epoch;
    for (const e of this.writesByEpoch.keys()) if (e < oldest) oldest = e;
    return oldest;
  }

  private route(epoch: Epoch, key: Key): Route {
    const encoded = encodeKey(key);
    const { topology, routing } = epoch;
    if (topology.servers.length === 0 && (topology.newServers?.length ?? 0) === 0)
      throw new NoServersError(topology.cluster);
    const vbucket = vbucketOf(keyBytes(key), topology.vbuckets);
    const servers = routing.readOrder(vbucket);
    if (!routing.next) return { key: encoded, servers, tombstoneIds: NO_IDS };
    // The agent copies only into new replicas that were not old ones: those get tombstones.
    const old = routing.current.replicasOf(vbucket);
    const tombstoneIds = new Set(routing.next.replicasOf(vbucket).filter((id) => !old.includes(id)));
    return { key: encoded, servers, tombstoneIds };
  }

  /**
   * Tries the replicas in read order: a hit or a tombstone ends it, a miss or a failure
   * moves on. A hit on an old replica starts a read-repair (not awaited) of the new
   * replicas the agent fills: those that missed, and those after it in read order that
   * the read never asked (they are probed first).
   */
  private async readOne(route: Route): Promise<Item | undefined> {
    const failures: ServerError[] = [];
    const missed: Server[] = [];
    let answered = false;
    for (const [index, server] of route.servers.entries()) {
      let reply: MetaReply;
      try {
        reply = await this.call(server, getRequest(route.key));
        if (reply.type !== 'VA' && reply.type !== 'EN') throw this.unexpected(server, reply, 'get');
      } catch (error) {
        if (!(error instanceof ServerError)) throw error;
        failures.push(error);
        continue;
      }
      answered = true;
      if (reply.type !== 'VA') {
        if (route.tombstoneIds.has(server.id)) missed.push(server);
        continue;
      }
      const flags = Number(flagValue(reply.flags, 'f') ?? 0);
      if (isTombstone(flags, reply.value)) break;
      const item = { value: reply.value, flags, ttl: Number(flagValue(reply.flags, 't') ?? -1) };
      if (this.options.readRepair && route.tombstoneIds.size > 0 && !route.tombstoneIds.has(server.id)) {
        const unasked = route.servers.slice(index + 1).filter((s) => route.tombstoneIds.has(s.id));
        if (missed.length > 0 || unasked.length > 0) this.repair(route, missed, unasked, item);
      }
      for (const f of failures) this.emit('serverError', f);
      return item;
    }
    if (!answered) throw new NoReplicaAvailableError('get', route.key.display, failures);
    for (const f of failures) this.emit('serverError', f);
    return undefined;
  }

  /**
   * Copies an item read from an old replica to the new replicas that missed it, and to
   * those not asked whose probe misses, with add (`ms ... ME`): it never replaces a write
   * or a tombstone that got there first.
   */
  private repair(route: Route, missed: readonly Server[], unasked: readonly Server[], item: Item): void {
    if (this.closed) return;
    const ttl = repairTtl(item.ttl, Date.now() / 1000);
    if (ttl === undefined) {
      this.repairCounts.skippedExpiring++;
      return;
    }
    const parts = setRequest(route.key, item.value, item.flags, ttl, 'add');
    const targets = [...missed.map((s) => [s, false] as const), ...unasked.map((s) => [s, true] as const)];
    for (const [server, probe] of targets) {
      const id = `${server.id}@${server.address} ${route.key.base64 ? 'b' : 'p'} ${route.key.token}`;
      if (this.repairs.has(id)) continue;
      this.repairCounts.started++;
      const done = this.repairOne(route, server, parts, probe).then((repair) => {
        this.repairs.delete(id);
        this.repairCounts[repair.outcome]++;
        try {
          this.emit('readRepair', repair);
        } catch (error) {
          // No caller awaits a repair: a throwing listener is uncaught, as in any socket event.
          process.nextTick(() => {
            throw error;
          });
        }
      });
      this.repairs.set(id, done);
    }
  }

  private async repairOne(
    route: Route,
    server: Server,
    parts: Buffer[],
    probe: boolean,
  ): Promise<ReadRepair> {
    const key = route.key.display;
    try {
      if (probe) {
        const peek = await this.call(server, peekRequest(route.key));
        if (peek.type === 'HD') return { key, server, outcome: 'exists' };
        if (peek.type !== 'EN')
          return {
            key,
            server,
            outcome: 'failed',
            error: this.unexpected(server, peek, 'read-repair probe'),
          };
      }
      const reply = await this.call(server, parts);
      if (reply.type === 'HD') return { key, server, outcome: 'stored' };
      if (reply.type === 'NS') return { key, server, outcome: 'exists' };
      return { key, server, outcome: 'failed', error: this.unexpected(server, reply, 'read-repair add') };
    } catch (error) {
      return { key, server, outcome: 'failed', error: asError(error) };
    }
  }

  /**
   * Runs `op` on every server of the route at once. Resolves with each server's result
   * (undefined where it failed) when at least one succeeded; bad input reported by a
   * server (a value over its item size) rejects at once.
   */
  private async fanOut<T>(
    operation: string,
    route: Route,
    op: (server: Server) => Promise<T>,
  ): Promise<(T | undefined)[]> {
    const settled = await Promise.allSettled(route.servers.map(op));
    const failures: ServerError[] = [];
    let ok = false;
    for (const s of settled) {
      if (s.status === 'fulfilled') ok = true;
      else if (s.reason instanceof ServerError) failures.push(s.reason);
      else throw s.reason;
    }
    if (!ok) throw new NoReplicaAvailableError(operation, route.key.display, failures);
    for (const f of failures) this.emit('serverError', f);
    return settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  }

  /** One request to one server; SERVER_ERROR replies become errors naming the server. */
  private async call(server: Server, parts: Buffer[], value?: Value): Promise<MetaReply> {
    const reply = await this.connection(server).request(parts);
    if (reply.type === 'SERVER_ERROR') {
      if (/too large/i.test(reply.message))
        throw new ValueTooLargeError(
          value === undefined ? 0 : this.valueBytes(value).length,
          undefined,
          server,
        );
      throw new ServerRejectedError(server, `SERVER_ERROR ${reply.message}`);
    }
    return reply;
  }

  private unexpected(server: Server, reply: MetaReply, operation: string): ServerError {
    return new ServerProtocolError(server, `unexpected reply ${reply.type} to ${operation}`);
  }

  private connection(server: Server): MetaConnection {
    const id = `${server.id}@${server.address}`;
    let c = this.connections.get(id);
    if (!c) {
      c = new MetaConnection(server, {
        requestTimeoutMs: this.options.requestTimeoutMs,
        connectTimeoutMs: this.options.connectTimeoutMs,
        retryDelayMs: this.options.retryDelayMs,
        maxInFlight: this.options.maxInFlightPerServer,
      });
      this.connections.set(id, c);
    }
    return c;
  }

  private valueBytes(value: Value): Buffer {
    const bytes =
      typeof value === 'string'
        ? Buffer.from(value, 'utf8')
        : Buffer.isBuffer(value)
          ? value
          : value instanceof Uint8Array
            ? Buffer.from(value.buffer, value.byteOffset, value.length)
            : undefined;
    if (!bytes) throw new InvalidOptionError('value must be a Buffer, Uint8Array or string');
    if (bytes.length > this.options.maxValueBytes)
      throw new ValueTooLargeError(bytes.length, this.options.maxValueBytes);
    return bytes;
  }

  private flags(flags: number | undefined): number {
    if (flags === undefined) return 0;
    if (flags === TOMBSTONE_FLAGS)
      throw new InvalidOptionError(
        `client flags ${TOMBSTONE_FLAGS} (0xFFFFFFFF) are reserved for Astaire tombstones`,
      );
    if (!isWritableFlags(flags))
      throw new InvalidOptionError(
        `client flags must be an integer from 0 to ${MAX_CLIENT_FLAGS}, got ${flags}`,
      );
    return flags;
  }

  private ttl(ttl: number | undefined): number {
    if (ttl === undefined) return 0;
    const now = Date.now() / 1000;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > maxTtl(now))
      throw new InvalidOptionError(
        `ttl must be a whole number of seconds from 0 to ${maxTtl(now)}, got ${ttl}`,
      );
    return wireTtl(ttl, now);
  }

  private apply(topology: Topology): Topology {
    const previous = this.epoch.topology;
    if (topology.epoch === previous.epoch && topology.cluster === previous.cluster) return previous;
    // Routing checks what the parser cannot (an id with two addresses); a failure keeps the last good one.
    const routing = new Routing(topology);
    this.epoch = { topology, routing };
    const live = new Set(
      [...topology.servers, ...(topology.newServers ?? [])].map((s) => `${s.id}@${s.address}`),
    );
    for (const [id, c] of this.connections)
      if (!live.has(id)) {
        this.connections.delete(id);
        void c.close();
      }
    this.emit('topology', topology, previous);
    return topology;
  }

  private refreshQuietly(): void {
    if (this.closed) return;
    this.refreshTopology().catch((error: unknown) => this.emit('topologyError', asError(error)));
  }

  private schedulePoll(): void {
    if (this.options.pollIntervalMs === 0 || this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.refreshTopology()
        .catch((error: unknown) => this.emit('topologyError', asError(error)))
        .finally(() => this.schedulePoll());
    }, this.options.pollIntervalMs);
    this.pollTimer.unref();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new AstaireError(String(error));
}

function positiveInt(value: number | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min)
    throw new InvalidOptionError(`${name} must be an integer >= ${min}, got ${value}`);
  return value;
}
