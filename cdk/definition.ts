import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  AstaireWorkflow,
  WORKFLOW_HANDLERS,
  type AstaireWorkflowProps,
  type WorkflowHandler,
} from './workflow';

/** The Amazon States Language document (JSONPath), as Step Functions receives it. */
export type AslDefinition = { StartAt: string; States: Record<string, Record<string, unknown>> } & Record<
  string,
  unknown
>;

/** Placeholders substituted for the deploy-time values in a synthesized definition. */
export const PLACEHOLDER_ACCOUNT = '123456789012';
export const PLACEHOLDER_REGION = 'us-east-1';
const PLACEHOLDER_PARTITION = 'aws';

/**
 * The definition CDK synthesized for the single state machine of `stack`, with CloudFormation
 * tokens resolved to stable placeholders: `AWS::Partition` → aws, `AWS::Region` → us-east-1,
 * `AWS::AccountId` → 123456789012, `Fn::GetAtt [X, Arn]` / `Ref X` →
 * `arn:aws:lambda:us-east-1:123456789012:function:X` (X the logical id). Task states keep
 * their names, so local mode binds handlers by state name and ignores the ARNs.
 */
export function extractDefinition(stack: Stack): AslDefinition {
  const template = App.of(stack)
    ? (App.of(stack) as App).synth().getStackByName(stack.stackName).template
    : undefined;
  if (!template) throw new Error(`stack ${stack.stackName} is not in an App`);
  const machines = Object.entries(
    template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
  ).filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1)
    throw new Error(`stack ${stack.stackName} has ${machines.length} state machines, expected 1`);
  const text = resolve(machines[0]![1].Properties.DefinitionString);
  return JSON.parse(text) as AslDefinition;
}

/**
 * Synthesizes AstaireWorkflow in an in-memory stack and returns its definition. Local mode runs
 * exactly this document. Props default to a cluster named `local`. The handlers' code does not
 * reach the definition, so stand-ins replace it: this needs no build.
 */
export function synthesizeWorkflowDefinition(props: Partial<AstaireWorkflowProps> = {}): AslDefinition {
  // Synthesis writes a cloud assembly; without an outdir CDK leaves a cdk.out* directory in the
  // temp directory on every call (every `astaire local` command).
  const outdir = mkdtempSync(join(tmpdir(), 'astaire-synth-'));
  try {
    return synthesizeIn(outdir, props);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function synthesizeIn(outdir: string, props: Partial<AstaireWorkflowProps>): AslDefinition {
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'AstaireWorkflowDefinition', {
    env: { account: PLACEHOLDER_ACCOUNT, region: PLACEHOLDER_REGION },
  });
  const cluster = props.clusterName ?? 'local';
  new AstaireWorkflow(stack, 'Workflow', {
    clusterName: cluster,
    topologyParameterName: `/astaire/${cluster}/topology`,
    topologyParameterArn: `arn:aws:ssm:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:parameter/astaire/${cluster}/topology`,
    autoScalingGroupName: `astaire-${cluster}`,
    resyncDocumentName: `astaire-${cluster}-resync`,
    handlerCode: Object.fromEntries(
      (Object.keys(WORKFLOW_HANDLERS) as WorkflowHandler[]).map((h) => [h, STAND_IN_CODE]),
    ),
    ...props,
  });
  return extractDefinition(stack);
}

const STAND_IN_CODE = lambda.Code.fromInline('exports.handler = async () => ({});');

function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(resolve).join('');
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(sep);
    }
    if ('Ref' in o) {
      const ref = o.Ref as string;
      if (ref === 'AWS::Partition') return PLACEHOLDER_PARTITION;
      if (ref === 'AWS::Region') return PLACEHOLDER_REGION;
      if (ref === 'AWS::AccountId') return PLACEHOLDER_ACCOUNT;
      if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
      return lambdaArn(ref);
    }
    if ('Fn::GetAtt' in o) {
      const [logicalId] = o['Fn::GetAtt'] as [string, string];
      return lambdaArn(logicalId);
    }
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)} in the state machine definition`);
}

function lambdaArn(logicalId: string): string {
  return `arn:${PLACEHOLDER_PARTITION}:lambda:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:function:${logicalId}`;
}
