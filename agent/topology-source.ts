import { readFile } from 'node:fs/promises';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { parseTopology, Topology } from '../core';
import { TopologySourceError } from './errors';

/** Reads and validates the topology document from a file. */
export async function topologyFromFile(path: string): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new TopologySourceError(`topology file ${path}`, `cannot be read: ${(cause as Error).message}`, {
      cause,
    });
  }
  return parseTopology(text, `topology file ${path}`);
}

/** Port: the one Parameter Store call the agent makes. */
export type ParameterReader = Pick<SSMClient, 'send'>;

/** Reads and validates the topology document from a Parameter Store parameter. */
export async function topologyFromParameter(ssm: ParameterReader, name: string): Promise<Topology> {
  const source = `parameter ${name}`;
  let value: string | undefined;
  try {
    // Required here, not at the top: file-based (local) runs never pay for loading the SDK.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    const { GetParameterCommand } = require('@aws-sdk/client-ssm') as typeof import('@aws-sdk/client-ssm');
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    value = out.Parameter?.Value;
  } catch (cause) {
    const e = cause as Error;
    throw new TopologySourceError(source, `cannot be read: ${e.name}: ${e.message}`, { cause });
  }
  if (value === undefined) throw new TopologySourceError(source, 'has no value');
  return parseTopology(value, source);
}
