import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  ackKey,
  EPOCH_KEY,
  isClientId,
  parseAddress,
  parseEpoch,
  parseTopology,
  pollOrder,
  ROSTER_KEY,
  Server,
  Topology,
  TOPOLOGY_KEY,
} from '../core';
import { appendLine, deleteText, getText, setText, stored, textOf } from './cluster-wire';
import { MetaConnection } from './connection';
import { InvalidOptionError, TopologySourceError } from './errors';
import { TopologySource } from './topology-source';

/** How often a client polls its node by default: one pipelined round trip, so every second is cheap. */
export const CLUSTER_POLL_INTERVAL_MS = 1000;
/** Lifetime of a client's acknowledgement: a client silent this long counts as gone. */
export const DEFAULT_ACK_TTL_SECONDS = 10;

export interface ClusterTopologySourceOptions {
  /** Node addresses (`host:port`) to ask first, before any topology is known. */
  readonly seeds?: readonly string[];
  /**
   * Read when no node answers (at start, or when every known node fails): Parameter Store or a file.
   * Read at most once per `bootstrapIntervalMs`.
   */
  readonly bootstrap?: TopologySource;
  /** @default 60000 */
  readonly bootstrapIntervalMs?: number;
  /** This client's id in acknowledgements and in a workflow's timeout message. @default `<hostname>-<pid>-<random>` */
  readonly clientId?: string;
  /** @default 10 */
  readonly ackTtlSeconds?: number;
  /**
   * A client whose last successful poll is older than this polls again before a write or a delete.
   * Shorter than the acknowledgement's TTL, so a client the workflow took for gone never writes with the
   * topology it held. @default half the acknowledgement TTL
   */
  readonly leaseMs?: number;
  /** @default 1000 */
  readonly requestTimeoutMs?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
}

/**
 * The topology as the cluster serves it (docs/client-protocol.md): the client polls one member
 * (chosen by its id, failing over to the next) for `astaire:epoch` and acknowledges the epoch it uses
 * in the same round trip; it fetches `astaire:topology` only when the epoch moved. Parameter Store or
 * a file (`bootstrap`) is read only when no node answers. One source per client: it carries the
 * client's id.
 */
export class ClusterTopologySource implements TopologySource {
  readonly description: string;
  readonly defaultPollIntervalMs = CLUSTER_POLL_INTERVAL_MS;
  readonly clientId: string;
  readonly leaseMs: number;
  readonly ackTtlSeconds: number;
  private known?: Topology;
  private readonly connections = new Map<string, MetaConnection>();
  /** Nodes whose roster lists this client since its acknowledgement was last found present. */
  private readonly listed = new Set<string>();
  private lastBootstrap = -Infinity;
  /** Bootstrap reads so far (Parameter Store GetParameter calls, with that source). */
  bootstrapReads = 0;

  constructor(private readonly options: ClusterTopologySourceOptions) {
    if (!options.seeds?.length && !options.bootstrap)
      throw new InvalidOptionError('a cluster topology source needs seeds or a bootstrap source');
    for (const seed of options.seeds ?? [])
      if (!parseAddress(seed))
        throw new InvalidOptionError(`seed must be HOST:PORT, got ${JSON.stringify(seed)}`);
    this.clientId = options.clientId ?? defaultClientId();
    if (!isClientId(this.clientId))
      throw new InvalidOptionError(
        `clientId must be 1 to 120 letters, digits, '.', '_' or '-', got ${JSON.stringify(this.clientId)}`,
      );
    this.ackTtlSeconds = options.ackTtlSeconds ?? DEFAULT_ACK_TTL_SECONDS;
    if (!Number.isInteger(this.ackTtlSeconds) || this.ackTtlSeconds < 2)
      throw new InvalidOptionError(`ackTtlSeconds must be an integer >= 2, got ${this.ackTtlSeconds}`);
    this.leaseMs = options.leaseMs ?? (this.ackTtlSeconds * 1000) / 2;
    if (!(this.leaseMs > 0 && this.leaseMs < this.ackTtlSeconds * 1000))
      throw new InvalidOptionError(
        `leaseMs must be above 0 and below the acknowledgement TTL (${this.ackTtlSeconds * 1000} ms), got ${this.leaseMs}`,
      );
    this.description = `cluster (${options.seeds?.length ? `seeds ${options.seeds.join(',')}` : options.bootstrap!.description})`;
  }

  /** The current topology, acknowledged as the one the client is about to use. */
  read(): Promise<Topology> {
    return this.poll(undefined);
  }

  /**
   * One poll: the topology from the first member that answers, acknowledging `inUse` there (the
   * oldest epoch the client still has writes under). Throws TopologySourceError when neither a node
   * nor the bootstrap source answers.
   */
  async poll(inUse: number | undefined): Promise<Topology> {
    const failures: string[] = [];
    const tryNodes = async (acknowledge = true): Promise<Topology | undefined> => {
      for (const node of this.candidates()) {
        try {
          return await this.pollNode(node, inUse, acknowledge);
        } catch (error) {
          failures.push(`${node.address}: ${(error as Error).message}`);
        }
      }
      return undefined;
    };
    // Seeds only tell the members: the acknowledgement goes to the member this client polls.
    if (!this.known && (await tryNodes(false))) return (await tryNodes()) ?? this.known!;
    const fromNodes = await tryNodes();
    if (fromNodes) return fromNodes;
    const bootstrap = this.options.bootstrap;
    if (bootstrap && Date.now() - this.lastBootstrap >= (this.options.bootstrapIntervalMs ?? 60_000)) {
      this.lastBootstrap = Date.now();
      this.bootstrapReads++;
      const topology = await bootstrap.read();
      if (!this.known || topology.epoch >= this.known.epoch) this.known = topology;
      // The document names the members: ask them (they may serve a newer epoch than the bootstrap's).
      return (await tryNodes()) ?? this.known;
    }
    throw new TopologySourceError(
      this.description,
      `no node answered (${failures.join('; ') || 'no node known'})`,
    );
  }

  /** Deletes this client's acknowledgements (a closed client holds no migration) and closes sockets. */
  async close(): Promise<void> {
    await Promise.allSettled(
      [...this.listed].map((address) =>
        this.connections.get(address)?.request(deleteText(ackKey(this.clientId))),
      ),
    );
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }

  /** Members of the known topology in this client's order, else the seeds. */
  private candidates(): Server[] {
    const members = new Map<string, Server>();
    for (const s of [...(this.known?.servers ?? []), ...(this.known?.newServers ?? [])]) members.set(s.id, s);
    if (members.size > 0) return pollOrder(this.clientId, [...members.values()]);
    return (this.options.seeds ?? []).map((address) => ({ id: `seed ${address}`, address }));
  }

  private async pollNode(node: Server, inUse: number | undefined, acknowledge: boolean): Promise<Topology> {
    const c = this.connection(node);
    const ack = ackKey(this.clientId);
    // The usual poll is one round trip: the epoch, and the acknowledgement read and touched.
    const [epochReply, ackReply] = await Promise.all([
      c.request(getText(EPOCH_KEY)),
      inUse === undefined ? undefined : c.request(getText(ack, { touchTtl: this.ackTtlSeconds })),
    ]);
    const epochText = textOf(node, epochReply, `get ${EPOCH_KEY}`);
    const epoch = epochText === undefined ? undefined : parseEpoch(epochText);
    if (epoch === undefined)
      throw new Error(`holds no topology (${EPOCH_KEY} ${epochText === undefined ? 'absent' : 'malformed'})`);
    let topology = this.known;
    if (!topology || topology.epoch !== epoch) {
      const text = textOf(node, await c.request(getText(TOPOLOGY_KEY)), `get ${TOPOLOGY_KEY}`);
      if (text === undefined) throw new Error(`holds ${EPOCH_KEY} ${epoch} but no ${TOPOLOGY_KEY}`);
      topology = parseTopology(text, `${TOPOLOGY_KEY} on ${node.address}`);
      if (this.known && topology.cluster !== this.known.cluster)
        throw new Error(`serves cluster ${topology.cluster}, not ${this.known.cluster}`);
    }
    if (!acknowledge) {
      this.known = topology;
      return topology;
    }
    // A client that opens acknowledges the epoch it is about to use before it sends anything.
    const acked = ackReply ? textOf(node, ackReply, `get ${ack}`) : undefined;
    if (acked === undefined) this.listed.delete(node.address);
    const want = String(inUse ?? topology.epoch);
    if (acked !== want) {
      const reply = await c.request(setText(ack, want, { ttl: this.ackTtlSeconds }));
      if (stored(node, reply, `set ${ack}`) !== 'HD') throw new Error(`set ${ack}: not stored`);
    }
    // After the acknowledgement is set: the awaiter prunes only ids whose acknowledgement is absent.
    if (!this.listed.has(node.address)) {
      await appendLine(c, ROSTER_KEY, `${this.clientId}\n`);
      this.listed.add(node.address);
    }
    this.known = topology;
    return topology;
  }

  private connection(node: Server): MetaConnection {
    let c = this.connections.get(node.address);
    if (!c) {
      c = new MetaConnection(
        { id: node.id, address: node.address },
        {
          requestTimeoutMs: this.options.requestTimeoutMs ?? 1000,
          connectTimeoutMs: this.options.connectTimeoutMs ?? 1000,
          retryDelayMs: 0,
          maxInFlight: 16,
        },
      );
      this.connections.set(node.address, c);
    }
    return c;
  }
}

function defaultClientId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 60) || 'host';
  return `${host}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
