import {
  DeleteParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import {
  ADVANCED_PARAMETER_BYTES,
  parameterTier,
  parseTopology,
  parseTopologyHead,
  partVersion,
  serializeTopology,
  splitTopology,
  type Topology,
  topologyPartsPath,
} from '../../core';
import { readTopologyJson } from '../../client/ssm-topology-reader';
import { TopologyNotFoundError } from '../errors';
import type { TopologyStore } from '../ports';

type SsmLike = Pick<SSMClient, 'send'>;

/**
 * The topology document in Parameter Store, validated on every read. A document that fits one
 * advanced parameter (8 KB) is stored inline in the head parameter, as always; a larger one in
 * parts under versioned names, switched by the head write (see core/topology-parts.ts). Parts of
 * versions older than the one just replaced are deleted after the switch.
 */
export class SsmTopologyStore implements TopologyStore {
  constructor(
    private readonly ssm: SsmLike,
    /** The parameter of a cluster (the workflow serves one: its configured name). */
    private readonly nameOf: (cluster: string) => string,
  ) {}

  async read(cluster: string): Promise<Topology> {
    const name = this.nameOf(cluster);
    const value = await readTopologyJson(this.ssm, name);
    if (value === undefined) throw new TopologyNotFoundError(name);
    return parseTopology(value, `parameter ${name}`);
  }

  async write(topology: Topology): Promise<void> {
    const name = this.nameOf(topology.cluster);
    const json = serializeTopology(topology);
    if (Buffer.byteLength(json) <= ADVANCED_PARAMETER_BYTES) {
      const replaced = await this.currentVersion(name, topology.cluster);
      await this.put(name, json, parameterTier(json));
      await this.deleteVersionsBut(topology.cluster, [replaced]);
      return;
    }
    const { head, parts } = splitTopology(json, topology.cluster, topology.epoch);
    const replaced = await this.currentVersion(name, topology.cluster);
    for (const part of parts) await this.put(part.name, part.value, 'Advanced');
    await this.put(name, JSON.stringify(head), 'Standard');
    await this.deleteVersionsBut(topology.cluster, [replaced, partVersion(topology.cluster, head.parts[0])]);
  }

  /**
   * PutParameter, retried with backoff while Parameter Store throttles (its PutParameter quota is a few
   * calls per second, and a large topology writes up to 100 parts): at most 8 attempts, about 13 s.
   */
  private async put(name: string, value: string, tier: 'Standard' | 'Advanced'): Promise<void> {
    const command = new PutParameterCommand({
      Name: name,
      Value: value,
      Type: 'String',
      Overwrite: true,
      // An advanced parameter can never go back to standard: let a small value keep
      // whatever tier the parameter has.
      Tier: tier === 'Advanced' ? 'Advanced' : 'Intelligent-Tiering',
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ssm.send(command);
        return;
      } catch (error) {
        const name = (error as Error).name;
        if (attempt >= 8 || (name !== 'ThrottlingException' && name !== 'TooManyUpdates')) throw error;
        await new Promise((r) => setTimeout(r, Math.min(3000, 100 * 2 ** (attempt - 1))));
      }
    }
  }

  /** The version of the parts the head names now (undefined when inline or absent). */
  private async currentVersion(name: string, cluster: string): Promise<string | undefined> {
    try {
      const value = (await this.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
      const head = value === undefined ? undefined : parseTopologyHead(value, `parameter ${name}`);
      return head ? partVersion(cluster, head.parts[0]) : undefined;
    } catch {
      return undefined; // absent or unreadable: nothing of it is kept beyond this write
    }
  }

  /**
   * Deletes the parts of every version but `keep` (the new one and the one it replaced: a reader that
   * read the replaced head finishes before the next write). Best effort: leftovers go at the next write.
   */
  private async deleteVersionsBut(cluster: string, keep: readonly (string | undefined)[]): Promise<void> {
    try {
      const stale: string[] = [];
      let nextToken: string | undefined;
      do {
        const out = await this.ssm.send(
          new GetParametersByPathCommand({
            Path: topologyPartsPath(cluster),
            Recursive: true,
            NextToken: nextToken,
          }),
        );
        for (const p of out.Parameters ?? [])
          if (p.Name && !keep.includes(partVersion(cluster, p.Name))) stale.push(p.Name);
        nextToken = out.NextToken;
      } while (nextToken);
      for (let i = 0; i < stale.length; i += 10)
        await this.ssm.send(new DeleteParametersCommand({ Names: stale.slice(i, i + 10) }));
    } catch (error) {
      console.warn(
        JSON.stringify({
          message: 'old topology parts not deleted (retried at the next write)',
          cluster,
          error: `${(error as Error).name}: ${(error as Error).message}`,
        }),
      );
    }
  }
}
