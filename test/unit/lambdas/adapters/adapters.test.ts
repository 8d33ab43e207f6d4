import { AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ParameterNotFound, GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Ec2InstanceAddresses } from '../../../../lambdas/adapters/ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { AutoScalingLifecycleActions } from '../../../../lambdas/adapters/auto-scaling';
import { DynamoLockStore } from '../../../../lambdas/adapters/dynamodb-lock';
import { SsmTopologyStore } from '../../../../lambdas/adapters/ssm-parameters';
import { TopologyNotFoundError } from '../../../../lambdas/errors';
import { requireEnv } from '../../../../lambdas/env';

const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);
const dynamo = mockClient(DynamoDBClient);
beforeEach(() => {
  ssm.reset();
  dynamo.reset();
  autoScaling.reset();
});
const lock = { owner: 'me', acquiredAt: '2025-01-01T00:00:00Z', expiresAt: '2025-01-01T06:00:00Z' };

describe('DynamoLockStore', () => {
  const store = () => new DynamoLockStore(new DynamoDBClient({}), 'locks');
  const conditionFailed = () =>
    new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

  test('given a free lock, when created, then it is a PutItem conditional on no item for the cluster', async () => {
    dynamo.on(PutItemCommand).resolves({});
    expect(await store().create('c', lock)).toBe(true);
    const input = dynamo.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(input).toEqual({
      TableName: 'locks',
      Item: {
        cluster: { S: 'c' },
        owner: { S: 'me' },
        acquiredAt: { S: lock.acquiredAt },
        expiresAt: { S: lock.expiresAt },
        leaseExpiry: { N: String(Date.parse(lock.expiresAt) / 1000) },
      },
      ConditionExpression: 'attribute_not_exists(#cluster)',
      ExpressionAttributeNames: { '#cluster': 'cluster' },
    });
  });
  test('given a held lock, when created, then false', async () => {
    dynamo.on(PutItemCommand).rejects(conditionFailed());
    expect(await store().create('c', lock)).toBe(false);
  });
  test('given DynamoDB failing otherwise, when created, then the error propagates (the workflow retries it)', async () => {
    dynamo.on(PutItemCommand).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(store().create('c', lock)).rejects.toThrow('slow down');
  });
  test('given a lock item, when read, then a consistent read returns its record; none: undefined', async () => {
    dynamo
      .on(GetItemCommand)
      .resolvesOnce({
        Item: {
          cluster: { S: 'c' },
          owner: { S: 'me' },
          acquiredAt: { S: lock.acquiredAt },
          expiresAt: { S: lock.expiresAt },
        },
      })
      .resolvesOnce({});
    expect(await store().read('c')).toEqual(lock);
    expect(await store().read('c')).toBeUndefined();
    expect(dynamo.commandCalls(GetItemCommand)[0]!.args[0].input).toEqual({
      TableName: 'locks',
      Key: { cluster: { S: 'c' } },
      ConsistentRead: true,
    });
  });
  test('given an unreadable item, when read, then it counts as expired so it can be broken', async () => {
    dynamo.on(GetItemCommand).resolves({ Item: { cluster: { S: 'c' }, owner: { N: '1' } } });
    const read = await store().read('c');
    expect(Date.parse(read!.expiresAt)).toBe(0);
    dynamo.on(PutItemCommand).resolves({});
    expect(await store().replaceStale('c', read!, { ...lock, owner: 'x' })).toBe(true);
    expect(dynamo.commandCalls(PutItemCommand)[0]!.args[0].input.ConditionExpression).toMatch(
      /^attribute_exists\(#cluster\) AND NOT \(/,
    );
  });
  test('given a stale lock, when replaced, then the put is conditional on that very record', async () => {
    dynamo.on(PutItemCommand).resolves({});
    expect(await store().replaceStale('c', lock, { ...lock, owner: 'x' })).toBe(true);
    const input = dynamo.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(input.Item!.owner).toEqual({ S: 'x' });
    expect(input.ConditionExpression).toBe(
      '#owner = :staleOwner AND #acquiredAt = :staleAcquiredAt AND #expiresAt = :staleExpiresAt',
    );
    expect(input.ExpressionAttributeValues).toEqual({
      ':staleOwner': { S: 'me' },
      ':staleAcquiredAt': { S: lock.acquiredAt },
      ':staleExpiresAt': { S: lock.expiresAt },
    });
  });
  test('given a stale lock already broken by another, when replaced, then false', async () => {
    dynamo.on(PutItemCommand).rejects(conditionFailed());
    expect(await store().replaceStale('c', lock, { ...lock, owner: 'x' })).toBe(false);
  });
  test('given our lock, when released, then a DeleteItem conditional on the owner deletes it', async () => {
    dynamo.on(DeleteItemCommand).resolves({});
    expect(await store().release('c', 'me')).toBe(true);
    expect(dynamo.commandCalls(DeleteItemCommand)[0]!.args[0].input).toEqual({
      TableName: 'locks',
      Key: { cluster: { S: 'c' } },
      ConditionExpression: '#owner = :me',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':me': { S: 'me' } },
    });
  });
  test('given a lock that is not ours (or none), when released, then false: the condition kept it', async () => {
    dynamo.on(DeleteItemCommand).rejects(conditionFailed());
    expect(await store().release('c', 'me')).toBe(false);
  });
});

describe('SsmTopologyStore', () => {
  test('given no parameter, when read, then TopologyNotFoundError names it', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'nf', $metadata: {} }));
    await expect(
      new SsmTopologyStore(new SSMClient({}), () => '/astaire/c/topology').read('c'),
    ).rejects.toThrow(TopologyNotFoundError);
  });
  test('given a malformed document, when read, then the error names the parameter', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '{"cluster":"c"}' } });
    await expect(
      new SsmTopologyStore(new SSMClient({}), () => '/astaire/c/topology').read('c'),
    ).rejects.toThrow(/parameter \/astaire\/c\/topology/);
  });
});

describe('Ec2InstanceAddresses', () => {
  const ec2 = mockClient(EC2Client);
  afterAll(() => ec2.restore());
  test('given running and terminated instances, then addresses and Availability Zones of the running ones', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-1',
              PrivateIpAddress: '10.0.0.1',
              Placement: { AvailabilityZone: 'eu-west-1a' },
              State: { Name: 'running' },
            },
            { InstanceId: 'i-2', PrivateIpAddress: '10.0.0.2', State: { Name: 'pending' } },
            {
              InstanceId: 'i-3',
              PrivateIpAddress: '10.0.0.3',
              Placement: { AvailabilityZone: 'eu-west-1b' },
              State: { Name: 'terminated' },
            },
          ],
        },
      ],
    });
    const addresses = new Ec2InstanceAddresses(new EC2Client({}));
    expect([...(await addresses.privateIps(['i-1', 'i-2', 'i-3']))]).toEqual([
      ['i-1', '10.0.0.1'],
      ['i-2', '10.0.0.2'],
    ]);
    expect([...(await addresses.zones(['i-1', 'i-2', 'i-3']))]).toEqual([['i-1', 'eu-west-1a']]);
  });
});

describe('AutoScalingLifecycleActions', () => {
  test('given no active action, when completing, then gone', async () => {
    autoScaling.on(CompleteLifecycleActionCommand).rejects(
      Object.assign(new Error('No active Lifecycle Action found with instance ID i-1'), {
        name: 'ValidationError',
      }),
    );
    expect(
      await new AutoScalingLifecycleActions(new AutoScalingClient({})).complete(
        { autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-1' },
        'CONTINUE',
      ),
    ).toBe('gone');
  });
  test('given another error, when completing, then it propagates', async () => {
    autoScaling
      .on(CompleteLifecycleActionCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDenied' }));
    await expect(
      new AutoScalingLifecycleActions(new AutoScalingClient({})).complete(
        { autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-1' },
        'ABANDON',
      ),
    ).rejects.toThrow('denied');
  });
});

describe('requireEnv', () => {
  test('given a missing variable, when read, then a ConfigurationError names it', () => {
    expect(() => requireEnv('NOPE', {})).toThrow(/NOPE is not set/);
  });
});
