import {
  ackKey,
  EPOCH_KEY,
  formatRoster,
  parseEpoch,
  parseRoster,
  ROSTER_KEY,
  serializeTopology,
  Server,
  Topology,
  TOPOLOGY_KEY,
} from '../core';
import { casOf, getText, setText, stored, textOf } from './cluster-wire';
import { MetaConnection } from './connection';
import { ClientsNotSwitchedError, ServerError } from './errors';

/**
 * The workflow's side of the cluster-served topology (docs/client-protocol.md): publish a document on
 * every member, and wait until every live client acknowledges its epoch. The agent runs it on AWS
 * (`astaire-agent await-clients`, sent by SSM to one member: the Lambdas are outside the VPC); local
 * mode runs the same functions in-process.
 */
export interface ClusterAdminOptions {
  /** @default 2000 */
  readonly requestTimeoutMs?: number;
  /** @default 2000 */
  readonly connectTimeoutMs?: number;
  /** Where progress lines go. */
  readonly log?: (line: string) => void;
}

export interface PublishResult {
  readonly epoch: number;
  /** Members that now serve the document. */
  readonly published: string[];
  /** Members that could not be written (down or leaving), with why. */
  readonly failed: { node: string; error: string }[];
}

export interface AwaitClientsResult extends PublishResult {
  /** Live clients, each at the epoch or later. */
  readonly clients: number;
  /** Acknowledgements found expired and dropped from the rosters. */
  readonly pruned: number;
  readonly waitedMs: number;
}

/** The members a document concerns: servers and newServers, each once. */
export function membersOf(topology: Topology): Server[] {
  const members = new Map<string, Server>();
  for (const s of [...topology.servers, ...(topology.newServers ?? [])]) members.set(s.address, s);
  return [...members.values()];
}

export class ClusterAdmin {
  private readonly connections = new Map<string, MetaConnection>();
  constructor(private readonly options: ClusterAdminOptions = {}) {}

  /**
   * Writes the document, then its epoch, on every member (the epoch last: a client that sees it finds
   * the document). Throws only when no member could be written.
   */
  async publish(topology: Topology): Promise<PublishResult> {
    const doc = serializeTopology(topology);
    const results = await Promise.allSettled(
      membersOf(topology).map(async (node) => {
        const c = this.connection(node);
        const [a, b] = await Promise.all([
          c.request(setText(TOPOLOGY_KEY, doc)),
          c.request(setText(EPOCH_KEY, String(topology.epoch))),
        ]);
        if (stored(node, a, `set ${TOPOLOGY_KEY}`) !== 'HD' || stored(node, b, `set ${EPOCH_KEY}`) !== 'HD')
          throw new Error('not stored');
        return node.id;
      }),
    );
    const members = membersOf(topology);
    const published: string[] = [];
    const failed: { node: string; error: string }[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') published.push(r.value);
      else
        failed.push({ node: `${members[i].id} (${members[i].address})`, error: (r.reason as Error).message });
    });
    if (published.length === 0 && members.length > 0)
      throw new ServerError(
        members[0],
        `could not publish epoch ${topology.epoch} on any member: ${failed.map((f) => `${f.node}: ${f.error}`).join('; ')}`,
      );
    return { epoch: topology.epoch, published, failed };
  }

  /**
   * Publishes `topology` and waits until every client listed on a member either acknowledges its epoch
   * (or a later one) or has let its acknowledgement expire (gone: pruned from the roster). Republishes
   * each round, so a member that restarted serves the document again. Waits at least `minWaitMs`; after
   * `timeoutMs` throws ClientsNotSwitchedError naming the clients that did not switch.
   */
  async awaitClients(
    topology: Topology,
    options: { timeoutMs: number; intervalMs?: number; minWaitMs?: number },
  ): Promise<AwaitClientsResult> {
    const started = Date.now();
    let pruned = 0;
    for (;;) {
      const published = await this.publish(topology);
      const round = await Promise.all(
        membersOf(topology).map((node) => this.acknowledgements(node).catch(() => undefined)),
      );
      // A client acknowledges on the node it polls, and moves when the members change: its acknowledgement
      // on the node it left stays until it expires. Its newest one counts (a client's epoch only grows, and
      // it acknowledges an epoch only once no write of an older one is in flight).
      const newest = new Map<string, { node: string; epoch: number }>();
      round.forEach((acks, i) => {
        if (!acks) return;
        pruned += acks.pruned;
        for (const [client, epoch] of acks.live) {
          const seen = newest.get(client);
          if (!seen || epoch > seen.epoch) newest.set(client, { node: membersOf(topology)[i].id, epoch });
        }
      });
      const clients = newest.size;
      const pending = [...newest]
        .filter(([, a]) => a.epoch < topology.epoch)
        .map(([client, a]) => ({ client, node: a.node, epoch: a.epoch }));
      const waitedMs = Date.now() - started;
      if (pending.length === 0 && waitedMs >= (options.minWaitMs ?? 0))
        return { ...published, clients, pruned, waitedMs };
      if (waitedMs >= options.timeoutMs) throw new ClientsNotSwitchedError(topology.epoch, pending, waitedMs);
      if (pending.length > 0)
        this.options.log?.(
          `waiting for ${pending.length} of ${clients} client(s) to switch to epoch ${topology.epoch} (${Math.round(waitedMs / 1000)} s of ${Math.round(options.timeoutMs / 1000)} s)`,
        );
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
    this.connections.clear();
  }

  /**
   * The clients listed on one member and the epoch each acknowledges; ids whose acknowledgement expired
   * are dropped from the roster with CAS (a client that appended meanwhile makes it fail: the next round
   * prunes again).
   */
  private async acknowledgements(node: Server): Promise<{ live: Map<string, number>; pruned: number }> {
    const c = this.connection(node);
    const rosterReply = await c.request(getText(ROSTER_KEY, { cas: true }));
    const text = textOf(node, rosterReply, `get ${ROSTER_KEY}`);
    const live = new Map<string, number>();
    if (text === undefined) return { live, pruned: 0 };
    const ids = parseRoster(text);
    const replies = await Promise.all(ids.map((id) => c.request(getText(ackKey(id)))));
    const gone: string[] = [];
    replies.forEach((reply, i) => {
      const value = textOf(node, reply, `get ${ackKey(ids[i])}`);
      const epoch = value === undefined ? undefined : parseEpoch(value);
      if (epoch === undefined) gone.push(ids[i]);
      else live.set(ids[i], epoch);
    });
    const duplicates = text.split('\n').filter((l) => l !== '').length > ids.length;
    if (gone.length > 0 || duplicates) {
      const cas = casOf(rosterReply);
      const reply = await c.request(setText(ROSTER_KEY, formatRoster([...live.keys()]), { cas }));
      stored(node, reply, `set ${ROSTER_KEY}`);
      if (reply.type !== 'HD') return { live, pruned: 0 };
    }
    return { live, pruned: gone.length };
  }

  private connection(node: Server): MetaConnection {
    let c = this.connections.get(node.address);
    if (!c) {
      c = new MetaConnection(node, {
        requestTimeoutMs: this.options.requestTimeoutMs ?? 2000,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 2000,
        retryDelayMs: 0,
        maxInFlight: 256,
      });
      this.connections.set(node.address, c);
    }
    return c;
  }
}
