import type { SSMClient } from '@aws-sdk/client-ssm';
import { joinTopologyParts, parseTopologyHead, TopologySourceError } from '../core';

/** The calls the reader makes: GetParameter (the head), GetParameters (the parts). */
export type SsmReader = Pick<SSMClient, 'send'>;

/** The last head read and the document its parts held: a poller whose head has not changed reads no part. */
export interface TopologyReadCache {
  head?: string;
  json?: string;
}

/** GetParameters takes at most this many names. */
const NAMES_PER_CALL = 10;

/**
 * The topology document's JSON from its parameter: inline, or from the parts its head names
 * (see core/topology-parts.ts). Undefined when the parameter does not exist; SDK errors propagate.
 * When a part is missing (a writer replaced that version meanwhile), the head is read once more.
 * Shared by the workflow's store, the agent and the client. With `cache`, an unchanged head (same epoch,
 * same sha256) returns the document read last time: one GetParameter per poll.
 */
export async function readTopologyJson(
  ssm: SsmReader,
  name: string,
  cache?: TopologyReadCache,
): Promise<string | undefined> {
  // Required here, not at the top: file-based (local) agents never pay for loading the SDK.
  const { GetParameterCommand, GetParametersCommand } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the AWS SDK costs ~40 MB of RSS and a second of start-up that file-based (local) runs never need
    require('@aws-sdk/client-ssm') as typeof import('@aws-sdk/client-ssm');
  const source = `parameter ${name}`;
  for (let attempt = 1; ; attempt++) {
    let value: string | undefined;
    try {
      value = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return undefined;
      throw error;
    }
    if (value === undefined) return undefined;
    const head = parseTopologyHead(value, source);
    if (!head) return value;
    if (cache && cache.head === value && cache.json !== undefined) return cache.json;
    const values = new Map<string, string>();
    for (let i = 0; i < head.parts.length; i += NAMES_PER_CALL) {
      const out = await ssm.send(
        new GetParametersCommand({ Names: head.parts.slice(i, i + NAMES_PER_CALL) }),
      );
      for (const p of out.Parameters ?? []) if (p.Name && p.Value !== undefined) values.set(p.Name, p.Value);
    }
    const missing = head.parts.filter((part) => !values.has(part));
    if (missing.length === 0) {
      const json = joinTopologyParts(
        head,
        head.parts.map((part) => values.get(part)!),
        source,
      );
      if (cache) Object.assign(cache, { head: value, json });
      return json;
    }
    if (attempt === 2)
      throw new TopologySourceError(
        source,
        `part ${missing[0]} of epoch ${head.epoch} is missing, twice (the topology is being rewritten, or a part was deleted by hand); retry, or rewrite the topology`,
      );
  }
}
