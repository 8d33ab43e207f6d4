import { placementOf, planMigration, zoneSpread } from '../../core';
import { UsageError } from '../args';
import { Command, EXIT_OK } from '../command';
import { loadTopologyFile } from '../load-topology';

export const command: Command = {
  name: 'plan',
  summary: 'Show which vbuckets each node must pull for a topology that has newServers',
  usage: 'astaire plan --topology FILE [--json]',
  options: {
    topology: {
      value: true,
      valueName: 'FILE',
      description: 'topology document (JSON) with servers and newServers',
    },
    json: {
      description:
        'print one JSON object: {vbucketsMoved, movedFraction, pulls: [{node, zone?, vbuckets}], cleanups: [{node, zone?, vbuckets}], zones?}',
    },
  },
  async run({ options, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const topology = await loadTopologyFile(options.topology);
    if (!topology.newServers)
      throw new UsageError(`${String(options.topology)} has no newServers: nothing to plan`);
    const plan = planMigration(topology);
    const newServers = topology.newServers;
    const zoneOf = new Map(newServers.map((s) => [s.id, s.zone]));
    const inZone = (id: string) => (zoneOf.get(id) === undefined ? {} : { zone: zoneOf.get(id) });
    const spread = zoneSpread(placementOf(topology, 'newServers'), newServers);
    if (options.json) {
      io.out(
        JSON.stringify({
          cluster: plan.cluster,
          epoch: plan.epoch,
          vbucketsMoved: plan.vbucketsMoved,
          slotsMoved: plan.slotsMoved,
          slots: plan.slots,
          movedFraction: plan.movedFraction,
          pulls: plan.pulls.map((p) => ({
            node: p.node,
            address: p.address,
            ...inZone(p.node),
            vbuckets: p.vbuckets.map((v) => v.vbucket),
          })),
          cleanups: plan.cleanups.map((c) => ({ ...c, ...inZone(c.node) })),
          ...(spread.zones.length > 0 ? { zones: spread } : {}),
        }),
      );
      return EXIT_OK;
    }
    const pct = (plan.movedFraction * 100).toFixed(2);
    io.out(
      `cluster ${plan.cluster}, epoch ${plan.epoch}: ${topology.servers.length} -> ${topology.newServers.length} servers`,
    );
    io.out(
      `${plan.vbucketsMoved} of ${topology.vbuckets} vbuckets gain a replica; ${plan.slotsMoved} of ${plan.slots} vbucket-replica slots (${pct}%) change hands`,
    );
    if (spread.zones.length > 0)
      io.out(
        `zones ${spread.zones.join(', ')}: ${spread.vbucketsSharingAZone === 0 ? "every vbucket's new replicas are in distinct zones" : `${spread.vbucketsSharingAZone} vbuckets have two new replicas in one zone`}`,
      );
    const where = (id: string, address: string) =>
      zoneOf.get(id) === undefined ? `${id} ${address}` : `${id} ${address} (${zoneOf.get(id)})`;
    if (plan.pulls.length === 0) io.out('no node has anything to pull');
    for (const p of plan.pulls) {
      const sources = new Map<string, number>();
      for (const v of p.vbuckets) sources.set(v.sources[0], (sources.get(v.sources[0]) ?? 0) + 1);
      const from = [...sources].map(([id, n]) => `${id} (${n})`).join(', ');
      io.out(`  ${where(p.node, p.address)}: pulls ${p.vbuckets.length} vbuckets; primary sources: ${from}`);
    }
    for (const c of plan.cleanups)
      io.out(
        `  ${where(c.node, c.address)}: deletes the ${c.vbuckets.length} vbuckets it loses, after the commit`,
      );
    return EXIT_OK;
  },
};
