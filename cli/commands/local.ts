import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { LocalSession } from '../../local/session';
import type { ExecutionOutcome } from '../../local/runtime';
import { intOption, UsageError } from '../args';
import { Command, CommandIo, EXIT_FAILED, EXIT_OK } from '../command';
import { receivers } from '../../local/received';
import { stripPrefixes } from '../errors';
import { ProgressView } from '../progress';

/** Subcommands and the options each accepts. */
const SUBCOMMANDS: Record<string, readonly string[]> = {
  scenario: ['items', 'json', 'report', 'state-dir'],
  up: ['nodes', 'zones', 'state-dir'],
  scale: ['json', 'report', 'state-dir'],
  resync: ['json', 'state-dir'],
  redrive: ['json', 'state-dir'],
  heal: ['state-dir'],
  watch: ['state-dir'],
  status: ['json', 'state-dir'],
  'wait-sync': ['timeout', 'state-dir'],
  load: ['items', 'state-dir'],
  verify: ['state-dir'],
  down: ['state-dir'],
};

/** Subcommands that need a cluster: they say so before synthesizing, locking or creating anything. */
const NEEDS_CLUSTER = new Set([
  'scale',
  'resync',
  'redrive',
  'heal',
  'watch',
  'status',
  'wait-sync',
  'load',
  'verify',
]);

export const command: Command = {
  name: 'local',
  subcommands: Object.keys(SUBCOMMANDS),
  failureHint: 'see workflow.log in the state directory, and astaire local status',
  summary: 'Run the elastic-scaling workflow on this machine (real memcached nodes and agents)',
  usage: [
    'astaire local scenario [--items N] [--json]          the main job (npm start)',
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
    'Every scaling event runs the state machine CDK synthesizes, in-process (local/asl), with the',
    'real agent as a child process per node. It exits 0 only when every key written before or during the',
    'scaling reads back with its value and flags, every execution succeeded and every lifecycle action completed.',
    '',
    'up/scale/... keep a cluster between commands: nodes are memcached processes on 127.0.1.N, and the topology',
    '(the stand-in for /astaire/local/topology), the lock and the group live in the state directory. Handler',
    "logs go to <state-dir>/workflow.log; down keeps it and heal.log. All of it needs Debian's memcached.",
    '',
    'Progress: on a terminal one line per receiving node, redrawn in place, and one per execution; piped,',
    'plain lines; with --json, JSON lines. --report FILE.html (scenario, scale) charts the run.',
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
    json: {
      short: 'j',
      description:
        'JSON lines on stdout: progress ({"type":"progress"|"execution"|"note"}), then the result ({"type":"summary"} or status)',
    },
    timeout: { value: true, valueName: 'S', description: 'wait-sync gives up after S seconds (default 600)' },
    report: {
      value: true,
      valueName: 'FILE.html',
      description:
        'scenario, scale: write a self-contained HTML page charting the run (items/s per node, client ops and misses)',
    },
    'state-dir': {
      value: true,
      valueName: 'DIR',
      short: 'd',
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
    if (sub === 'scale' && rest.length !== 1)
      throw new UsageError(
        'N is missing: give the number of nodes to have in service, as in astaire local scale 5',
      );
    const target = sub === 'scale' ? intOption(rest[0], 'N', { min: 1, max: 100 })! : 0;
    const stateDir = resolve(typeof options['state-dir'] === 'string' ? options['state-dir'] : '.astaire');
    const report = typeof options.report === 'string' ? checkReportPath(options.report) : undefined;
    // The state first: a state dir that is a file, unreadable or corrupt, or no cluster at all, is
    // said at once, before a definition is synthesized or a lock taken (which would create the dir).
    const { LocalSession } = await import('../../local/session');
    LocalSession.checkDir(stateDir);
    if (NEEDS_CLUSTER.has(sub)) LocalSession.read(stateDir);
    // The scenario starts afresh in its state dir: it must not wipe a kept cluster's (its nodes would run on, unrecorded).
    if (sub === 'scenario' && LocalSession.exists(stateDir))
      throw new UsageError(
        `a local cluster kept by astaire local up has its state in ${stateDir}; run astaire local down first, or pass --state-dir DIR`,
      );
    const { memcachedBinary } = await import('../../local/memcached-process');
    if (sub !== 'status' && sub !== 'down' && sub !== 'wait-sync') memcachedBinary(); // the install instruction first
    switch (sub) {
      case 'scenario':
        return scenario(
          io,
          stateDir,
          intOption(options.items, 'items', { min: 1, max: 5_000_000 }) ?? 200_000,
          ProgressView.for(io, !!options.json),
          report,
        );
      case 'up': {
        const nodes = intOption(options.nodes, 'nodes', { min: 1, max: 100 }) ?? 3;
        const zones = zonesOption(options.zones);
        return exclusively(io, stateDir, `up --nodes ${nodes}`, () => up(io, stateDir, nodes, zones));
      }
      case 'scale':
        return exclusively(io, stateDir, `scale ${target}`, () =>
          scale(io, stateDir, target, ProgressView.for(io, !!options.json), report),
        );
      case 'resync':
        return exclusively(io, stateDir, 'resync', () =>
          resync(io, stateDir, ProgressView.for(io, !!options.json)),
        );
      case 'redrive':
        return exclusively(io, stateDir, `redrive ${rest.join(' ')}`.trim(), () =>
          redrive(io, stateDir, rest[0], ProgressView.for(io, !!options.json)),
        );
      case 'heal':
        return exclusively(io, stateDir, 'heal', () => heal(io, stateDir, ProgressView.for(io, false)));
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
async function definition(stateDir?: string, say?: (line: string) => void): Promise<Record<string, unknown>> {
  const { readFileSync, mkdirSync } = await import('node:fs');
  const cached = stateDir && resolve(stateDir, 'definition.asl.json');
  if (cached && existsSync(cached))
    return JSON.parse(readFileSync(cached, 'utf8')) as Record<string, unknown>;
  // The definition `npm run build` synthesized ships in the package: an installed astaire runs
  // locally without aws-cdk-lib. A source checkout that was not built synthesizes it now.
  const { shippedWorkflowDefinition } = await import('../../cdk/assets');
  let synthesized = shippedWorkflowDefinition();
  if (!synthesized) {
    say?.('synthesizing the workflow definition with CDK (once; npm run build ships it prebuilt)');
    synthesized = (await import('../../cdk/definition')).synthesizeWorkflowDefinition({
      clusterName: 'local',
    });
  }
  if (cached) {
    const { writeAtomically } = await import('../../local/file-stores');
    mkdirSync(stateDir, { recursive: true });
    writeAtomically(cached, JSON.stringify(synthesized, null, 2));
  }
  return synthesized;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** An execution's outcome, then one line per node that received data (items and bytes). */
function outcomeLines(what: string, outcome: ExecutionOutcome): string[] {
  const got = receivers(outcome.reports);
  return [
    `  ${what}: ${outcome.status} in ${outcome.seconds.toFixed(1)} s${got.length ? '' : ', no data to move'}${outcome.error ? ` (${stripPrefixes(outcome.error)})` : ''}`,
    ...got.map((r) => `    ${r.node} received ${r.items.toLocaleString('en')} items (${mb(r.bytes)})`),
  ];
}

/** Every execution's receivers summed up: the figure the progress lines add up to. */
function totalLine(outcomes: readonly ExecutionOutcome[]): string {
  const got = outcomes.flatMap((o) => receivers(o.reports));
  const items = got.reduce((n, r) => n + r.items, 0);
  const bytes = got.reduce((n, r) => n + r.bytes, 0);
  const nodes = new Set(got.map((r) => r.node)).size;
  return `total: ${items.toLocaleString('en')} items (${mb(bytes)}) received by ${nodes} node${nodes === 1 ? '' : 's'}`;
}

/** Runs one execution with its line in the progress view; returns its outcome. */
async function tracked(
  view: ProgressView,
  key: string,
  label: string,
  run: () => Promise<ExecutionOutcome>,
): Promise<ExecutionOutcome> {
  view.execution(key, label, 'running');
  const outcome = await run();
  view.execution(key, label, `${outcome.status} in ${outcome.seconds.toFixed(1)} s`);
  return outcome;
}

/** Prints the summary (text, or one JSON line) once the live block is over. */
function summarize(
  io: CommandIo,
  view: ProgressView,
  executions: readonly { what: string; outcome: ExecutionOutcome }[],
  topology: { epoch: number; servers: readonly unknown[] },
): void {
  view.finish();
  if (view.mode === 'json') {
    io.out(
      JSON.stringify({
        type: 'summary',
        executions: executions.map(({ what, outcome }) => ({
          trigger: what,
          executionId: outcome.executionId,
          status: outcome.status,
          seconds: outcome.seconds,
          ...(outcome.error ? { error: outcome.error } : {}),
          received: receivers(outcome.reports),
        })),
        topology: { epoch: topology.epoch, servers: topology.servers.length },
      }),
    );
    return;
  }
  for (const { what, outcome } of executions) for (const line of outcomeLines(what, outcome)) io.out(line);
  if (executions.length) io.out(totalLine(executions.map((e) => e.outcome)));
  io.out(`topology epoch ${topology.epoch}, ${topology.servers.length} servers`);
}

/** Redraws the view every second while `body` runs (elapsed times on a terminal). */
async function ticking<T>(view: ProgressView, body: () => Promise<T>): Promise<T> {
  const timer = view.mode === 'tty' ? setInterval(() => view.tick(), 1000) : undefined;
  try {
    return await body();
  } finally {
    if (timer) clearInterval(timer);
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
    throw new UsageError(`a local cluster already runs in ${stateDir}; run astaire local down first`);
  const def = await definition(stateDir, io.out);
  io.out(`starting ${nodes} memcached nodes and committing the first topology through the workflow`);
  const { session, outcome } = await LocalSession.up(stateDir, nodes, def, zones);
  await session.runtime.stop();
  if (outcome.status !== 'SUCCEEDED') {
    io.err(
      `astaire local up: the first execution failed: ${outcome.error}; see ${resolve(stateDir, 'workflow.log')}, then astaire local down`,
    );
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
    const { LocalSession } = await import('../../local/session');
    LocalSession.recordProcess(stateDir, { pid: child.pid!, kind: 'watcher' });
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
/** The report's path, checked before the run: a run of minutes must not end in a path that cannot be written. */
function checkReportPath(path: string): string {
  const file = resolve(path);
  if (!file.endsWith('.html'))
    throw new UsageError(`--report must name an .html file, got ${JSON.stringify(path)}`);
  if (!existsSync(dirname(file)) || !statSync(dirname(file)).isDirectory())
    throw new UsageError(
      `--report ${path}: the directory ${dirname(file)} does not exist; create it or choose another path`,
    );
  return file;
}

/** Writes the HTML report of a run from what its progress view collected. */
async function writeReport(
  io: CommandIo,
  file: string,
  title: string,
  view: ProgressView,
  traffic: import('../report').TrafficSample[],
  summary: string,
): Promise<void> {
  const { writeFileSync } = await import('node:fs');
  const { renderReport } = await import('../report');
  writeFileSync(file, renderReport({ title, progress: view.samples, traffic, summary }));
  (view.mode === 'json' ? io.err : io.out)(`report: ${file}`);
}

async function scenario(
  io: CommandIo,
  stateDir: string,
  items: number,
  view: ProgressView,
  report?: string,
): Promise<number> {
  view.note('loading the local workflow runtime (the state machine, its handlers and the agent)');
  const { runScenario, formatSummary } = await import('../../local/scenario');
  const def = await definition(undefined, (line) => view.note(line));
  const interrupted = () => {
    io.err('astaire local scenario: interrupted; every memcached and agent process it started is stopped');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const timer = view.mode === 'tty' ? setInterval(() => view.tick(), 1000) : undefined;
  const phases = new Map<string, import('../../local/traffic').TrafficStats>();
  const traffic: import('../report').TrafficSample[] = [];
  try {
    const summary = await runScenario({
      items,
      stateDir,
      definition: def,
      log: (line) => view.note(line),
      onProgress: (p) => view.node(p),
      onExecution: (key, label, state) => view.execution(key, label, state),
      onPhase: () => view.finish(),
      onTraffic: (phase, stats) => {
        phases.set(phase, stats);
        const all = [...phases.values()];
        traffic.push({
          t: view.elapsed(),
          ops: all.reduce((n, s) => n + s.reads + s.writes, 0),
          misses: all.reduce((n, s) => n + s.readMisses, 0),
        });
      },
    });
    view.finish();
    if (report)
      await writeReport(io, report, 'astaire local scenario', view, traffic, formatSummary(summary));
    io.out(
      view.mode === 'json' ? JSON.stringify({ type: 'summary', ...summary }) : `\n${formatSummary(summary)}`,
    );
    return summary.ok ? EXIT_OK : EXIT_FAILED;
  } finally {
    if (timer) clearInterval(timer);
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}

async function heal(io: CommandIo, stateDir: string, view: ProgressView): Promise<number> {
  const watcher = await healWatcher(stateDir, {
    onProgress: (p) => view.node(p),
    log: (line) => view.note(line),
  });
  const outcomes = await watcher.checkOnce();
  view.finish();
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

/** Opens the kept cluster for a command that runs executions, its progress going to `view`. */
async function openSession(stateDir: string, view: ProgressView): Promise<LocalSession> {
  const { LocalSession } = await import('../../local/session');
  const def = await definition(stateDir, (line) => view.note(line));
  view.note('loading the local workflow runtime (the state machine, its handlers and the agent)');
  const session = await LocalSession.open(stateDir, def, (p) => view.node(p));
  session.state.scalingPid = process.pid;
  session.save();
  LocalSession.recordProcess(stateDir, { pid: process.pid, kind: 'command' });
  return session;
}

async function closeSession(session: LocalSession): Promise<void> {
  session.state.scalingPid = undefined;
  session.save();
  await session.runtime.stop();
}

async function scale(
  io: CommandIo,
  stateDir: string,
  target: number,
  view: ProgressView,
  report?: string,
): Promise<number> {
  const session = await openSession(stateDir, view);
  const { runtime } = session;
  try {
    const done = await ticking(view, async () => {
      const executions = await redrivePending(view, session);
      const inService = runtime.group.members().filter((m) => m.lifecycleState === 'InService');
      if (target === inService.length) {
        if (!executions.length) view.note(`${target} nodes already in service: nothing to do`);
        return executions;
      }
      const launching = target > inService.length;
      if (launching) view.note(`starting ${target - inService.length} memcached node(s)`);
      const events = launching
        ? await runtime.group.launch(target - inService.length)
        : runtime.group.terminate(inService.slice(target).map((m) => m.id));
      view.note(
        `${inService.length} -> ${target}: ${events.length} lifecycle event${events.length === 1 ? '' : 's'}, one workflow execution each`,
      );
      const started = await Promise.all(
        events.map(async (event) => {
          const what = `${launching ? 'launch' : 'terminate'} ${event.detail.EC2InstanceId}`;
          const outcome = await tracked(view, event.detail.EC2InstanceId, what, () => runtime.execute(event));
          session.record(`${event['detail-type']} ${event.detail.EC2InstanceId}`, outcome);
          return { what, outcome };
        }),
      );
      return [...executions, ...started];
    });
    const lines: string[] = [];
    summarize({ ...io, out: (l) => (io.out(l), lines.push(l)) }, view, done, await runtime.readTopology());
    if (report) await writeReport(io, report, `astaire local scale ${target}`, view, [], lines.join('\n'));
    return done.every((e) => e.outcome.status === 'SUCCEEDED') ? EXIT_OK : failed(io, stateDir, 'scale');
  } finally {
    await closeSession(session);
  }
}

/** The exit of a command whose execution failed: where to look, what to run. */
function failed(io: CommandIo, stateDir: string, command: string): number {
  io.err(
    `astaire local ${command}: an execution failed; see ${resolve(stateDir, 'workflow.log')}, fix the cause, then astaire local redrive`,
  );
  return EXIT_FAILED;
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

/** Completes or abandons every lifecycle action left waiting, each with its line in the view. */
async function redrivePending(view: ProgressView, session: LocalSession, only?: string) {
  const pending = session.runtime.group.pendingActions().filter((p) => !only || p.instanceId === only);
  if (pending.length)
    view.note(
      `re-driving ${pending.length} lifecycle action(s) left waiting: ${pending.map((p) => `${p.action} ${p.instanceId}`).join(', ')}`,
    );
  const done: { what: string; outcome: ExecutionOutcome }[] = [];
  for (const p of pending) {
    const what = `redrive ${p.action} ${p.instanceId}`;
    view.execution(p.instanceId, what, 'running');
    const [outcome] = await session.redrive(() => undefined, p.instanceId);
    if (!outcome) continue;
    view.execution(p.instanceId, what, `${outcome.status} in ${outcome.seconds.toFixed(1)} s`);
    done.push({ what, outcome });
  }
  return done;
}

async function resync(io: CommandIo, stateDir: string, view: ProgressView): Promise<number> {
  const session = await openSession(stateDir, view);
  const { runtime } = session;
  try {
    const outcome = await ticking(view, () =>
      tracked(view, 'resync', 'resync', () =>
        runtime.execute({ cluster: session.state.cluster, action: 'resync' }),
      ),
    );
    session.record('resync', outcome);
    summarize(io, view, [{ what: 'resync', outcome }], await runtime.readTopology());
    return outcome.status === 'SUCCEEDED' ? EXIT_OK : failed(io, stateDir, 'resync');
  } finally {
    await closeSession(session);
  }
}

async function redrive(
  io: CommandIo,
  stateDir: string,
  instanceId: string | undefined,
  view: ProgressView,
): Promise<number> {
  const session = await openSession(stateDir, view);
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
    const done = await ticking(view, () => redrivePending(view, session, instanceId));
    summarize(io, view, done, await runtime.readTopology());
    return done.every((e) => e.outcome.status === 'SUCCEEDED') ? EXIT_OK : failed(io, stateDir, 'redrive');
  } finally {
    await closeSession(session);
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
          `astaire local wait-sync: the last migration failed (${stripPrefixes(last.error ?? last.status)})${waiting.length ? ` and left lifecycle actions waiting (${waiting.join(', ')})` : ''}; see ${resolve(stateDir, 'workflow.log')}, fix the cause, then run astaire local redrive`,
        );
        return EXIT_FAILED;
      }
      if (waiting.length) {
        io.err(
          `astaire local wait-sync: lifecycle actions are left waiting (${waiting.join(', ')}); run astaire local redrive`,
        );
        return EXIT_FAILED;
      }
      io.out(
        `in sync at epoch ${topology.epoch} (${topology.servers.length} servers)${failed.length ? `; ${failed.length} earlier executions failed` : ''}`,
      );
      return EXIT_OK;
    }
    if (topology.newServers && !scaling) {
      io.err(
        `astaire local wait-sync: a migration is recorded (owner ${topology.migration?.executionId ?? '?'}) but no astaire local scale runs, so it was interrupted; run astaire local scale again (it re-drives what was left waiting first)`,
      );
      return EXIT_FAILED;
    }
    if (Date.now() > deadline) {
      io.err(
        `astaire local wait-sync: still migrating after ${timeoutSeconds} s; wait longer (--timeout S) or see astaire local status`,
      );
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
  const { stopped, problem, logs } = await LocalSession.down(stateDir);
  if (problem)
    io.out(`the state was damaged (${problem.split(';')[0]}): stopped what the process records name`);
  io.out(
    `stopped ${stopped} node${stopped === 1 ? '' : 's'} and removed the cluster's state in ${stateDir}${logs.length ? `; its logs stay: ${logs.join(', ')}` : ''}`,
  );
  return EXIT_OK;
}
