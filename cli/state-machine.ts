import { SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { stateMachineArnParameterName } from '../core/parameter-names';
import { isValidClusterName } from '../core/topology';
import { OptionSpec, UsageError } from './args';

/** The SDK calls the workflow commands make; tests pass aws-sdk-client-mock clients. */
export interface WorkflowClients {
  sfn(region: string | undefined): Pick<SFNClient, 'send'>;
  ssm(region: string | undefined): Pick<SSMClient, 'send'>;
}

/** Real clients, created on first use (region from --region, else the SDK's usual chain). */
export const awsClients: WorkflowClients = {
  sfn: (region) => new SFNClient({ region }),
  ssm: (region) => new SSMClient({ region }),
};

export const WORKFLOW_OPTIONS: Record<string, OptionSpec> = {
  cluster: { value: true, valueName: 'NAME', description: 'the cluster (required)' },
  region: {
    value: true,
    valueName: 'R',
    description: "AWS region (default: the state machine ARN's, else the SDK default)",
  },
  'state-machine': {
    value: true,
    valueName: 'ARN',
    description: 'the workflow (default: read from /astaire/NAME/state-machine-arn)',
  },
};

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

export interface WorkflowTarget {
  readonly cluster: string;
  readonly region: string | undefined;
  readonly stateMachineArn: string;
  readonly sfn: Pick<SFNClient, 'send'>;
}

/**
 * Validates --cluster, --region and --state-machine and finds the cluster's state machine:
 * the flag, else the parameter the stack wrote. A cluster with no such parameter is bad input.
 */
export async function resolveWorkflow(
  options: Record<string, unknown>,
  clients: WorkflowClients,
): Promise<WorkflowTarget> {
  const cluster = options.cluster;
  if (typeof cluster !== 'string') throw new UsageError('--cluster NAME is required');
  if (!isValidClusterName(cluster))
    throw new UsageError(`--cluster must be a cluster name, got ${JSON.stringify(cluster)}`);
  const flagArn = options['state-machine'] as string | undefined;
  let region = options.region as string | undefined;
  if (region !== undefined && !/^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(region))
    throw new UsageError(`--region must be a region such as eu-west-1, got ${JSON.stringify(region)}`);
  let stateMachineArn: string;
  if (flagArn !== undefined) {
    const match = STATE_MACHINE_ARN.exec(flagArn);
    if (!match)
      throw new UsageError(`--state-machine must be a state machine ARN, got ${JSON.stringify(flagArn)}`);
    region ??= match[1];
    stateMachineArn = flagArn;
  } else {
    const name = stateMachineArnParameterName(cluster);
    let value: string | undefined;
    try {
      value = (await clients.ssm(region).send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    } catch (error) {
      if ((error as Error).name !== 'ParameterNotFound') throw error;
      throw new UsageError(
        `cluster ${cluster} has no workflow here: ${name} does not exist${region ? ` in ${region}` : ''} (deployed in another region? pass --region or --state-machine)`,
      );
    }
    if (!value || !STATE_MACHINE_ARN.test(value))
      throw new UsageError(`${name} does not hold a state machine ARN (got ${JSON.stringify(value)})`);
    stateMachineArn = value;
  }
  return { cluster, region, stateMachineArn, sfn: clients.sfn(region) };
}
