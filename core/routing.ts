import { InvalidArgumentError } from './errors';
import { Placement } from './placement';
import { placementOf } from './placement-map';
import { Server, Topology } from './topology';

/**
 * Where each vbucket's reads and writes go for one topology (one epoch).
 * Build it once per epoch and reuse it: the placement is the expensive part.
 *
 * - No migration: reads try the replicas in rank order; writes go to all of them.
 * - During a migration: reads try the new replicas, then the old ones that are not
 *   new; writes and deletes go to the union, so a rollback to the old members
 *   loses nothing and a commit finds every write on its new replicas.
 */
export class Routing {
  readonly current: Placement;
  readonly next?: Placement;
  private readonly byId: Map<string, Server>;

  constructor(readonly topology: Topology) {
    this.current = placementOf(topology, 'servers');
    this.byId = new Map(topology.servers.map((s) => [s.id, s]));
    if (topology.newServers) {
      this.next = placementOf(topology, 'newServers');
      for (const s of topology.newServers) {
        const old = this.byId.get(s.id);
        if (old && old.address !== s.address)
          throw new InvalidArgumentError(
            `server ${s.id} has address ${old.address} in servers but ${s.address} in newServers`,
          );
        this.byId.set(s.id, s);
      }
    }
  }

  /** Servers to read `vbucket` from, in order; stop at the first hit. */
  readOrder(vbucket: number): Server[] {
    return this.union(vbucket);
  }

  /** Servers every write or delete of `vbucket` must reach. */
  writeSet(vbucket: number): Server[] {
    return this.union(vbucket);
  }

  /** The server with this id, from either member list. */
  server(id: string): Server | undefined {
    return this.byId.get(id);
  }

  private union(vbucket: number): Server[] {
    if (!Number.isInteger(vbucket) || vbucket < 0 || vbucket >= this.topology.vbuckets)
      throw new InvalidArgumentError(
        `vbucket must be an integer in [0, ${this.topology.vbuckets}), got ${vbucket}`,
      );
    const ids = this.next ? this.next.replicasOf(vbucket) : [];
    for (const id of this.current.replicasOf(vbucket)) if (!ids.includes(id)) ids.push(id);
    return ids.map((id) => this.byId.get(id) as Server);
  }
}
