import { readFile } from 'node:fs/promises';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { readTopologyJson, TopologyReadCache } from '../client/ssm-topology-reader';
import { parseTopology, Topology, TopologyValidationError } from '../core';
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

/** Port: the Parameter Store calls the agent makes (GetParameter, and GetParameters for a topology in parts). */
export type ParameterReader = Pick<SSMClient, 'send'>;

/**
 * Reads and validates the topology document from a Parameter Store parameter (inline or in parts). With
 * `cache` (kept across the agent's re-reads), an unchanged head costs one GetParameter, not the parts again.
 */
export async function topologyFromParameter(
  ssm: ParameterReader,
  name: string,
  cache?: TopologyReadCache,
): Promise<Topology> {
  const source = `parameter ${name}`;
  let value: string | undefined;
  try {
    value = await readTopologyJson(ssm, name, cache);
  } catch (cause) {
    if (cause instanceof TopologySourceError || cause instanceof TopologyValidationError) throw cause;
    const e = cause as Error;
    throw new TopologySourceError(source, `cannot be read: ${e.name}: ${e.message}`, { cause });
  }
  if (value === undefined) throw new TopologySourceError(source, 'does not exist');
  return parseTopology(value, source);
}
