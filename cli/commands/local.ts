import { resolve } from 'node:path';
import type { ResyncProgress } from '../../core';
import type { LocalSession } from '../../local/session';
import { intOption, UsageError } from '../args';
import { Command, CommandIo, EXIT_FAILED, EXIT_OK } from '../command';

/** Subcommands and the options each accepts. */
const SUBCOMMANDS: Record<string, readonly string[]> = {
  scenario: ['items', 'json', 'state-dir'],
  up: ['nodes', 'zones', 'state-dir'],
  scale: ['state-dir'],
  resync: ['state-dir'],
  redrive: ['state-dir'],
  heal: ['state-dir'],
  watch: ['state-dir'],
  status: ['json', 'state-dir'],
  'wait-sync': ['timeout', 'state-dir'],
  load: ['items', 'state-dir'],
  verify: ['state-dir'],
  down: ['state-dir'],
};

export const command: Command = {
  name: 'local',
  summary: 'Run the elastic-scaling workflow on this machine (real memcached nodes and agents)',
  usage: [
    'astaire local scenario [--items N] [--json]     the main job (npm start)',
    '       astaire local up [--nodes N] [--zones a,b,c]      start N nodes (default 3), spread over zones',
    '       astaire local scale N                             launch or terminate nodes until N are in service',
    '       astaire local resync                              make the topology match the live nodes (manual resync)',
    '       astaire local redrive [INSTANCE-ID]               re-drive lifecycle actions left waiting (all, or one)',
    '       astaire local heal                                refill every member whose memcached restarted or was flushed',
    '       astaire local status [--json]                     topology, epoch, nodes, recent executions',
    '       astaire local wait-sync [--timeout S]             wait until no migration runs; exit 1 if the last one failed',
    '       astaire local load [--items N]                    write N items (default 100000) through the client',
    '       astaire local verify                              read them all back; exit 1 on any miss',
    '       astaire local down                                stop every node and remove the state directory',
  ].join('\n'),
  details: [
    'scenario starts 3 memcached nodes on loopback, loads N items (default 200000) through the client, launches',
    '2 instances at once (3 -> 5) and then terminates one (5 -> 4) while the client keeps reading and writing.',
    'Every scaling event runs the state machine CDK synthesizes, in-process (aws-local-stepfunctions), with the',
    'real agent as a child process per node. It exits 0 only when every key written before or during the',
    'scaling reads back with its value and flags, every execution succeeded and every lifecycle action completed.',
    '',
    'up/scale/... keep a cluster between commands: nodes are memcached processes on 127.0.1.N, and the topology',
    '(the stand-in for /astaire/local/topology), the lock and the group live in the state directory. Handler',
    "logs go to <state-dir>/workflow.log. All of it needs Debian's memcached (apt-get install -y memcached).",
    '',
    'up, scale, resync and redrive change the cluster: one runs at a time per state directory, a second one',
    'waits for the first (it says for which process) and then reads what the first left. scale first re-drives',
    'every lifecycle action left waiting (a run that was interrupted or failed), then launches or terminates.',
    'resync is the console\'s manual {"cluster":"local","action":"resync"}: it makes the topology match the',
    "group's live nodes, moving data as needed, and completes no lifecycle action. redrive runs the manual",
    '{"action":"launch"|"terminate","instanceId":...,"lifecycleHookName":...} for each instance still in',
    'Pending:Wait or Terminating:Wait (or only INSTANCE-ID): the action completes, or a launch is abandoned.',
    '',
    'Self-heal: up also starts a background watcher (astaire local watch, its log in <state-dir>/heal.log,',
    "stopped by down) that checks every member once a second, as the AWS nodes' astaire-heal timer does: a",
    'member whose memcached answers without its completeness marker (it restarted or was flushed) is refilled',
    'from the other replicas by astaire-agent heal. heal runs that check once, now, and says what it did.',
  ].join('\n'),
  options: {
    items: { value: true, valueName: 'N', description: 'items to load (scenario: 200000; load: 100000)' },
    nodes: { value: true, valueName: 'N', description: 'nodes to start with up (default 3)' },
    zones: {
      value: true,
      valueName: 'LIST',
      description:
        "up: zones (comma-separated) every node is given, the least populated first, as Auto Scaling spreads AZs; a vbucket's replicas go to distinct zones",
    },
    json: { description: 'print the result as one JSON object (progress goes to stderr)' },
    timeout: { value: true, valueName: 'S', description: 'wait-sync gives up after S seconds (default 600)' },
    'state-dir': {
      value: true,
      valueName: 'DIR',
      description: 'where the local cluster state lives (default .astaire)',
    },
  },
  async run({ options, positionals }, io) {
    const [sub, ...rest] = positionals;
    if (!sub) throw new UsageError(`a subcommand is required: ${Object.keys(SUBCOMMANDS).join(', ')}`);
    const allowed = SUBCOMMANDS[sub];
    if (!allowed) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`);
    for (const name of Object.keys(options))
      if (options[name] !== undefined && !allowed.includes(name))
        throw new UsageError(`--${name} does not apply to local ${sub}`);
    if (sub !== 'scale' && sub !== 'redrive' && rest.length)
      throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    if (sub === 'redrive' && rest.length > 1)
      throw new UsageError(`redrive takes at most one instance id (got ${rest.length} arguments)`);
    const stateDir = resolve(typeof options['state-dir'] === 'string' ? options['state-dir'] : '.astaire');
    const { memcachedBinary } = await import('../../local/memcached-process');
    if (sub !== 'status' && sub !== 'down' && sub !== 'wait-sync') memcachedBinary(); // the install instruction first
    switch (sub) {
      case 'scenario':
        return scenario(
          io,
          stateDir,
          intOption(options.items, 'items', { min: 1, max: 5_000_000 }) ?? 200_000,
          !!options.json,
        );
      case 'up': {
        const nodes = intOption(options.nodes, 'nodes', { min: 1, max: 100 }) ?? 3;
        const zones = zonesOption(options.zones);
        return exclusively(io, stateDir, `up --nodes ${nodes}`, () => up(io, stateDir, nodes, zones));
      }
      case 'scale': {
        if (rest.length !== 1) throw new UsageError('scale takes one argument: the number of nodes');
        const target = intOption(rest[0], 'N', { min: 1, max: 100 })!;
        return exclusively(io, stateDir, `scale ${target}`, () => scale(io, stateDir, target));
      }
      case 'resync':
        return exclusively(io, stateDir, 'resync', () => resync(io, stateDir));
      case 'redrive':
        return exclusively(io, stateDir, `redrive ${rest.join(' ')}`.trim(), () =>
          redrive(io, stateDir, rest[0]),
        );
      case 'heal':
        return exclusively(io, stateDir, 'heal', () => heal(io, stateDir));
      case 'watch':
        return watch(io, stateDir);
      case 'status':
        return status(io, stateDir, !!options.json);
      case 'wait-sync':
        return waitSync(io, stateDir, intOption(options.timeout, 'timeout', { min: 1 }) ?? 600);
      case 'load':
        return loadItems(
          io,
          stateDir,
          intOption(options.items, 'items', { min: 1, max: 5_000_000 }) ?? 100_000,
        );
      case 'verify':
        return verifyItems(io, stateDir);
      default:
        return down(io, stateDir);
    }
  },
};

/**
 * The definition CDK synthesizes. A kept cluster caches it in its state directory at `up`, so
 * every later command runs the same document without paying for a synthesis each time.
 */
async function definition(stateDir?: string): Promise<Record<string, unknown>> {
  const { existsSync, readFileSync, mkdirSync } = await import('node:fs');
  const cached = stateDir && resolve(stateDir, 'definition.asl.json');
  if (cached && existsSync(cached))
    return JSON.parse(readFileSync(cached, 'utf8')) as Record<string, unknown>;
  // The definition `npm run build` synthesized ships in the package: an installed astaire runs
  // locally without aws-cdk-lib. A source checkout that was not built synthesizes it now.
  const { shippedWorkflowDefinition } = await import('../../cdk/assets');
  const synthesized =
    shippedWorkflowDefinition() ??
    (await import('../../cdk/definition')).synthesizeWorkflowDefinition({ clusterName: 'local' });
  if (cached) {
    const { writeAtomically } = await import('../../local/file-stores');
    mkdirSync(stateDir, { recursive: true });
    writeAtomically(cached, JSON.stringify(synthesized, null, 2));
  }
  return synthesized;
}

function progressLine(io: CommandIo) {
  return (p: ResyncProgress) =>
    io.out(
      `    ${p.node}: vbuckets ${p.vbucketsDone}/${p.vbuckets}, ${p.items.toLocaleString('en')} items, ${(p.bytesPerSec / 1e6).toFixed(1)} MB/s`,
    );
}

async function scenario(io: CommandIo, stateDir: string, items: number, json: boolean): Promise<number> {
  const { runScenario, formatSummary } = await import('../../local/scenario');
  const log = json ? io.err : io.out;
  log('synthesizing the workflow definition with CDK');
  const def = await definition();
  const interrupted = () => {
    io.err('interrupted: stopping every memcached and agent process');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const summary = await runScenario({ items, stateDir, definition: def, log });
    io.out(json ? JSON.stringify(summary) : `\n${formatSummary(summary)}`);
    return summary.ok ? EXIT_OK : EXIT_FAILED;
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}

/** `--zones a,b,c`: distinct zone names, as the topology accepts them. */
function zonesOption(value: unknown): string[] {
  if (value === undefined) return [];
  const zones = String(value).split(',');
  const bad = zones.find((z) => !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(z));
  if (bad !== undefined)
    throw new UsageError(
      `--zones: ${JSON.stringify(bad)} is not a zone name; give names of letters, digits, ".", "_" or "-", comma-separated (e.g. --zones a,b,c)`,
    );
  if (new Set(zones).size !== zones.length)
    throw new UsageError('--zones: a zone is listed twice; list each once');
  return zones;
}

async function up(io: CommandIo, stateDir: string, nodes: number, zones: string[]): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  if (LocalSession.exists(stateDir))
    throw new UsageError(`a local cluster already runs in ${stateDir}: astaire local down first`);
  const { session, outcome } = await LocalSession.up(stateDir, nodes, await definition(stateDir), zones);
  await session.runtime.stop();
  if (outcome.status !== 'SUCCEEDED') {
    io.err(`bootstrap failed: ${outcome.error}`);
    return EXIT_FAILED;
  }
  io.out(`${nodes} nodes in service; topology in ${session.runtime.topologyFile}`);
  const watcher = await startWatcher(stateDir);
  LocalSession.update(stateDir, (s) => (s.healerPid = watcher));
  io.out(`heal watcher running (pid ${watcher}, log ${resolve(stateDir, 'heal.log')})`);
  return status(io, stateDir, false);
}

/** Starts `astaire local watch` in the background, detached like the nodes; resolves with its pid. */
async function startWatcher(stateDir: string): Promise<number> {
  const { spawn } = await import('node:child_process');
  const { openSync, closeSync } = await import('node:fs');
  const log = openSync(resolve(stateDir, 'heal.log'), 'a');
  try {
    const child = spawn(
      process.execPath,
      [resolve(__dirname, '..', 'astaire.js'), 'local', 'watch', '--state-dir', stateDir],
      { detached: true, stdio: ['ignore', log, log] },
    );
    child.unref();
    return child.pid!;
  } finally {
    closeSync(log);
  }
}

/** A heal watcher over the kept cluster's topology file and the built agent. */
async function healWatcher(
  stateDir: string,
  options: Omit<import('../../local/heal-watcher').HealWatcherOptions, 'topologyFile' | 'agentScript'>,
) {
  const { LocalSession } = await import('../../local/session');
  const { FileTopologyStore } = await import('../../local/file-stores');
  const { HealWatcher } = await import('../../local/heal-watcher');
  const { agentScript } = await import('../../local/runtime');
  const topologyFile = new FileTopologyStore(stateDir).path(LocalSession.read(stateDir).cluster);
  return new HealWatcher({ ...options, topologyFile, agentScript: agentScript() });
}

/** One check of every member now; heals those whose memcached restarted or was flushed. */
async function heal(io: CommandIo, stateDir: string): Promise<number> {
  const watcher = await healWatcher(stateDir, { onProgress: progressLine(io), log: (line) => io.out(line) });
  const outcomes = await watcher.checkOnce();
  if (outcomes.length === 0) io.out('every member that answers is a complete replica: nothing to heal');
  for (const o of outcomes) {
    const r = o.report;
    const lost = r?.vbucketsLost?.length ? `, ${r.vbucketsLost.length} vbuckets declared lost` : '';
    io.out(
      o.status === 'succeeded'
        ? `  ${o.node}: healed, ${(r?.items ?? 0).toLocaleString('en')} items in ${(r?.seconds ?? 0).toFixed(1)} s${lost}`
        : `  ${o.node}: heal FAILED: ${o.error}`,
    );
  }
  return outcomes.every((o) => o.status === 'succeeded') ? EXIT_OK : EXIT_FAILED;
}

/** The background watcher `up` starts: checks every member each second until the cluster is gone. */
async function watch(io: CommandIo, stateDir: string): Promise<number> {
  const { existsSync } = await import('node:fs');
  const stamp = (line: string) => io.out(`${new Date().toISOString()} ${line}`);
  const watcher = await healWatcher(stateDir, {
    intervalMs: 1000,
    log: stamp,
    onHeal: (o) =>
      stamp(
        `${o.node}: heal ${o.status}${o.report ? `, ${o.report.items} items` : ''}${o.error ? ` (${o.error})` : ''}`,
      ),
  });
  stamp(`watching the members of ${watcher.topologyFile}`);
  watcher.start();
  // The cluster is gone (astaire local down removed the state): stop.
  while (existsSync(watcher.topologyFile)) await new Promise((r) => setTimeout(r, 1000));
  await watcher.stop();
  stamp('the local cluster is gone: stopping');
  return EXIT_OK;
}

async function scale(io: CommandIo, stateDir: string, target: number): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const session = await LocalSession.open(stateDir, await definition(stateDir), progressLine(io));
  const { runtime } = session;
  session.state.scalingPid = process.pid;
  session.save();
  try {
    const redriven = await redrivePending(io, session);
    const inService = runtime.group.members().filter((m) => m.lifecycleState === 'InService');
    if (target === inService.length) {
      io.out(`${target} nodes ${redriven.length ? 'in service' : 'already in service: nothing to do'}`);
      return redriven.every((o) => o.status === 'SUCCEEDED') ? EXIT_OK : EXIT_FAILED;
    }
    const events =
      target > inService.length
        ? await runtime.group.launch(target - inService.length)
        : runtime.group.terminate(inService.slice(target).map((m) => m.id));
    io.out(
      `${inService.length} -> ${target}: ${events.length} lifecycle events, one workflow execution each`,
    );
    const outcomes = await Promise.all(
      events.map(async (event) => {
        const outcome = await runtime.execute(event);
        session.record(`${event['detail-type']} ${event.detail.EC2InstanceId}`, outcome);
        io.out(outcomeLine(event.detail.EC2InstanceId, outcome));
        return outcome;
      }),
    );
    const topology = await runtime.readTopology();
    io.out(`topology epoch ${topology.epoch}, ${topology.servers.length} servers`);
    return [...redriven, ...outcomes].every((o) => o.status === 'SUCCEEDED') ? EXIT_OK : EXIT_FAILED;
  } finally {
    session.state.scalingPid = undefined;
    session.save();
    await runtime.stop();
  }
}

/**
 * Runs `body` holding the state directory's session lock: a second command that changes the
 * cluster waits for the first, as a second scaling event waits for the workflow's lock on AWS.
 */
async function exclusively(
  io: CommandIo,
  stateDir: string,
  command: string,
  body: () => Promise<number>,
): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const release = await LocalSession.lock(stateDir).acquire(`astaire local ${command}`, (holder) =>
    io.out(
      `astaire local ${command}: waiting for pid ${holder.pid} (${holder.command}, since ${holder.since || '?'}) to finish`,
    ),
  );
  try {
    return await body();
  } finally {
    release();
  }
}

/** Completes or abandons every lifecycle action left waiting, printing each outcome. */
async function redrivePending(io: CommandIo, session: LocalSession, only?: string) {
  const pending = session.runtime.group.pendingActions().filter((p) => !only || p.instanceId === only);
  if (pending.length)
    io.out(
      `re-driving ${pending.length} lifecycle action(s) left waiting: ${pending.map((p) => `${p.action} ${p.instanceId}`).join(', ')}`,
    );
  return session.redrive((action, outcome) => io.out(outcomeLine(action.instanceId, outcome)), only);
}

function outcomeLine(
  what: string,
  outcome: { status: string; seconds: number; error?: string; reports: { items: number }[] },
): string {
  const moved = outcome.reports.reduce((n, r) => n + r.items, 0);
  return `  ${what}: ${outcome.status} in ${outcome.seconds.toFixed(1)} s, ${moved.toLocaleString('en')} items moved${outcome.error ? ` (${outcome.error})` : ''}`;
}

async function resync(io: CommandIo, stateDir: string): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const session = await LocalSession.open(stateDir, await definition(stateDir), progressLine(io));
  const { runtime } = session;
  session.state.scalingPid = process.pid;
  session.save();
  try {
    const outcome = await runtime.execute({ cluster: session.state.cluster, action: 'resync' });
    session.record('resync', outcome);
    io.out(outcomeLine('resync', outcome));
    const topology = await runtime.readTopology();
    io.out(`topology epoch ${topology.epoch}, ${topology.servers.length} servers`);
    return outcome.status === 'SUCCEEDED' ? EXIT_OK : EXIT_FAILED;
  } finally {
    session.state.scalingPid = undefined;
    session.save();
    await runtime.stop();
  }
}

async function redrive(io: CommandIo, stateDir: string, instanceId: string | undefined): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const session = await LocalSession.open(stateDir, await definition(stateDir), progressLine(io));
  const { runtime } = session;
  try {
    const pending = runtime.group.pendingActions();
    if (instanceId !== undefined && !pending.some((p) => p.instanceId === instanceId)) {
      const member = runtime.group.members().find((m) => m.id === instanceId);
      throw new UsageError(
        `instance ${instanceId} has no lifecycle action waiting (${member ? `it is ${member.lifecycleState}` : 'no such instance in the group'}); see astaire local status`,
      );
    }
    if (!pending.length) {
      io.out('no lifecycle action is pending: nothing to re-drive');
      return EXIT_OK;
    }
    session.state.scalingPid = process.pid;
    session.save();
    const outcomes = await redrivePending(io, session, instanceId);
    const topology = await runtime.readTopology();
    io.out(`topology epoch ${topology.epoch}, ${topology.servers.length} servers`);
    return outcomes.every((o) => o.status === 'SUCCEEDED') ? EXIT_OK : EXIT_FAILED;
  } finally {
    session.state.scalingPid = undefined;
    session.save();
    await runtime.stop();
  }
}

async function status(io: CommandIo, stateDir: string, json: boolean): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const { FileTopologyStore } = await import('../../local/file-stores');
  const state = LocalSession.read(stateDir);
  const topology = await new FileTopologyStore(stateDir).read(state.cluster);
  const nodes = await LocalSession.probe(state);
  if (json) {
    io.out(JSON.stringify({ topology, nodes, items: state.items, executions: state.executions }));
    return EXIT_OK;
  }
  io.out(
    `cluster ${topology.cluster}: epoch ${topology.epoch}, ${topology.servers.length} servers, ${topology.vbuckets} vbuckets x ${topology.replicas} replicas`,
  );
  if (topology.newServers)
    io.out(
      `migration to ${topology.newServers.length} servers in progress, owned by ${topology.migration?.executionId ?? 'nobody'} since ${topology.migration?.startedAt ?? '?'}`,
    );
  const zoneOf = new Map(state.group.instances.map((i) => [i.id, i.zone]));
  for (const n of nodes)
    io.out(
      `  ${n.id}  ${n.address.padEnd(21)}  ${n.lifecycleState.padEnd(16)}  ${n.up ? 'up' : 'DOWN'}${zoneOf.get(n.id) ? `  zone ${zoneOf.get(n.id)}` : ''}`,
    );
  const waiting = waitingActions(state);
  if (waiting.length)
    io.out(`lifecycle actions left waiting: ${waiting.join(', ')} (astaire local redrive re-drives them)`);
  const holder = LocalSession.lock(stateDir).holder();
  if (holder) io.out(`running: ${holder.command} (pid ${holder.pid}, since ${holder.since})`);
  const last = state.executions.at(-1);
  if (last)
    io.out(
      `last execution: ${last.trigger}: ${last.status}${last.error ? ` (${last.error})` : ''} at ${last.finishedAt}`,
    );
  return EXIT_OK;
}

/** `terminate i-...` for each instance whose lifecycle action waits, from the saved state. */
function waitingActions(state: {
  group: { instances: readonly { id: string; lifecycleState: string; actionToken?: string }[] };
}): string[] {
  const kinds: Record<string, string> = { 'Pending:Wait': 'launch', 'Terminating:Wait': 'terminate' };
  return state.group.instances
    .filter((i) => i.actionToken && kinds[i.lifecycleState])
    .map((i) => `${kinds[i.lifecycleState]} ${i.id}`);
}

async function waitSync(io: CommandIo, stateDir: string, timeoutSeconds: number): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const { FileTopologyStore } = await import('../../local/file-stores');
  const { isAlive } = await import('../../local/memcached-process');
  const store = new FileTopologyStore(stateDir);
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const state = LocalSession.read(stateDir);
    const topology = await store.read(state.cluster);
    const scaling = state.scalingPid !== undefined && isAlive(state.scalingPid);
    if (!topology.newServers && !scaling) {
      const failed = state.executions.filter((e) => e.status !== 'SUCCEEDED');
      const last = state.executions.at(-1);
      const waiting = waitingActions(state);
      if (last && last.status !== 'SUCCEEDED') {
        io.err(
          `the last migration failed: ${last.error ?? last.status}${waiting.length ? `; lifecycle actions left waiting (${waiting.join(', ')}): fix the cause, then run astaire local redrive` : ''}`,
        );
        return EXIT_FAILED;
      }
      if (waiting.length) {
        io.err(`lifecycle actions left waiting (${waiting.join(', ')}): run astaire local redrive`);
        return EXIT_FAILED;
      }
      io.out(
        `in sync at epoch ${topology.epoch} (${topology.servers.length} servers)${failed.length ? `; ${failed.length} earlier executions failed` : ''}`,
      );
      return EXIT_OK;
    }
    if (topology.newServers && !scaling) {
      io.err(
        `a migration is recorded (owner ${topology.migration?.executionId ?? '?'}) but no astaire local scale is running: it was interrupted; run astaire local scale again (it re-drives what was left waiting first)`,
      );
      return EXIT_FAILED;
    }
    if (Date.now() > deadline) {
      io.err(`still migrating after ${timeoutSeconds} s`);
      return EXIT_FAILED;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A client of the kept cluster, reading the topology file agents read, and its saved state. */
async function openLocalClient(stateDir: string) {
  const { LocalSession } = await import('../../local/session');
  const { AstaireClient, FileTopologySource } = await import('../../client');
  const { FileTopologyStore } = await import('../../local/file-stores');
  const state = LocalSession.read(stateDir);
  const open = () =>
    AstaireClient.open({
      source: new FileTopologySource(new FileTopologyStore(stateDir).path(state.cluster)),
    });
  return { state, open };
}

async function loadItems(io: CommandIo, stateDir: string, items: number): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const { load } = await import('../../local/traffic');
  const client = await (await openLocalClient(stateDir)).open();
  try {
    const started = Date.now();
    const bytes = await load(client, 0, items);
    const seconds = (Date.now() - started) / 1000;
    LocalSession.update(stateDir, (s) => (s.items = Math.max(s.items, items)));
    io.out(
      `loaded ${items.toLocaleString('en')} items (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s`,
    );
    return EXIT_OK;
  } finally {
    await client.close();
  }
}

async function verifyItems(io: CommandIo, stateDir: string): Promise<number> {
  const { Ledger, verify } = await import('../../local/traffic');
  const { state, open } = await openLocalClient(stateDir);
  if (!state.items) throw new UsageError('nothing to verify: load items first with astaire local load');
  const client = await open();
  try {
    const result = await verify(client, new Ledger(state.items));
    const bad = result.misses + result.wrongValue + result.wrongFlags;
    io.out(
      `${result.checked.toLocaleString('en')} items checked: ${result.misses} missing, ${result.wrongValue} wrong value, ${result.wrongFlags} wrong flags`,
    );
    for (const e of result.examples) io.out(`  ${e}`);
    return bad ? EXIT_FAILED : EXIT_OK;
  } finally {
    await client.close();
  }
}

async function down(io: CommandIo, stateDir: string): Promise<number> {
  const { LocalSession } = await import('../../local/session');
  const stopped = await LocalSession.down(stateDir);
  io.out(`stopped ${stopped} nodes and removed ${stateDir}`);
  return EXIT_OK;
}
