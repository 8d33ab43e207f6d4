#!/usr/bin/env node
import { App, Duration, Size, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AstaireStack } from './astaire-stack';

/**
 * The deployable app. Environment-agnostic (no account or region, so no lookups): synth works
 * offline; `cdk deploy` takes the account and region from the caller's credentials.
 * Settings come from context, e.g. `npx cdk synth -c cluster=sessions -c maxCapacity=12`.
 */
const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === null ? undefined : String(value);
};
const integer = (key: string): number | undefined => {
  const value = context(key);
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value))
    throw new Error(`context ${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
};
const minutes = (key: string): Duration | undefined => {
  const value = integer(key);
  return value === undefined ? undefined : Duration.minutes(value);
};

const clusterName = context('cluster') ?? 'astaire';
const instanceType = context('instanceType');
const memoryMiB = integer('memcachedMemoryMiB');
new AstaireStack(app, `Astaire-${clusterName}`, {
  description: `Astaire elastic memcached cluster ${clusterName}`,
  cluster: {
    clusterName,
    instanceType: instanceType ? new ec2.InstanceType(instanceType) : undefined,
    minCapacity: integer('minCapacity'),
    maxCapacity: integer('maxCapacity'),
    vbuckets: integer('vbuckets'),
    replicas: integer('replicas'),
    hookHeartbeatTimeout: minutes('hookHeartbeatTimeoutMinutes'),
    workflowTimeout: minutes('workflowTimeoutMinutes'),
    maxMigrationDuration: minutes('maxMigrationMinutes'),
    memcachedMemory: memoryMiB === undefined ? undefined : Size.mebibytes(memoryMiB),
  },
});
// Synth fails on any AwsSolutions finding that is not acknowledged with a reason in code.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
