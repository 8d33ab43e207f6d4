import { SSMClient } from '@aws-sdk/client-ssm';
import { parameterName, parseTopology, Topology, TopologyValidationError } from '../core';
import { TopologySourceError } from './errors';
import { readTopologyJson, TopologyReadCache } from './ssm-topology-reader';
import { TopologySource } from './topology-source';

export interface ParameterStoreTopologySourceProps {
  /** An SSM client (inject a mocked one in tests). */
  readonly ssm: SSMClient;
  /** The parameter, e.g. `/astaire/sessions/topology`; or give `cluster` instead. */
  readonly parameter?: string;
  /** The cluster, whose parameter is `/astaire/<cluster>/topology`. */
  readonly cluster?: string;
}

/** The topology in Parameter Store (inline, or in parts for a large cluster), read on every poll. */
export class ParameterStoreTopologySource implements TopologySource {
  readonly parameter: string;
  readonly description: string;
  private readonly ssm: SSMClient;
  /** A large topology's parts are read again only when its head changes. */
  private readonly cache: TopologyReadCache = {};

  constructor(props: ParameterStoreTopologySourceProps) {
    const name = props.parameter ?? (props.cluster === undefined ? undefined : parameterName(props.cluster));
    if (!name) throw new TopologySourceError('parameter store', 'give a parameter name or a cluster');
    this.parameter = name;
    this.description = `parameter ${name}`;
    this.ssm = props.ssm;
  }

  async read(): Promise<Topology> {
    let value: string | undefined;
    try {
      value = await readTopologyJson(this.ssm, this.parameter, this.cache);
    } catch (cause) {
      if (cause instanceof TopologySourceError || cause instanceof TopologyValidationError) throw cause;
      const name = (cause as Error).name;
      throw new TopologySourceError(
        this.description,
        `cannot be read (${name}: ${(cause as Error).message})`,
        { cause },
      );
    }
    if (value === undefined) throw new TopologySourceError(this.description, 'does not exist');
    return parseTopology(value, this.description);
  }
}
