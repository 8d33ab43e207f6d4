import { MigrationPlan, placementOf, planMigration, Topology, zoneSpread } from '../../core';
import { intOption, UsageError } from '../args';
import { Command, CommandIo, EXIT_OK } from '../command';
import { loadTopologyFile } from '../load-topology';
import { applyWhatIf, UNKNOWN_ADDRESS, WhatIfChange } from '../what-if';

export const command: Command = {
  name: 'plan',
  summary: 'Show which vbuckets each node must pull: for a migration, or what-if on the current topology',
  usage: [
    'astaire plan (--topology FILE | --parameter NAME [--region R] | --state-dir DIR) [--json]',
    '       astaire plan (...same sources...) [--to N] [--add ID=HOST:PORT]... [--remove ID]... [--json]',
  ].join('\n'),
  details: [
    'Without --to/--add/--remove the topology must have newServers (a migration in progress): it shows',
    'that migration. With them it is a what-if on the committed topology: the moved fraction, the pulls',
    'of each node and, when every current server answers memcached stats, about how many bytes move.',
    '--to N adds new-1, new-2, ... or removes the last members in list order. --state-dir plans on the',
    'local cluster kept by astaire local up.',
  ].join('\n'),
  options: {
    topology: {
      value: true,
      valueName: 'FILE',
      short: 't',
      description: 'topology document (JSON)',
    },
    parameter: {
      value: true,
      valueName: 'NAME',
      short: 'p',
      description: 'Parameter Store parameter holding the topology',
    },
    region: {
      value: true,
      valueName: 'R',
      description: 'AWS region of --parameter (default: the SDK default)',
    },
    'state-dir': { value: true, valueName: 'DIR', description: 'the local cluster of astaire local up' },
    to: { value: true, valueName: 'N', description: 'what-if: N servers (from 1 to 1000)' },
    add: { value: true, repeat: true, valueName: 'ID=HOST:PORT', description: 'what-if: add this server' },
    remove: { value: true, repeat: true, valueName: 'ID', description: 'what-if: remove this server' },
    json: {
      short: 'j',
      description:
        'print one JSON object: {cluster, epoch, vbucketsMoved, slotsMoved, slots, movedFraction, pulls: [{node, address, zone?, vbuckets, bytes}], cleanups: [{node, address, zone?, vbuckets}], zones?, bytesToMove, whatIf}',
    },
  },
  async run({ options, positionals }, io) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const to = intOption(options.to, 'to', { min: 1, max: 1000 });
    const add = (options.add as string[] | undefined) ?? [];
    const remove = (options.remove as string[] | undefined) ?? [];
    const whatIf = to !== undefined || add.length > 0 || remove.length > 0;
    const current = await readTopology(options);
    let topology = current;
    let change: WhatIfChange | undefined;
    if (whatIf) ({ topology, change } = applyWhatIf(current, { to, add, remove }));
    else if (!topology.newServers)
      throw new UsageError(
        `${source(options)} has no newServers: nothing to plan; ask a what-if with --to N, --add ID=HOST:PORT or --remove ID`,
      );
    const plan = planMigration(topology);
    const perSlot = whatIf ? await bytesPerSlot(current) : undefined;
    if (options.json) io.out(JSON.stringify(planJson(topology, plan, perSlot, change)));
    else printPlan(io, topology, plan, perSlot, change);
    return EXIT_OK;
  },
};

function source(options: Record<string, unknown>): string {
  if (typeof options.topology === 'string') return options.topology;
  if (typeof options.parameter === 'string') return `parameter ${options.parameter}`;
  return `the local cluster in ${String(options['state-dir'])}`;
}

/** The topology from exactly one of --topology, --parameter and --state-dir. */
async function readTopology(options: Record<string, unknown>): Promise<Topology> {
  const given = ['topology', 'parameter', 'state-dir'].filter((o) => options[o] !== undefined);
  if (given.length !== 1)
    throw new UsageError(
      given.length
        ? `give one of --topology, --parameter and --state-dir, not ${given.map((g) => `--${g}`).join(' and ')}`
        : '--topology FILE is required (or --parameter NAME, or --state-dir DIR for a local cluster)',
    );
  if (options.region !== undefined && options.parameter === undefined)
    throw new UsageError('--region goes with --parameter');
  if (typeof options.topology === 'string') return loadTopologyFile(options.topology);
  if (typeof options.parameter === 'string') {
    const { ParameterStoreTopologySource } = await import('../../client');
    const { SSMClient } = await import('@aws-sdk/client-ssm');
    const region = typeof options.region === 'string' ? options.region : undefined;
    return new ParameterStoreTopologySource({
      ssm: new SSMClient(region ? { region } : {}),
      parameter: options.parameter,
    }).read();
  }
  const { resolve } = await import('node:path');
  const { LocalSession } = await import('../../local/session');
  const { FileTopologyStore } = await import('../../local/file-stores');
  const dir = resolve(String(options['state-dir']));
  const state = LocalSession.read(dir);
  return new FileTopologyStore(dir).read(state.cluster);
}

/**
 * Bytes per vbucket-replica slot, from every current server's memcached stats; undefined when one
 * does not answer (the sizes are then unknown).
 */
async function bytesPerSlot(topology: Topology): Promise<number | undefined> {
  if (topology.servers.length === 0) return undefined;
  const { serverStats } = await import('../server-stats');
  const stats = await Promise.all(topology.servers.map((s) => serverStats(s.address)));
  if (stats.some((s) => s === undefined)) return undefined;
  const slots = topology.vbuckets * Math.min(topology.replicas, topology.servers.length);
  return stats.reduce((n, s) => n + s!.bytes, 0) / slots;
}

/** Each new member's zone (when it has one), and how the new replicas spread over the zones. */
function zonesOf(topology: Topology) {
  const newServers = topology.newServers!;
  const zoneOf = new Map(newServers.map((s) => [s.id, s.zone]));
  const inZone = (id: string) => (zoneOf.get(id) === undefined ? {} : { zone: zoneOf.get(id)! });
  return { zoneOf, inZone, spread: zoneSpread(placementOf(topology, 'newServers'), newServers) };
}

function planJson(
  topology: Topology,
  plan: MigrationPlan,
  perSlot: number | undefined,
  change: WhatIfChange | undefined,
) {
  const bytes = (slots: number) => (perSlot === undefined ? null : Math.round(slots * perSlot));
  const { inZone, spread } = zonesOf(topology);
  return {
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
      ...(change ? { bytes: bytes(p.vbuckets.length) } : {}),
    })),
    cleanups: plan.cleanups.map((c) => ({ ...c, ...inZone(c.node) })),
    ...(spread.zones.length > 0 ? { zones: spread } : {}),
    ...(change
      ? {
          bytesToMove: bytes(plan.slotsMoved),
          whatIf: { added: change.added, removed: change.removed },
        }
      : {}),
  };
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function printPlan(
  io: CommandIo,
  topology: Topology,
  plan: MigrationPlan,
  perSlot: number | undefined,
  change: WhatIfChange | undefined,
): void {
  const newServers = topology.newServers!;
  const pct = (plan.movedFraction * 100).toFixed(2);
  if (change)
    io.out(
      `what-if on epoch ${topology.epoch}: ${
        [...change.added.map((s) => `+${s.id}`), ...change.removed.map((id) => `-${id}`)].join(' ') ||
        'no change'
      }`,
    );
  io.out(
    `cluster ${plan.cluster}, epoch ${plan.epoch}: ${topology.servers.length} -> ${newServers.length} servers`,
  );
  io.out(
    `${plan.vbucketsMoved} of ${topology.vbuckets} vbuckets gain a replica; ${plan.slotsMoved} of ${plan.slots} vbucket-replica slots (${pct}%) change hands`,
  );
  const { zoneOf, spread } = zonesOf(topology);
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
    const size = change && perSlot !== undefined ? `, about ${mb(p.vbuckets.length * perSlot)}` : '';
    const address = p.address === UNKNOWN_ADDRESS ? 'new' : p.address;
    io.out(
      `  ${where(p.node, address)}: pulls ${p.vbuckets.length} vbuckets${size}; primary sources: ${from}`,
    );
  }
  for (const c of plan.cleanups)
    io.out(
      `  ${where(c.node, c.address)}: deletes the ${c.vbuckets.length} vbuckets it loses, after the commit`,
    );
  if (change)
    io.out(
      perSlot === undefined
        ? 'bytes to move: unknown (not every current server answered memcached stats)'
        : `bytes to move: about ${mb(plan.slotsMoved * perSlot)} (memcached stats of the current servers)`,
    );
}
