import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AstaireClient,
  ClientsNotSwitchedError,
  ClusterTopologySource,
  ParameterStoreTopologySource,
  TopologyLeaseExpiredError,
} from '../../../client';
import { ClusterAdmin } from '../../../client/cluster-admin';
import { ackKey, parseTopology, ROSTER_KEY, Server, Topology } from '../../../core';
import { MemcachedCluster } from '../../support/memcached';
import { metaRaw } from './support';

// Issue 15: clients learn the topology from the nodes and acknowledge the epoch they use; the
// workflow's awaiter waits for every live client. Real memcached on loopback.
const topologyOf = (servers: Server[], epoch: number, newServers?: Server[]): Topology =>
  parseTopology(
    {
      cluster: 'it',
      epoch,
      vbuckets: 1024,
      replicas: 2,
      servers,
      ...(newServers
        ? { newServers, migration: { executionId: 'test', startedAt: '2025-01-01T00:00:00Z' } }
        : {}),
    },
    'test',
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the topology served by the cluster, and acknowledgements (real memcached)', () => {
  let cluster: MemcachedCluster;
  let admin: ClusterAdmin;
  const clients: AstaireClient[] = [];

  beforeEach(async () => {
    cluster = await MemcachedCluster.start(3);
    admin = new ClusterAdmin();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await admin.close();
    await cluster.stop();
  });

  const open = async (
    options: Partial<ConstructorParameters<typeof ClusterTopologySource>[0]> = {},
    pollIntervalMs?: number,
  ) => {
    const source = new ClusterTopologySource({ seeds: [cluster.nodes[0].address], ...options });
    const client = await AstaireClient.open({ source, pollIntervalMs });
    clients.push(client);
    return { client, source };
  };

  it('given a client that moved its poll node (the members changed), when awaited, then its stale acknowledgement on the old node does not hold the migration', async () => {
    const servers = cluster.servers();
    // As the client leaves them: epoch 2 on the node it polled before, epoch 3 on the node it polls now.
    const ack = (address: string, epoch: number) =>
      metaRaw(
        address,
        `ms ${ackKey('mover')} ${String(epoch).length} T30\r\n${epoch}\r\nms ${ROSTER_KEY} 6 T0\r\nmover\n\r\n`,
      );
    await ack(servers[0].address, 2);
    await ack(servers[1].address, 3);
    const started = Date.now();
    const done = await admin.awaitClients(topologyOf(servers, 3), { timeoutMs: 3000 });
    expect(done.clients).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('given a published topology, when a client polls, then it acknowledges its epoch on one node and the awaiter counts it', async () => {
    const servers = cluster.servers();
    await admin.publish(topologyOf(servers, 1));
    const { client, source } = await open({ clientId: 'app-1' }, 0);
    expect(client.topology.epoch).toBe(1);
    await client.refreshTopology();
    const acks = await Promise.all(
      cluster.nodes.map((n) => metaRaw(n.address, `mg ${ackKey('app-1')} v\r\n`)),
    );
    expect(acks.filter((a) => a.toString().startsWith('VA 1')).length).toBe(1);
    const done = await admin.awaitClients(topologyOf(servers, 1), { timeoutMs: 2000 });
    expect(done.clients).toBe(1);
    expect(source.clientId).toBe('app-1');
  });

  it('given a migration published, when the client polls every second (its default), then the awaiter returns once it switched, and the client routes to the union', async () => {
    const servers = cluster.servers();
    await admin.publish(topologyOf(servers.slice(0, 2), 1));
    const { client } = await open({ clientId: 'app-2' });
    const next = topologyOf(servers.slice(0, 2), 2, servers);
    const done = await admin.awaitClients(next, { timeoutMs: 10_000 });
    expect(done.clients).toBe(1);
    expect(client.topology.epoch).toBe(2);
    expect(client.topology.newServers).toHaveLength(3);
  });

  it('given a client that stopped polling, then the awaiter times out naming it; once it closes, the awaiter passes', async () => {
    const servers = cluster.servers();
    await admin.publish(topologyOf(servers, 1));
    const { client } = await open({ clientId: 'frozen-1', ackTtlSeconds: 60 }, 0);
    await client.refreshTopology(); // acknowledges epoch 1, then never polls again
    const error = await admin
      .awaitClients(topologyOf(servers, 2), { timeoutMs: 1000 })
      .catch((e: unknown) => e as ClientsNotSwitchedError);
    expect(error).toBeInstanceOf(ClientsNotSwitchedError);
    expect((error as ClientsNotSwitchedError).name).toBe('ClientsNotSwitched');
    expect((error as ClientsNotSwitchedError).pending.map((p) => [p.client, p.epoch])).toEqual([
      ['frozen-1', 1],
    ]);
    expect((error as Error).message).toContain('frozen-1');
    await client.close();
    const done = await admin.awaitClients(topologyOf(servers, 2), { timeoutMs: 2000 });
    expect(done).toMatchObject({ clients: 0, pruned: 1 });
    const roster = await Promise.all(cluster.nodes.map((n) => metaRaw(n.address, `mg ${ROSTER_KEY} v\r\n`)));
    expect(roster.map((r) => r.toString()).join('')).not.toContain('frozen-1');
  });

  it('given a client whose lease ran out, when it writes, then it polls first and writes with the published topology', async () => {
    const servers = cluster.servers();
    await admin.publish(topologyOf(servers.slice(0, 2), 1));
    const { client } = await open({ clientId: 'lease-1', ackTtlSeconds: 2, leaseMs: 300 }, 0);
    await admin.publish(topologyOf(servers, 2));
    await sleep(400);
    expect(client.topology.epoch).toBe(1);
    await client.set('k', 'v');
    expect(client.topology.epoch).toBe(2);
  });

  it('given a client whose lease ran out and no node answers, then a write is refused with TopologyLeaseExpiredError', async () => {
    const servers = cluster.servers();
    await admin.publish(topologyOf(servers, 1));
    const { client } = await open({ clientId: 'lease-2', ackTtlSeconds: 2, leaseMs: 200 }, 0);
    await client.set('k', 'v');
    await cluster.stop();
    await sleep(300);
    await expect(client.set('k', 'w')).rejects.toMatchObject({
      name: 'TopologyLeaseExpiredError',
      message: expect.stringContaining('the write was not sent'),
    });
    await expect(client.delete('k')).rejects.toBeInstanceOf(TopologyLeaseExpiredError);
  });

  it('given a client with a Parameter Store bootstrap, then it reads the parameter once however often it polls, and again only when no node answers', async () => {
    const servers = cluster.servers();
    const topology = topologyOf(servers, 1);
    await admin.publish(topology);
    const ssm = mockClient(SSMClient);
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: JSON.stringify(topology) } });
    const bootstrap = new ParameterStoreTopologySource({ ssm: new SSMClient({}), cluster: 'it' });
    const { client } = await open(
      { seeds: undefined, bootstrap, clientId: 'ps-1', bootstrapIntervalMs: 0 },
      0,
    );
    for (let i = 0; i < 5; i++) {
      await client.refreshTopology();
      await client.set(`k${i}`, 'v');
    }
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    await cluster.stop();
    await client.refreshTopology(); // no node answers: the bootstrap source is the fallback
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
    ssm.restore();
  });
});
