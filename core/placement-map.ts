import { balancedPlacement } from './balanced-placement';
import { InvalidArgumentError } from './errors';
import { Placement } from './placement';
import type { Server, Topology } from './topology';

/**
 * The explicit vbucket map a topology may carry (`map` for `servers`, `newMap` for `newServers`).
 *
 * Format (a contract: clients in other languages decode it): standard base64 (with padding) of a
 * bit string. Slot `i = vbucket * r + rank` (r = min(replicas, number of servers)) holds the index,
 * in the server list the map belongs to, of that vbucket's rank-th replica, as an unsigned integer
 * of `w = max(1, bit length of (servers - 1))` bits (10 bits for 1000 servers), least significant
 * bit first: bit j of the string is bit (j mod 8) of byte floor(j / 8). Unused bits of the last
 * byte are 0. Rank 0 is the primary: reads try it first.
 */
export function encodePlacementMap(placement: Placement, servers: readonly Server[]): string {
  const position = new Map(servers.map((s, i) => [s.id, i]));
  const w = bitWidth(servers.length);
  const bytes = new Uint8Array(Math.ceil((placement.table.length * w) / 8));
  let bit = 0;
  for (const slot of placement.table) {
    const value = position.get(placement.ids[slot])!;
    for (let b = 0; b < w; b++, bit++) if ((value >> b) & 1) bytes[bit >> 3] |= 1 << (bit & 7);
  }
  return Buffer.from(bytes).toString('base64');
}

/**
 * The placement a map describes. Throws InvalidArgumentError when it does not fit `servers`
 * (wrong length, an index out of range, a server twice in one vbucket).
 */
export function decodePlacementMap(
  map: string,
  servers: readonly Server[],
  vbuckets: number,
  replicas: number,
): Placement {
  const r = Math.min(replicas, servers.length);
  const slots = vbuckets * r;
  const w = bitWidth(servers.length);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(map) || map.length % 4 !== 0)
    throw new InvalidArgumentError('is not base64');
  const bytes = Buffer.from(map, 'base64');
  if (bytes.length !== Math.ceil((slots * w) / 8))
    throw new InvalidArgumentError(
      `must hold ${slots} slots of ${w} bits (${Math.ceil((slots * w) / 8)} bytes), got ${bytes.length} bytes`,
    );
  const table = new Uint16Array(slots);
  let bit = 0;
  for (let i = 0; i < slots; i++) {
    let value = 0;
    for (let b = 0; b < w; b++, bit++) value |= ((bytes[bit >> 3] >> (bit & 7)) & 1) << b;
    if (value >= servers.length)
      throw new InvalidArgumentError(`slot ${i} names server ${value}, beyond the ${servers.length} listed`);
    table[i] = value;
  }
  for (let v = 0; v < vbuckets; v++)
    for (let k = 1; k < r; k++)
      for (let j = 0; j < k; j++)
        if (table[v * r + k] === table[v * r + j])
          throw new InvalidArgumentError(`vbucket ${v} lists server ${table[v * r + k]} twice`);
  return new Placement(
    servers.map((s) => s.id),
    vbuckets,
    replicas,
    table,
  );
}

function bitWidth(servers: number): number {
  return Math.max(1, 32 - Math.clz32(servers - 1));
}

/** The placement of a topology's `servers` (or `newServers`): its explicit map, else rendezvous. */
export function placementOf(topology: Topology, members: 'servers' | 'newServers' = 'servers'): Placement {
  const servers = (members === 'servers' ? topology.servers : topology.newServers) ?? [];
  const map = members === 'servers' ? topology.map : topology.newMap;
  if (map !== undefined) return decodePlacementMap(map, servers, topology.vbuckets, topology.replicas);
  return new Placement(
    servers.map((s) => s.id),
    topology.vbuckets,
    topology.replicas,
  );
}

/**
 * The map of `newServers` for a migration from `topology`'s members: balanced and zone-aware,
 * derived from the current placement so that little moves (see balancedPlacement). Undefined when
 * there is no server to place.
 */
export function planPlacementMap(topology: Topology, newServers: readonly Server[]): string | undefined {
  if (newServers.length === 0) return undefined;
  const placement = balancedPlacement(
    placementOf(topology),
    newServers,
    topology.vbuckets,
    topology.replicas,
  );
  return encodePlacementMap(placement, newServers);
}

/** How a placement spreads over zones: the zones of `servers`, and the vbuckets with two replicas in one zone. */
export function zoneSpread(
  placement: Placement,
  servers: readonly Server[],
): { zones: string[]; vbucketsSharingAZone: number } {
  const zoneOf = new Map(servers.map((s) => [s.id, s.zone ?? `(no zone: ${s.id})`]));
  const zones = [...new Set(servers.flatMap((s) => (s.zone === undefined ? [] : [s.zone])))].sort();
  let shared = 0;
  for (let v = 0; v < placement.vbuckets; v++) {
    const z = placement.replicasOf(v).map((id) => zoneOf.get(id));
    if (new Set(z).size < z.length) shared++;
  }
  return { zones, vbucketsSharingAZone: shared };
}
