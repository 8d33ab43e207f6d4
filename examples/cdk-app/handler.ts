import { SSMClient } from '@aws-sdk/client-ssm';
import { AstaireClient, ClusterTopologySource, ParameterStoreTopologySource } from 'astaire-aws/client';

// Opened once per Lambda instance: the client keeps its connections and follows the topology, which it
// reads from the cluster's nodes (Parameter Store once, to find them). A thawed instance whose lease ran
// out polls the cluster before its first write.
const cluster = process.env.ASTAIRE_CLUSTER;
if (!cluster) throw new Error('ASTAIRE_CLUSTER is not set: the stack passes the cluster name');
const opening = AstaireClient.open({
  source: new ClusterTopologySource({
    bootstrap: new ParameterStoreTopologySource({ ssm: new SSMClient({}), cluster }),
  }),
});

export interface Request {
  readonly key?: string;
  /** When given, stored for an hour before reading back. */
  readonly value?: string;
}

/** `aws lambda invoke --function-name <ApiFunctionName> --payload '{"key":"k","value":"v"}' out.json` */
export const handler = async (event: Request): Promise<{ key: string; value: string | null }> => {
  const client = await opening;
  const key = event.key ?? 'greeting';
  if (event.value !== undefined) await client.set(key, event.value, { ttl: 3600 });
  const item = await client.get(key);
  return { key, value: item ? item.value.toString('utf8') : null };
};
