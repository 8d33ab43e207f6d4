import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { main } from '../../../agent/cli';
import { AstaireClient, ClusterTopologySource } from '../../../client';
import { EPOCH_KEY, serializeTopology, Topology } from '../../../core';
import { MemcachedCluster } from '../../support/memcached';
import { tempDir } from '../../support/temp-dirs';
import { metaRaw } from '../client/support';

// Issue 15 on AWS: the workflow's AwaitClients/PublishCommitted states send `astaire-agent
// await-clients|publish` to one member by SSM, with a task token; the agent reports on it.
const sfnMock = mockClient(SFNClient);
const aws = {
  ssm: () => new SSMClient({ region: 'eu-west-1' }),
  sfn: () => new SFNClient({ region: 'eu-west-1' }),
  cloudWatch: () => new CloudWatchClient({ region: 'eu-west-1' }),
};

describe('astaire-agent await-clients and publish (real memcached)', () => {
  let cluster: MemcachedCluster;
  const dir = tempDir('astaire-agent-await-');
  const file = join(dir, 'topology.json');
  const write = (epoch: number) => {
    const topology: Topology = {
      cluster: 'it',
      epoch,
      vbuckets: 1024,
      replicas: 2,
      servers: cluster.servers(),
    };
    writeFileSync(file, serializeTopology(topology));
  };
  const run = async (...args: string[]) => {
    const stderr: string[] = [];
    const code = await main([...args, '--node', 'node-1', '--topology', file], {
      stdout: () => undefined,
      stderr: (t) => stderr.push(t),
      aws,
      env: { ASTAIRE_TASK_TOKEN: 'token-1' },
    });
    return { code, stderr: stderr.join('') };
  };

  beforeAll(async () => {
    cluster = await MemcachedCluster.start(2);
  });
  afterAll(() => cluster.stop());
  beforeEach(() => sfnMock.reset());

  it('given publish, then every member serves the epoch and the task succeeds', async () => {
    write(3);
    expect((await run('publish')).code).toBe(0);
    for (const node of cluster.nodes)
      expect((await metaRaw(node.address, `mg ${EPOCH_KEY} v\r\n`)).toString()).toBe('VA 1\r\n3\r\n');
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('given a client that acknowledges an older epoch and stops polling, then await-clients fails the task as ClientsNotSwitched naming it', async () => {
    write(4);
    expect((await run('publish')).code).toBe(0);
    const source = new ClusterTopologySource({
      seeds: [cluster.nodes[0].address],
      clientId: 'stuck-1',
      ackTtlSeconds: 60,
    });
    const client = await AstaireClient.open({ source, pollIntervalMs: 0 });
    try {
      write(5);
      const { code, stderr } = await run('await-clients', '--await-timeout-ms', '1500');
      expect(code).toBe(1);
      expect(stderr).toContain('stuck-1');
      expect(sfnMock.commandCalls(SendTaskFailureCommand)[0].args[0].input).toMatchObject({
        taskToken: 'token-1',
        error: 'ClientsNotSwitched',
        cause: expect.stringContaining('stuck-1 (on node-'),
      });
      await client.refreshTopology(); // it switches (the publish is there) and acknowledges
      await client.refreshTopology();
      sfnMock.reset();
      expect((await run('await-clients', '--await-timeout-ms', '5000')).code).toBe(0);
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output).toMatch(/"clients":1/);
    } finally {
      await client.close();
    }
  });
});
