import { MalformedInputError } from '../../../lambdas/errors';
import { normaliseRequest } from '../../../lambdas/request';

const scope = { cluster: 'prod', autoScalingGroupName: 'prod-asg' };
const event = (overrides: Record<string, unknown> = {}, detail: Record<string, unknown> = {}) => ({
  source: 'aws.autoscaling',
  'detail-type': 'EC2 Instance-launch Lifecycle Action',
  detail: {
    AutoScalingGroupName: 'prod-asg',
    LifecycleHookName: 'launch-hook',
    LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
    EC2InstanceId: 'i-0123456789abcdef0',
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
    ...detail,
  },
  ...overrides,
});

describe('normaliseRequest', () => {
  test('given a launch lifecycle event, when normalised, then it is a launch with its lifecycle action', () => {
    expect(normaliseRequest(event(), 'exec-1', scope)).toEqual({
      cluster: 'prod',
      executionId: 'exec-1',
      action: 'launch',
      source: 'event',
      lifecycle: {
        autoScalingGroupName: 'prod-asg',
        lifecycleHookName: 'launch-hook',
        instanceId: 'i-0123456789abcdef0',
        lifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      },
    });
  });

  test('given a terminate event, when normalised, then it is a terminate', () => {
    const e = event(
      { 'detail-type': 'EC2 Instance-terminate Lifecycle Action' },
      { LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
    );
    expect(normaliseRequest(e, 'x', scope).action).toBe('terminate');
  });

  test('given a manual resync, when normalised, then it carries no lifecycle action', () => {
    expect(normaliseRequest({ cluster: 'prod', action: 'resync' }, 'x', scope)).toEqual({
      cluster: 'prod',
      executionId: 'x',
      action: 'resync',
      source: 'manual',
    });
  });

  test('given a manual launch, when normalised, then the action is named by instance id in the configured group', () => {
    expect(
      normaliseRequest(
        { cluster: 'prod', action: 'launch', instanceId: 'i-0123456789abcdef0', lifecycleHookName: 'h' },
        'x',
        scope,
      ).lifecycle,
    ).toEqual({
      autoScalingGroupName: 'prod-asg',
      lifecycleHookName: 'h',
      instanceId: 'i-0123456789abcdef0',
    });
  });

  test.each([
    [
      'another group',
      event({}, { AutoScalingGroupName: 'other' }),
      /AutoScalingGroupName must be "prod-asg"/,
    ],
    [
      'a transition that contradicts the detail-type',
      event({}, { LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' }),
      /LifecycleTransition must be/,
    ],
    ['a bad instance id', event({}, { EC2InstanceId: 'i-x; rm -rf /' }), /EC2InstanceId/],
    ['another cluster', { cluster: 'dev', action: 'resync' }, /cluster must be "prod"/],
    ['a typo in a field', { cluster: 'prod', acton: 'resync' }, /unknown field\(s\) "acton"/],
    ['an unknown action', { cluster: 'prod', action: 'grow' }, /action must be/],
    [
      'a launch without instance',
      { cluster: 'prod', action: 'launch', lifecycleHookName: 'h' },
      /instanceId/,
    ],
    ['an array', [], /must be a JSON object/],
  ])('given %s, when normalised, then MalformedInputError names the problem', (_name, input, message) => {
    expect(() => normaliseRequest(input, 'x', scope)).toThrow(MalformedInputError);
    expect(() => normaliseRequest(input, 'x', scope)).toThrow(message);
  });
});
