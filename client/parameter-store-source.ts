import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parameterName, parseTopology, Topology } from '../core';
import { TopologySourceError } from './errors';
import { TopologySource } from './topology-source';

export interface ParameterStoreTopologySourceProps {
  /** An SSM client (inject a mocked one in tests). */
  readonly ssm: SSMClient;
  /** The parameter, e.g. `/astaire/sessions/topology`; or give `cluster` instead. */
  readonly parameter?: string;
  /** The cluster, whose parameter is `/astaire/<cluster>/topology`. */
  readonly cluster?: string;
}

/** The topology in Parameter Store, read with GetParameter on every poll. */
export class ParameterStoreTopologySource implements TopologySource {
  readonly parameter: string;
  readonly description: string;
  private readonly ssm: SSMClient;

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
      const out = await this.ssm.send(new GetParameterCommand({ Name: this.parameter }));
      value = out.Parameter?.Value;
    } catch (cause) {
      const name = (cause as Error).name;
      const reason =
        name === 'ParameterNotFound'
          ? 'does not exist'
          : `cannot be read (${name}: ${(cause as Error).message})`;
      throw new TopologySourceError(this.description, reason, { cause });
    }
    if (value === undefined) throw new TopologySourceError(this.description, 'has no value');
    return parseTopology(value, this.description);
  }
}
