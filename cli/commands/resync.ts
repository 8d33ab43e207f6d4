import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { UsageError } from '../args';
import { Command, EXIT_OK } from '../command';
import { awsClients, resolveWorkflow, WORKFLOW_OPTIONS, WorkflowClients } from '../state-machine';

/** The manual execution input of a resync (see lambdas/request.ts and the README). */
export function resyncInput(cluster: string): string {
  return JSON.stringify({ cluster, action: 'resync' });
}

export function createResyncCommand(clients: WorkflowClients): Command {
  return {
    name: 'resync',
    summary: "Start the workflow that makes a cluster's topology match its Auto Scaling group",
    usage: 'astaire resync --cluster NAME [--region R] [--state-machine ARN]',
    details: [
      'Starts an execution with the manual input {"cluster": NAME, "action": "resync"} and prints its ARN.',
      'It waits for any migration in progress (the cluster lock), moves the data the current members',
      'need and commits. Follow it with: astaire wait-sync --cluster NAME --execution ARN',
    ].join('\n'),
    options: WORKFLOW_OPTIONS,
    async run({ options, positionals }, io) {
      if (positionals.length > 0)
        throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const target = await resolveWorkflow(options, clients);
      const started = await target.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: target.stateMachineArn,
          input: resyncInput(target.cluster),
        }),
      );
      if (!started.executionArn) throw new Error('Step Functions returned no execution ARN');
      io.out(started.executionArn);
      return EXIT_OK;
    },
  };
}

export const command = createResyncCommand(awsClients);
