import { AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import {
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  GetParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { AutoScalingLifecycleActions } from '../../../../lambdas/adapters/auto-scaling';
import { SsmLockStore, SsmTopologyStore } from '../../../../lambdas/adapters/ssm-parameters';
import { TopologyNotFoundError } from '../../../../lambdas/errors';
import { requireEnv } from '../../../../lambdas/env';

const ssm = mockClient(SSMClient);
const autoScaling = mockClient(AutoScalingClient);
beforeEach(() => {
  ssm.reset();
  autoScaling.reset();
});
const lock = { owner: 'me', acquiredAt: '2025-01-01T00:00:00Z', expiresAt: '2025-01-01T06:00:00Z' };

describe('SsmLockStore', () => {
  test('given a free lock, when created, then it is an atomic create (Overwrite false)', async () => {
    ssm.on(PutParameterCommand).resolves({});
    expect(await new SsmLockStore(new SSMClient({}), () => '/astaire/c/lock').create('c', lock)).toBe(true);
    expect(ssm.commandCalls(PutParameterCommand)[0]!.args[0].input).toMatchObject({
      Name: '/astaire/c/lock',
      Overwrite: false,
    });
  });
  test('given a held lock, when created, then false', async () => {
    ssm.on(PutParameterCommand).rejects(new ParameterAlreadyExists({ message: 'exists', $metadata: {} }));
    expect(await new SsmLockStore(new SSMClient({}), () => '/astaire/c/lock').create('c', lock)).toBe(false);
  });
  test('given a stale lock already broken by another, when replaced, then false and the lock is not overwritten', async () => {
    ssm.on(PutParameterCommand).rejects(new ParameterAlreadyExists({ message: 'exists', $metadata: {} }));
    expect(
      await new SsmLockStore(new SSMClient({}), () => '/astaire/c/lock').replaceStale('c', lock, {
        ...lock,
        owner: 'x',
      }),
    ).toBe(false);
    expect(ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input.Name)).toEqual([
      expect.stringMatching(/^\/astaire\/c\/lock-break\/[0-9a-f]{32}$/),
    ]);
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
