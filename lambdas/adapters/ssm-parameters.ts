import {
  GetParameterCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { parameterTier, parseTopology, serializeTopology, type Topology } from '../../core';
import { TopologyNotFoundError } from '../errors';
import type { TopologyStore } from '../ports';

type SsmLike = Pick<SSMClient, 'send'>;

/** The topology document in Parameter Store, validated on every read. */
export class SsmTopologyStore implements TopologyStore {
  constructor(
    private readonly ssm: SsmLike,
    /** The parameter of a cluster (the workflow serves one: its configured name). */
    private readonly nameOf: (cluster: string) => string,
  ) {}

  async read(cluster: string): Promise<Topology> {
    const name = this.nameOf(cluster);
    const value = await getValue(this.ssm, name);
    if (value === undefined) throw new TopologyNotFoundError(name);
    return parseTopology(value, `parameter ${name}`);
  }

  async write(topology: Topology): Promise<void> {
    const json = serializeTopology(topology);
    await this.ssm.send(
      new PutParameterCommand({
        Name: this.nameOf(topology.cluster),
        Value: json,
        Type: 'String',
        Overwrite: true,
        // An advanced parameter can never go back to standard: let a small document keep
        // whatever tier the parameter has.
        Tier: parameterTier(json) === 'Advanced' ? 'Advanced' : 'Intelligent-Tiering',
      }),
    );
  }
}

async function getValue(ssm: SsmLike, name: string): Promise<string | undefined> {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    return out.Parameter?.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw error;
  }
}
