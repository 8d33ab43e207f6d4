import { parseAddress, Server, Topology } from '../core';
import { UsageError } from './errors';

/** A change to try on a committed topology: `--to N`, `--add ID=ADDR`, `--remove ID`. */
export interface WhatIf {
  readonly to?: number;
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/** What the what-if did to the member list, for the output. */
export interface WhatIfChange {
  readonly added: readonly Server[];
  readonly removed: readonly string[];
}

/** A server that `--to N` adds: no address is known before the instance launches. */
export const UNKNOWN_ADDRESS = '(new)';

/**
 * The topology with `newServers` that the change would give: `--remove` and `--add` first, then
 * `--to N` adds `new-1`, `new-2`, ... or removes the last members in list order (the group's
 * termination policy may choose others).
 */
export function applyWhatIf(
  topology: Topology,
  change: WhatIf,
): { topology: Topology; change: WhatIfChange } {
  if (topology.newServers)
    throw new UsageError(
      `topology of cluster ${topology.cluster} has a migration in progress (epoch ${topology.epoch}); plan it without --to, --add or --remove`,
    );
  let servers: Server[] = [...topology.servers];
  const ids = () => servers.map((s) => s.id).join(', ') || 'none';
  const removed: string[] = [];
  const added: Server[] = [];
  for (const id of change.remove) {
    if (!servers.some((s) => s.id === id))
      throw new UsageError(`--remove ${id}: no such server in the topology (servers: ${ids()})`);
    servers = servers.filter((s) => s.id !== id);
    removed.push(id);
  }
  for (const spec of change.add) {
    const eq = spec.indexOf('=');
    const id = spec.slice(0, eq);
    const address = spec.slice(eq + 1);
    if (eq < 1 || !parseAddress(address))
      throw new UsageError(
        `--add must be ID=HOST:PORT, such as node-4=10.0.0.4:11211, got ${JSON.stringify(spec)}`,
      );
    if (servers.some((s) => s.id === id)) throw new UsageError(`--add ${id}: the topology already has it`);
    const server = { id, address };
    servers.push(server);
    added.push(server);
  }
  if (change.to !== undefined) {
    for (let n = 1; servers.length < change.to; n++)
      if (!servers.some((s) => s.id === `new-${n}`)) {
        const server = { id: `new-${n}`, address: UNKNOWN_ADDRESS };
        servers.push(server);
        added.push(server);
      }
    while (servers.length > change.to) removed.push(servers.pop()!.id);
  }
  if (servers.length === 0) throw new UsageError('the change leaves no server; keep at least one');
  return { topology: { ...topology, newServers: servers }, change: { added, removed } };
}
