#!/usr/bin/env node
import { accessSync, constants, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { AstaireError, parseAddress, Topology, TopologyValidationError } from '../core';
import type { TopologyReadCache } from '../client/ssm-topology-reader';
import { CRAWL_WALKS, CrawlWalk } from './crawl-proof';
import { TopologySourceError, UsageError } from './errors';
import { DEFAULT_AWAIT_CLIENTS_TIMEOUT_MS, runClientsCommand } from './await-clients';
import { DEFAULT_CLEANUP_DELETES_PER_SEC, runCleanup } from './cleanup';
import { runHeal } from './heal';
import { readNodeState } from './marker';
import { DEFAULT_LOCAL, DEFAULT_PROGRESS_INTERVAL_MS, runResync } from './migrator';
import { runPush } from './push';
import { FanOutReporter, JsonLinesReporter, ResyncReporter, TextReporter } from './reporter';
import { topologyFromFile } from './topology-source';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const USAGE = `Usage: astaire-agent resync --node ID (--topology FILE | --parameter NAME) [options]
       astaire-agent heal --node ID (--topology FILE | --parameter NAME) [options]
       astaire-agent cleanup --node ID (--topology FILE | --parameter NAME) [options]
       astaire-agent await-clients --node ID (--topology FILE | --parameter NAME) [options]
       astaire-agent publish --node ID (--topology FILE | --parameter NAME) [options]
       astaire-agent receive --node ID (--topology FILE | --parameter NAME) [options]
       astaire-agent push --node ID (--topology FILE | --parameter NAME) [options]

resync  pulls the vbuckets this node gains in the migration in progress from their old
        replicas into the local memcached (the workflow runs it on every joining or
        gaining node), and marks a node it filled a complete replica.
heal    refills this node when its memcached restarted or was flushed while it is a
        member: every vbucket it serves, from the other replicas that are complete;
        then marks it complete. Does nothing (exit 0, no AWS call) when the node's
        completeness marker is there: cheap enough to run every minute.
cleanup after a migration committed, deletes from the local memcached the items of
        every vbucket this node does not hold (stored before the cleanup began).
await-clients
        publishes the topology on every member (astaire:topology, astaire:epoch) and waits
        until every live client acknowledges its epoch (docs/client-protocol.md); fails
        with ClientsNotSwitched, naming them, after --await-timeout-ms.
publish publishes the topology on every member, without waiting.
receive resync --expect-pushes: what the workflow runs on the receivers when the
        sources push.
push    on an old replica the migration designates as a source: one crawl of the local
        memcached for all its receivers, each item written to the receivers of its
        vbucket once they are ready (resync --expect-pushes); a receiver it does not
        finish pulls those vbuckets itself.

Options:
  --node ID                    this node's id in the topology (required)
  --topology FILE              topology document (JSON) from a file
  --parameter NAME             topology document from this Parameter Store parameter
  --local HOST:PORT            local memcached to fill (default ${DEFAULT_LOCAL})
  --max-bytes-per-sec N        resync, heal: cap on copied bytes per second; replaces the adaptive
                               throttle (default: no fixed cap)
  --max-source-latency-ms MS   resync, heal: adaptive throttle, slows the copy from a source whose
                               latency, probed every 20 ms from the agent, goes over MS (default:
                               twice its latency before the copy, at least 1 ms; 0 turns it off)
  --max-deletes-per-sec N      cleanup: cap on deletes per second (default ${DEFAULT_CLEANUP_DELETES_PER_SEC})
  --await-timeout-ms N         await-clients: how long to wait for the clients (default ${DEFAULT_AWAIT_CLIENTS_TIMEOUT_MS})
  --expect-pushes              resync: the sources push (astaire-agent push); pull only what
                               they did not
  --push-wait-ms N             resync --expect-pushes: pull what a pusher sends nothing for
                               (no record, no heartbeat) within N ms (default 30000); push:
                               give up a receiver not ready within N ms (default 120000)
  --json                       JSON lines on stdout: progress objects, then the report
  --progress-interval-ms N     progress every N ms (default ${DEFAULT_PROGRESS_INTERVAL_MS})
  --task-token T               Step Functions task token: heartbeats, then success or failure;
                               prefer the ASTAIRE_TASK_TOKEN environment variable (a command
                               line is visible to every user of the node)
  --region R                   AWS region for Parameter Store, Step Functions and CloudWatch
  --max-passes N               enumerations per source at most: passes after the first copy
                               what the crawler missed (default 3)
  --no-crawl-proof             enumerate each source again even when its crawl proved it
                               listed every item
  --crawl-walk auto|lru|hash   how sources are enumerated (default auto): hash walks the hash
                               table, one walk lists every item under any traffic; lru walks the
                               LRU lists, proven only when no client touched the source, else
                               walked again; auto takes hash on memcached 1.6.19 or later. Before
                               1.6.19 a hash walk holds an item lock while the agent's socket is
                               full: a stalled agent stalls the source's clients
  --connect-timeout-ms N       per-connection connect timeout (default 3000)
  --io-timeout-ms N            fail a connection silent this long while awaited (default 10000)
  --spill-dir DIR              where enumerated keys spill when they outgrow 8 MiB per queue
                               (default: the system temp directory; removed afterwards)
  --help                       this text

Exit status: 0 succeeded (or, for heal, nothing to do), 1 failed, 2 bad usage or input.
`;

/** The AWS clients the agent uses; injected so tests pass mocked ones. */
export interface AwsClients {
  ssm(region?: string): Pick<SSMClient, 'send'>;
  sfn(region?: string): SFNClient;
  cloudWatch(region?: string): CloudWatchClient;
}

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly aws?: AwsClients;
  /** Where ASTAIRE_TASK_TOKEN is read from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The environment variable that carries the Step Functions task token. The SSM document sets it, so
 * the token never appears on a command line (`ps` shows those to every user of the node).
 */
export const TASK_TOKEN_ENV = 'ASTAIRE_TASK_TOKEN';

// Loaded only when used: the SDK costs ~40 MB of RSS and a second of start-up that local runs don't need.
const defaultAws: AwsClients = {
  ssm: (region) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    new (require('@aws-sdk/client-ssm') as typeof import('@aws-sdk/client-ssm')).SSMClient({ region }),
  sfn: (region) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    new (require('@aws-sdk/client-sfn') as typeof import('@aws-sdk/client-sfn')).SFNClient({ region }),
  cloudWatch: (region) =>
    new // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    (require('@aws-sdk/client-cloudwatch') as typeof import('@aws-sdk/client-cloudwatch')).CloudWatchClient({
      region,
    }),
};

/**
 * Runs the CLI; resolves with the exit status. Never writes anything but JSON lines to stdout with --json.
 * With a task token, every exit reports to Step Functions: a bad command line, an unreadable topology or a
 * crash fail the task at once (SendTaskFailure), rather than leaving the workflow to its heartbeat timeout.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const env = io.env ?? process.env;
  const token = env[TASK_TOKEN_ENV] || tokenInArgs(argv);
  const region = valueInArgs(argv, '--region');
  try {
    const code = await run(argv, io, env[TASK_TOKEN_ENV] || undefined);
    if (code.reported || !token || code.exit === EXIT_OK) return code.exit;
    await failTask(io, token, region, code.why ?? `astaire-agent exited with status ${code.exit}`, argv);
    return code.exit;
  } catch (error) {
    if (token) await failTask(io, token, region, `astaire-agent crashed: ${(error as Error).message}`, argv);
    throw error;
  }
}

/** Reports a failure the resync itself could not report (it never started). */
async function failTask(
  io: CliIo,
  taskToken: string,
  region: string | undefined,
  cause: string,
  argv: readonly string[],
): Promise<void> {
  // The error the workflow's Catch sees: a cleanup's (or a push's) failure is not a resync's.
  const command = commandIn(argv);
  const error =
    command === 'cleanup'
      ? 'CleanupFailed'
      : command === 'push'
        ? 'PushFailed'
        : command === 'await-clients' || command === 'publish'
          ? 'AwaitClientsFailed'
          : 'ResyncFailed';
  try {
    const sfn = (io.aws ?? defaultAws).sfn(region);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    const { SendTaskFailureCommand } = require('@aws-sdk/client-sfn') as typeof import('@aws-sdk/client-sfn');
    await sfn.send(new SendTaskFailureCommand({ taskToken, error, cause: cause.slice(0, 32768) }));
  } catch (error) {
    io.stderr(`astaire-agent: could not report the failure to Step Functions: ${(error as Error).message}\n`);
  }
}

/** The subcommand named on the command line, even one that does not parse. */
function commandIn(argv: readonly string[]): Command | undefined {
  return COMMANDS.find((c) => argv.includes(c));
}

function valueInArgs(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  return undefined;
}

function tokenInArgs(argv: readonly string[]): string | undefined {
  return valueInArgs(argv, '--task-token');
}

interface RunResult {
  readonly exit: number;
  /** The outcome already went to Step Functions (the resync's reporter sent it). */
  readonly reported?: boolean;
  /** Why it failed, for a SendTaskFailure the run could not send itself. */
  readonly why?: string;
}

async function run(argv: readonly string[], io: CliIo, envToken: string | undefined): Promise<RunResult> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    io.stderr(
      `astaire-agent: ${(error as Error).message}\n${error instanceof UsageError ? 'Try --help.\n' : ''}`,
    );
    return { exit: EXIT_USAGE, why: `astaire-agent usage: ${(error as Error).message}` };
  }
  if (parsed === 'help') {
    io.stdout(USAGE);
    return { exit: EXIT_OK };
  }
  const a = envToken ? { ...parsed, taskToken: envToken } : parsed;
  const aws = io.aws ?? defaultAws;
  // The common case of a heal check, every minute on every node: the marker is there. Answered from the
  // local memcached alone, before any Parameter Store call (instance ids are unique, so the node suffices).
  if (a.command === 'heal') {
    const state = await readNodeState(a.local, { connectTimeoutMs: a.connectTimeoutMs }).catch(
      () => undefined,
    );
    if (state?.marker?.node === a.node) {
      io.stderr(`astaire-agent: heal of ${a.node}: nothing to do (the node is a complete replica)\n`);
      return { exit: EXIT_OK };
    }
  }
  // The run's reads of the parameter (at the start, then every check that its migration is still current):
  // while the head is unchanged, one GetParameter each, not the parts again (docs/scale.md, Parameter Store).
  const parameterCache: TopologyReadCache = {};
  let topology: Topology;
  try {
    topology = a.topology
      ? await topologyFromFile(a.topology)
      : // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
        await (require('./topology-source') as typeof import('./topology-source')).topologyFromParameter(
          aws.ssm(a.region),
          a.parameter as string,
          parameterCache,
        );
  } catch (error) {
    if (error instanceof TopologySourceError || error instanceof TopologyValidationError) {
      io.stderr(`astaire-agent: ${error.message}\n`);
      return { exit: EXIT_USAGE, why: `astaire-agent could not read the topology: ${error.message}` };
    }
    throw error;
  }

  if (a.command === 'await-clients' || a.command === 'publish') return runClients(a, topology, io, aws);

  const reporters: ResyncReporter[] = [
    a.json ? new JsonLinesReporter(io.stdout) : new TextReporter(io.stderr, a.command),
  ];
  if (a.taskToken || a.parameter) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    const { AwsReporter } = require('./aws-reporter') as typeof import('./aws-reporter');
    reporters.push(
      new AwsReporter({
        sfn: aws.sfn(a.region),
        cloudWatch: aws.cloudWatch(a.region),
        taskToken: a.taskToken,
        mode: a.command === 'receive' ? 'resync' : a.command,
      }),
    );
  }
  const reporter = new FanOutReporter(reporters, (e) =>
    io.stderr(`astaire-agent: reporting failed: ${String(e)}\n`),
  );
  const options = {
    topology,
    node: a.node,
    local: a.local,
    maxBytesPerSec: a.maxBytesPerSec,
    maxSourceLatencyMs: a.maxSourceLatencyMs,
    progressIntervalMs: a.progressIntervalMs,
    connectTimeoutMs: a.connectTimeoutMs,
    ioTimeoutMs: a.ioTimeoutMs,
    maxPasses: a.maxPasses,
    crawlProof: a.crawlProof,
    crawlWalk: a.crawlWalk,
    spillDir: a.spillDir,
    reporter,
    log: (line: string) => io.stderr(`astaire-agent: ${line}\n`),
  };
  try {
    if (a.command === 'cleanup') {
      const cleaned = await runCleanup({ ...options, maxDeletesPerSec: a.maxDeletesPerSec });
      return { exit: cleaned.status === 'succeeded' ? EXIT_OK : EXIT_FAILED, reported: true };
    }
    if (a.command === 'heal') {
      const healed = await runHeal(options);
      if (healed.skipped) {
        io.stderr(
          `astaire-agent: heal of ${a.node}: nothing to do (${healed.skipped === 'complete' ? 'the node is a complete replica' : `not a member of cluster ${topology.cluster}`})\n`,
        );
        return { exit: EXIT_OK };
      }
      return { exit: healed.report.status === 'succeeded' ? EXIT_OK : EXIT_FAILED, reported: true };
    }
    // The agent serves exactly this migration: when the topology moves on (a rollback after another
    // node's failure, a later execution), it stops instead of copying on for hours (issue 13).
    const reread = () =>
      a.topology
        ? topologyFromFile(a.topology)
        : // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
          (require('./topology-source') as typeof import('./topology-source')).topologyFromParameter(
            aws.ssm(a.region),
            a.parameter as string,
            parameterCache,
          );
    const stillCurrent = async () => supersededBy(topology, await reread());
    if (a.command === 'push') {
      // A pusher also ends with its migration: the workflow's MigrateData waits for it.
      const pushed = await runPush({ ...options, readyTimeoutMs: a.pushWaitMs, stillCurrent });
      return { exit: pushed.status === 'succeeded' ? EXIT_OK : EXIT_FAILED, reported: true };
    }
    const report = await runResync({
      ...options,
      ...(a.expectPushes
        ? { expectPushes: { startTimeoutMs: a.pushWaitMs, stallTimeoutMs: a.pushWaitMs } }
        : {}),
      stillCurrent,
    });
    return { exit: report.status === 'succeeded' ? EXIT_OK : EXIT_FAILED, reported: true };
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`astaire-agent: ${error.message}\n`);
      return { exit: EXIT_USAGE, why: `astaire-agent: ${error.message}` };
    }
    throw error;
  }
}

/**
 * await-clients / publish: the outcome goes to Step Functions itself (SendTaskSuccess with the result,
 * or SendTaskFailure with the error's name, ClientsNotSwitched on a timeout, so the workflow's Catch
 * rolls back naming the clients).
 */
async function runClients(a: ResyncArgs, topology: Topology, io: CliIo, aws: AwsClients): Promise<RunResult> {
  const log = (line: string) => io.stderr(`astaire-agent: ${line}\n`);
  let outcome: { ok: true; result: unknown } | { ok: false; error: Error };
  try {
    const result = await runClientsCommand({
      mode: a.command as 'await-clients' | 'publish',
      topology,
      epoch: topology.epoch,
      timeoutMs: a.awaitTimeoutMs,
      log,
    });
    outcome = { ok: true, result };
  } catch (error) {
    outcome = { ok: false, error: error as Error };
  }
  if (outcome.ok) {
    if (a.json) io.stdout(`${JSON.stringify(outcome.result)}\n`);
    else log(`${a.command} of epoch ${topology.epoch}: ${JSON.stringify(outcome.result)}`);
  } else log(`${a.command} of epoch ${topology.epoch} failed: ${outcome.error.message}`);
  if (a.taskToken) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    const sfnApi = require('@aws-sdk/client-sfn') as typeof import('@aws-sdk/client-sfn');
    const sfn = aws.sfn(a.region);
    try {
      if (outcome.ok)
        await sfn.send(
          new sfnApi.SendTaskSuccessCommand({
            taskToken: a.taskToken,
            output: JSON.stringify(outcome.result),
          }),
        );
      else
        await sfn.send(
          new sfnApi.SendTaskFailureCommand({
            taskToken: a.taskToken,
            error: outcome.error.name,
            cause: outcome.error.message.slice(0, 32768),
          }),
        );
    } catch (error) {
      log(`could not report to Step Functions: ${(error as Error).message}`);
      return { exit: EXIT_FAILED };
    }
  }
  return { exit: outcome.ok ? EXIT_OK : EXIT_FAILED, reported: true };
}

/** Why `now` shows that the migration of `started` is no longer current; undefined while it is. */
export function supersededBy(started: Topology, now: Topology): string | undefined {
  const mine = started.migration?.executionId;
  if (now.migration?.executionId === mine && now.epoch === started.epoch) return undefined;
  return `the migration this agent serves (epoch ${started.epoch}, execution ${mine ?? '?'}) is no longer current: the topology is at epoch ${now.epoch}${now.migration ? `, migrating for ${now.migration.executionId}` : ', with no migration'}`;
}

export interface ResyncArgs {
  /** resync (a migration's pull), heal (refill a member that restarted) or cleanup (after a commit). */
  readonly command: Command;
  readonly node: string;
  readonly topology?: string;
  readonly parameter?: string;
  readonly local: string;
  readonly maxBytesPerSec?: number;
  /** --max-source-latency-ms: the adaptive throttle's bound (0: off). */
  readonly maxSourceLatencyMs?: number;
  readonly maxDeletesPerSec?: number;
  /** await-clients: --await-timeout-ms. */
  readonly awaitTimeoutMs?: number;
  readonly json: boolean;
  readonly progressIntervalMs: number;
  readonly taskToken?: string;
  readonly region?: string;
  readonly connectTimeoutMs?: number;
  readonly ioTimeoutMs?: number;
  readonly maxPasses?: number;
  /** False with --no-crawl-proof. */
  readonly crawlProof: boolean;
  readonly crawlWalk: CrawlWalk;
  readonly spillDir?: string;
  /** resync: --expect-pushes. */
  readonly expectPushes: boolean;
  readonly pushWaitMs?: number;
}

/** Validates the command line; throws UsageError with a one-line reason. */
export function parseCommandLine(argv: readonly string[]): ResyncArgs | 'help' {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        node: { type: 'string' },
        topology: { type: 'string' },
        parameter: { type: 'string' },
        local: { type: 'string' },
        'max-bytes-per-sec': { type: 'string' },
        'max-source-latency-ms': { type: 'string' },
        'max-deletes-per-sec': { type: 'string' },
        'await-timeout-ms': { type: 'string' },
        json: { type: 'boolean' },
        'progress-interval-ms': { type: 'string' },
        'task-token': { type: 'string' },
        region: { type: 'string' },
        'connect-timeout-ms': { type: 'string' },
        'io-timeout-ms': { type: 'string' },
        'max-passes': { type: 'string' },
        'no-crawl-proof': { type: 'boolean' },
        'crawl-walk': { type: 'string' },
        'spill-dir': { type: 'string' },
        'expect-pushes': { type: 'boolean' },
        'push-wait-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (cause) {
    throw new UsageError((cause as Error).message.split('\n')[0], { cause });
  }
  if (values.help) return 'help';
  const command = positionals.length === 1 ? COMMANDS.find((c) => c === positionals[0]) : undefined;
  if (!command)
    throw new UsageError(
      positionals.length === 0
        ? `missing command: ${COMMANDS.join(', ')}`
        : `unknown command: ${positionals.join(' ')} (commands: ${COMMANDS.join(', ')})`,
    );
  if (values['await-timeout-ms'] !== undefined && command !== 'await-clients')
    throw new UsageError('--await-timeout-ms applies to await-clients only');
  if (values['max-deletes-per-sec'] !== undefined && command !== 'cleanup')
    throw new UsageError('--max-deletes-per-sec applies to cleanup only');
  if (values['max-bytes-per-sec'] !== undefined && command === 'cleanup')
    throw new UsageError('--max-bytes-per-sec applies to resync and heal only');
  if (values['expect-pushes'] && command !== 'resync' && command !== 'receive')
    throw new UsageError('--expect-pushes applies to resync only');
  if (
    values['push-wait-ms'] !== undefined &&
    command !== 'resync' &&
    command !== 'receive' &&
    command !== 'push'
  )
    throw new UsageError('--push-wait-ms applies to resync and push only');
  if (!values.node) throw new UsageError('--node ID is required');
  if ((values.topology === undefined) === (values.parameter === undefined))
    throw new UsageError('give exactly one of --topology FILE and --parameter NAME');
  const local = values.local ?? DEFAULT_LOCAL;
  if (!parseAddress(local)) throw new UsageError(`--local must be HOST:PORT, got ${JSON.stringify(local)}`);
  const crawlWalk = CRAWL_WALKS.find((w) => w === (values['crawl-walk'] ?? 'auto'));
  if (!crawlWalk)
    throw new UsageError(
      `--crawl-walk must be one of ${CRAWL_WALKS.join(', ')}, got ${JSON.stringify(values['crawl-walk'])}`,
    );
  const spillDir = values['spill-dir'];
  if (spillDir !== undefined && !isWritableDir(spillDir))
    throw new UsageError(`--spill-dir must be a writable directory, got ${JSON.stringify(spillDir)}`);
  return {
    command,
    node: values.node,
    topology: values.topology,
    parameter: values.parameter,
    local,
    maxBytesPerSec: positiveInt(values['max-bytes-per-sec'], '--max-bytes-per-sec'),
    maxSourceLatencyMs: milliseconds(values['max-source-latency-ms'], '--max-source-latency-ms'),
    maxDeletesPerSec: positiveInt(values['max-deletes-per-sec'], '--max-deletes-per-sec'),
    awaitTimeoutMs: positiveInt(values['await-timeout-ms'], '--await-timeout-ms'),
    json: values.json ?? false,
    progressIntervalMs:
      positiveInt(values['progress-interval-ms'], '--progress-interval-ms') ?? DEFAULT_PROGRESS_INTERVAL_MS,
    taskToken: values['task-token'],
    region: values.region,
    connectTimeoutMs: positiveInt(values['connect-timeout-ms'], '--connect-timeout-ms'),
    ioTimeoutMs: positiveInt(values['io-timeout-ms'], '--io-timeout-ms'),
    maxPasses: positiveInt(values['max-passes'], '--max-passes'),
    crawlProof: !values['no-crawl-proof'],
    crawlWalk,
    spillDir: values['spill-dir'],
    expectPushes: command === 'receive' || (values['expect-pushes'] ?? false),
    pushWaitMs: positiveInt(values['push-wait-ms'], '--push-wait-ms'),
  };
}

const COMMANDS = ['resync', 'receive', 'heal', 'cleanup', 'push', 'await-clients', 'publish'] as const;
type Command = (typeof COMMANDS)[number];

function isWritableDir(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return false;
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text)))
    throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function milliseconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !Number.isFinite(Number(text)))
    throw new UsageError(`${flag} must be a number of milliseconds (0 or more), got ${JSON.stringify(text)}`);
  return Number(text);
}

if (require.main === module) {
  main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const e = error as Error;
      process.stderr.write(
        `astaire-agent: ${e instanceof AstaireError ? `${e.name}: ` : ''}${e.stack ?? String(e)}\n`,
      );
      process.exitCode = EXIT_FAILED;
    },
  );
}
