import { Routing, vbucketOf } from '../../core';
import { UsageError } from '../args';
import { Command, EXIT_OK } from '../command';
import { loadTopologyFile } from '../load-topology';

export const command: Command = {
  name: 'locate',
  summary: "Show each key's vbucket and replica addresses (and new replicas during a migration)",
  usage: 'astaire locate --topology FILE [--json] KEY...',
  options: {
    topology: { value: true, valueName: 'FILE', short: 't', description: 'topology document (JSON)' },
    json: {
      short: 'j',
      description: 'print one JSON object per key: {key, vbucket, replicas, newReplicas}',
    },
  },
  async run({ options, positionals }, io) {
    if (positionals.length === 0) throw new UsageError('at least one KEY is required');
    const topology = await loadTopologyFile(options.topology);
    const routing = new Routing(topology);
    for (const key of positionals) {
      const vbucket = vbucketOf(key, topology.vbuckets);
      const replicas = routing.current.replicasOf(vbucket).map((id) => routing.server(id)!.address);
      const newReplicas = routing.next?.replicasOf(vbucket).map((id) => routing.server(id)!.address);
      if (options.json)
        io.out(JSON.stringify({ key, vbucket, replicas, ...(newReplicas ? { newReplicas } : {}) }));
      else
        io.out(
          `${key}\tvbucket ${vbucket}\treplicas ${replicas.join(',') || '-'}${newReplicas ? `\tnew replicas ${newReplicas.join(',') || '-'}` : ''}`,
        );
    }
    return EXIT_OK;
  },
};
