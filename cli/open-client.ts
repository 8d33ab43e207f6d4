import { OptionSpec, UsageError } from './args';
import type { AstaireClient, TopologySource } from '../client';

/** The options every data command (get, set, delete) shares. */
export const CLIENT_OPTIONS: Record<string, OptionSpec> = {
  topology: { value: true, valueName: 'FILE', short: 't', description: 'topology document (JSON)' },
  parameter: {
    value: true,
    valueName: 'NAME',
    description: 'Parameter Store parameter holding the topology',
  },
  region: {
    value: true,
    valueName: 'R',
    description: 'AWS region of --parameter (default: the SDK default)',
  },
  timeout: { value: true, valueName: 'MS', description: 'request timeout per server (default 1000)' },
};

/**
 * Opens a client on `--topology FILE` or `--parameter NAME`, without polling.
 * A topology that cannot be read or does not parse is bad input (UsageError, exit 2).
 */
export async function openClient(options: Record<string, unknown>): Promise<AstaireClient> {
  const { AstaireClient, FileTopologySource, ParameterStoreTopologySource } = await import('../client');
  const { TopologyValidationError } = await import('../core');
  const file = options.topology;
  const parameter = options.parameter;
  if ((file === undefined) === (parameter === undefined))
    throw new UsageError('give exactly one of --topology FILE and --parameter NAME');
  if (options.region !== undefined && parameter === undefined)
    throw new UsageError('--region goes with --parameter');
  const timeout = options.timeout === undefined ? undefined : Number(options.timeout);
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 1 || timeout > 600_000))
    throw new UsageError(
      `--timeout must be an integer from 1 to 600000 ms, got ${JSON.stringify(options.timeout)}`,
    );
  let source: TopologySource;
  if (typeof file === 'string') source = new FileTopologySource(file);
  else {
    const { SSMClient } = await import('@aws-sdk/client-ssm');
    const region = typeof options.region === 'string' ? options.region : undefined;
    source = new ParameterStoreTopologySource({
      ssm: new SSMClient(region ? { region } : {}),
      parameter: parameter as string,
    });
  }
  try {
    return await AstaireClient.open({
      source,
      pollIntervalMs: 0,
      requestTimeoutMs: timeout,
      connectTimeoutMs: timeout,
    });
  } catch (error) {
    if (error instanceof TopologyValidationError || (error as Error).name === 'TopologySourceError')
      throw new UsageError((error as Error).message);
    throw error;
  }
}

/** Errors that mean the input was bad (exit 2), not that the cluster failed. */
export function isBadInput(error: unknown): boolean {
  const name = (error as Error)?.name;
  return ['InvalidKeyError', 'KeyTooLongError', 'ValueTooLargeError', 'InvalidOptionError'].includes(name);
}
