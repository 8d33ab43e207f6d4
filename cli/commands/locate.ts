import { Routing, Server, vbucketOf } from '../../core';
import { UsageError } from '../args';
import { Command, EXIT_OK } from '../command';
import { loadTopologyFile } from '../load-topology';

/** Addresses, each with its zone in parentheses when it has one. */
function list(servers: readonly Server[]): string {
  return servers.map((s) => (s.zone === undefined ? s.address : `${s.address} (${s.zone})`)).join(',') || '-';
}

export const command: Command = {
  name: 'locate',
  summary: "Show each key's vbucket and replica addresses (and new replicas during a migration)",
  usage: 'astaire locate --topology FILE [--json] KEY...',
  options: {
    topology: { value: true, valueName: 'FILE', short: 't', description: 'topology document (JSON)' },
    json: {
      short: 'j',
      description: 'print one JSON object per key: {key, vbucket, replicas, newReplicas, zones?, newZones?}',
    },
  },
  async run({ options, positionals }, io) {
    if (positionals.length === 0) throw new UsageError('at least one KEY is required');
    const topology = await loadTopologyFile(options.topology);
    const routing = new Routing(topology);
    const zoned = [...topology.servers, ...(topology.newServers ?? [])].some((s) => s.zone !== undefined);
    for (const key of positionals) {
      const vbucket = vbucketOf(key, topology.vbuckets);
      const current = routing.current.replicasOf(vbucket).map((id) => routing.server(id)!);
      const next = routing.next?.replicasOf(vbucket).map((id) => routing.server(id)!);
      const replicas = current.map((s) => s.address);
      const newReplicas = next?.map((s) => s.address);
      if (options.json)
        io.out(
          JSON.stringify({
            key,
            vbucket,
            replicas,
            ...(newReplicas ? { newReplicas } : {}),
            ...(zoned ? { zones: current.map((s) => s.zone ?? null) } : {}),
            ...(zoned && next ? { newZones: next.map((s) => s.zone ?? null) } : {}),
          }),
        );
      else
        io.out(
          `${key}\tvbucket ${vbucket}\treplicas ${list(current)}${next ? `\tnew replicas ${list(next)}` : ''}`,
        );
    }
    return EXIT_OK;
  },
};
