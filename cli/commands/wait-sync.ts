import {
  DescribeExecutionCommand,
  DescribeExecutionCommandOutput,
  ExecutionStatus,
  GetExecutionHistoryCommand,
  HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { intOption, UsageError } from '../args';
import { Command, EXIT_FAILED, EXIT_OK } from '../command';
import { awsClients, resolveWorkflow, WORKFLOW_OPTIONS, WorkflowClients } from '../state-machine';

export interface WaitSyncDeps extends WorkflowClients {
  sleep(ms: number): Promise<void>;
  now(): number;
}

const DEFAULT_TIMEOUT_S = 3600;
const DEFAULT_INTERVAL_S = 10;
/** Still in flight: a failed execution waiting to be redriven has not ended either. */
const UNFINISHED = new Set<string>([ExecutionStatus.RUNNING, ExecutionStatus.PENDING_REDRIVE]);
const EXECUTION_ARN =
  /^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$/;

/** History events worth a progress line, and how to say them. */
function describeEvent(e: HistoryEvent): string | undefined {
  switch (e.type) {
    case 'TaskStateEntered':
    case 'MapStateEntered':
    case 'ParallelStateEntered':
    case 'WaitStateEntered':
      return `entered ${e.stateEnteredEventDetails?.name}`;
    case 'MapIterationSucceeded':
      return `node resync ${e.mapIterationSucceededEventDetails?.index} done`;
    case 'MapIterationFailed':
      return `node resync ${e.mapIterationFailedEventDetails?.index} FAILED`;
    case 'TaskFailed':
      return `task failed: ${e.taskFailedEventDetails?.error ?? ''} ${e.taskFailedEventDetails?.cause ?? ''}`.trim();
    case 'TaskTimedOut':
      return `task timed out: ${e.taskTimedOutEventDetails?.error ?? ''}`.trim();
    default:
      return undefined;
  }
}

export function createWaitSyncCommand(deps: WaitSyncDeps): Command {
  return {
    name: 'wait-sync',
    summary: "Wait for a cluster's running (or latest) migration; exit 0 only if it succeeded",
    usage:
      'astaire wait-sync --cluster NAME [--timeout S] [--execution ARN] [--region R] [--state-machine ARN]',
    details: [
      "Waits for every running execution of the cluster's workflow (or, when none runs, looks at the",
      'most recent one), printing the states each enters. Exit 0 when all succeeded; 1 when any failed,',
      'timed out or was aborted, when none was ever run, or when --timeout passes first; 2 on bad usage.',
    ].join('\n'),
    options: {
      ...WORKFLOW_OPTIONS,
      timeout: {
        value: true,
        valueName: 'S',
        description: `give up (exit 1) after S seconds (default ${DEFAULT_TIMEOUT_S})`,
      },
      interval: {
        value: true,
        valueName: 'S',
        description: `poll every S seconds (default ${DEFAULT_INTERVAL_S})`,
      },
      execution: {
        value: true,
        valueName: 'ARN',
        description: 'wait for this execution (as printed by astaire resync)',
      },
    },
    async run({ options, positionals }, io) {
      if (positionals.length > 0)
        throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const timeoutS = intOption(options.timeout, 'timeout', { min: 1, max: 7 * 86400 }) ?? DEFAULT_TIMEOUT_S;
      const intervalS = intOption(options.interval, 'interval', { min: 1, max: 3600 }) ?? DEFAULT_INTERVAL_S;
      const execution = options.execution as string | undefined;
      if (execution !== undefined && !EXECUTION_ARN.test(execution))
        throw new UsageError(`--execution must be an execution ARN, got ${JSON.stringify(execution)}`);
      const target = await resolveWorkflow(options, deps);
      if (
        execution !== undefined &&
        !execution.includes(`:execution:${target.stateMachineArn.split(':').pop()}:`)
      )
        throw new UsageError(`--execution ${execution} is not an execution of ${target.stateMachineArn}`);
      const deadline = deps.now() + timeoutS * 1000;

      const arns = execution ? [execution] : await executionsToWatch(target.sfn, target.stateMachineArn);
      if (arns.length === 0) {
        io.err(
          `astaire wait-sync: cluster ${target.cluster} has never run its workflow (${target.stateMachineArn}); start one with astaire resync --cluster ${target.cluster}`,
        );
        return EXIT_FAILED;
      }
      const watches = arns.map((arn) => ({ arn, lastEventId: 0, status: '' }));
      const results = new Map<string, DescribeExecutionCommandOutput>();
      for (;;) {
        for (const w of watches) {
          if (results.has(w.arn)) continue;
          const d = await target.sfn.send(new DescribeExecutionCommand({ executionArn: w.arn }));
          w.lastEventId = await printProgress(target.sfn, w.arn, w.lastEventId, (line) =>
            io.out(`${name(w.arn)}: ${line}`),
          );
          if (d.status !== w.status) io.out(`${name(w.arn)}: ${d.status}`);
          w.status = d.status ?? '';
          if (!UNFINISHED.has(w.status)) results.set(w.arn, d);
        }
        if (results.size === watches.length) break;
        if (deps.now() >= deadline) {
          const running = watches.filter((w) => !results.has(w.arn)).map((w) => w.arn);
          io.err(
            `astaire wait-sync: still running after ${timeoutS}s: ${running.join(', ')}; wait longer (--timeout S)`,
          );
          return EXIT_FAILED;
        }
        await deps.sleep(Math.min(intervalS * 1000, Math.max(0, deadline - deps.now())));
      }

      const failed = [...results.values()].filter((d) => d.status !== ExecutionStatus.SUCCEEDED);
      for (const d of failed)
        io.err(
          `astaire wait-sync: ${name(d.executionArn!)} ${d.status}${d.error ? `: ${d.error}` : ''}${d.cause ? `: ${d.cause}` : ''}; see its history in the Step Functions console, then astaire resync --cluster ${target.cluster}`,
        );
      if (failed.length > 0) return EXIT_FAILED;
      io.out(`cluster ${target.cluster} is in sync`);
      return EXIT_OK;
    },
  };
}

/** Every running execution, oldest first; when none runs, the most recent one. */
async function executionsToWatch(sfn: Pick<SFNClient, 'send'>, stateMachineArn: string): Promise<string[]> {
  const running: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn, statusFilter: ExecutionStatus.RUNNING, nextToken }),
    );
    running.push(...(page.executions ?? []).map((e) => e.executionArn!));
    nextToken = page.nextToken;
  } while (nextToken);
  if (running.length > 0) return running.reverse();
  const latest = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1 }));
  return (latest.executions ?? []).map((e) => e.executionArn!);
}

/** Prints the interesting events after `afterId`; returns the last event id seen. */
async function printProgress(
  sfn: Pick<SFNClient, 'send'>,
  executionArn: string,
  afterId: number,
  print: (line: string) => void,
): Promise<number> {
  // Newest first, stopping at the first event already printed: one page per poll in steady state.
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  collect: do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        reverseOrder: true,
        includeExecutionData: false,
        nextToken,
      }),
    );
    for (const e of page.events ?? []) {
      if ((e.id ?? 0) <= afterId) break collect;
      fresh.push(e);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  fresh.reverse();
  for (const e of fresh) {
    const line = describeEvent(e);
    if (line) print(line);
  }
  return fresh.length ? (fresh[fresh.length - 1].id ?? afterId) : afterId;
}

function name(executionArn: string): string {
  return executionArn.split(':').pop() ?? executionArn;
}

export const command = createWaitSyncCommand({
  ...awsClients,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
});
