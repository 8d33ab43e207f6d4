import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AstaireWorkflow, WorkflowMetricNames } from '../../../cdk/workflow';
import { MetricNames } from '../../../lambdas/metric-names';
import { unbundledApp } from './fixtures/synth';

let app: App;
let template: Template;
beforeAll(() => {
  app = unbundledApp();
  const stack = new Stack(app, 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  new AstaireWorkflow(stack, 'Workflow', {
    clusterName: 'prod',
    topologyParameterName: '/astaire/prod/topology',
    topologyParameterArn: 'arn:aws:ssm:eu-west-1:111111111111:parameter/astaire/prod/topology',
    autoScalingGroupName: 'prod-asg',
    resyncDocumentName: 'prod-resync',
    workflowTimeout: Duration.hours(3),
  });
  template = Template.fromStack(stack);
}, 120_000);

describe('AstaireWorkflow', () => {
  test('given props, when synthesized, then a logged, traced state machine named after the cluster times out at workflowTimeout', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'astaire-prod',
      TracingConfiguration: { Enabled: true },
      // No execution data: it would put the agents' task tokens in the logs.
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: false }),
      DefinitionString: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('"TimeoutSeconds":10800')])]),
      }),
    });
  });

  test('given the handlers, when synthesized, then each is a nodejs22.x function with its configuration', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Runtime: 'nodejs22.x' }, 10);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          LOCK_TABLE_NAME: { Ref: Match.stringLikeRegexp('^WorkflowLockTable') },
          LOCK_TTL_SECONDS: '10800',
        }),
      },
    });
  });

  type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
  const flat = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(flat);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('Fn::Join' in o)
        return (o['Fn::Join'] as [string, unknown[]])[1].map(flat).join((o['Fn::Join'] as [string])[0]);
      if ('Ref' in o && o.Ref === 'AWS::Partition') return 'aws';
    }
    return v;
  };
  const statements = (): Statement[] =>
    Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Statement[]).map((st) => ({
        ...st,
        Resource: flat(st.Resource),
      })),
    );
  const granting = (action: string) => statements().filter((st) => [st.Action].flat().includes(action));

  test('given the SSM task, when synthesized, then the state machine may send commands only with the resync document to the group instances', () => {
    expect(granting('ssm:SendCommand')).toEqual([
      expect.objectContaining({
        Resource: 'arn:aws:ec2:eu-west-1:111111111111:instance/*',
        Condition: { StringEquals: { 'ssm:resourceTag/aws:autoscaling:groupName': 'prod-asg' } },
      }),
    ]);
    expect(granting('ssm:sendCommand')).toEqual([
      expect.objectContaining({ Resource: 'arn:aws:ssm:eu-west-1:111111111111:document/prod-resync' }),
    ]);
  });

  test('given the failure path, when synthesized, then only the cancel handler may list and cancel commands, and it knows the agent document', () => {
    expect(granting('ssm:CancelCommand')).toEqual([
      expect.objectContaining({ Action: ['ssm:ListCommands', 'ssm:CancelCommand'], Resource: '*' }),
    ]);
    expect(granting('ssm:ListCommands')).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ AGENT_DOCUMENT_NAME: 'prod-resync' }) },
    });
  });

  test('given the lifecycle handlers, when synthesized, then lifecycle calls are scoped to the group', () => {
    const group =
      'arn:aws:autoscaling:eu-west-1:111111111111:autoScalingGroup:*:autoScalingGroupName/prod-asg';
    for (const action of [
      'autoscaling:CompleteLifecycleAction',
      'autoscaling:RecordLifecycleActionHeartbeat',
    ]) {
      expect(granting(action).length).toBeGreaterThan(0);
      expect(granting(action).every((st) => st.Resource === group)).toBe(true);
    }
  });

  test('given the handlers, when synthesized, then they write only the topology parameter and its parts (the lock is no parameter)', () => {
    const resources = [
      'ssm:PutParameter',
      'ssm:GetParameter',
      'ssm:DeleteParameter',
      'ssm:GetParameters',
      'ssm:DeleteParameters',
      'ssm:GetParametersByPath',
    ].flatMap((a) => granting(a).flatMap((st) => [st.Resource].flat()));
    expect(resources.length).toBeGreaterThan(0);
    for (const r of resources)
      expect(r).toMatch(
        /^arn:aws:ssm:eu-west-1:111111111111:parameter\/astaire\/prod\/topology(-parts(\/\*)?)?$/,
      );
    expect(granting('ssm:DeleteParameters').flatMap((st) => [st.Resource].flat())).not.toContain(
      'arn:aws:ssm:eu-west-1:111111111111:parameter/astaire/prod/topology',
    );
  });

  test('given the lock, when synthesized, then it is an on-demand DynamoDB table keyed by cluster, with a TTL on the lease expiry', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'cluster', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'cluster', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'leaseExpiry', Enabled: true },
    });
  });

  test('given the lock handlers, when synthesized, then only take-lock and release-lock reach the table, with item actions on this cluster only', () => {
    const tableId = Object.keys(template.findResources('AWS::DynamoDB::Table'))[0]!;
    const lockStatements = statements().filter((st) =>
      [st.Action].flat().some((a) => a.startsWith('dynamodb:')),
    );
    const roleOf = (st: Statement) =>
      Object.values(template.findResources('AWS::IAM::Policy')).find((p) =>
        (p.Properties.PolicyDocument.Statement as Statement[]).some(
          (x) =>
            JSON.stringify(x.Action) === JSON.stringify(st.Action) &&
            JSON.stringify(x.Condition) === JSON.stringify(st.Condition),
        ),
      )!.Properties.Roles[0].Ref as string;
    expect(lockStatements.map((st) => [st.Action].flat().sort())).toEqual([
      ['dynamodb:GetItem', 'dynamodb:PutItem'],
      ['dynamodb:DeleteItem'],
    ]);
    expect(lockStatements.map(roleOf)).toEqual([
      expect.stringMatching(/^WorkflowTakeLockRole/),
      expect.stringMatching(/^WorkflowReleaseLockRole/),
    ]);
    for (const st of lockStatements) {
      expect(st.Resource).toEqual({ 'Fn::GetAtt': [tableId, 'Arn'] });
      expect(st.Condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['prod'] } });
    }
  });

  test('given the handlers, when synthesized, then each role has no managed policy and writes logs only to its own log group', () => {
    const roles = template.findResources('AWS::IAM::Role');
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(10);
    for (const fn of functions) {
      const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const logGroupId = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(roles[roleId].Properties.ManagedPolicyArns).toBeUndefined();
      const logStatements = policies
        .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
        .filter((st) => [st.Action].flat().some((a) => a.startsWith('logs:')));
      expect(logStatements).toEqual([
        expect.objectContaining({
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
        }),
      ]);
    }
  });

  test('given the AwsSolutions pack, when the workflow is validated in an account and region, then every finding is acknowledged with a reason', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
    const acknowledged = app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged)
      expect({ id, reason: reason.length > 20 }).toEqual({ id, reason: true });
  });

  test('given the metric names, when compared with the handlers, then they match', () => {
    expect(WorkflowMetricNames).toEqual(MetricNames);
  });

  test('given an invalid cluster name, when constructed, then it throws', () => {
    const stack = new Stack(unbundledApp(), 'Bad');
    expect(
      () =>
        new AstaireWorkflow(stack, 'W', {
          clusterName: 'bad name!',
          topologyParameterName: 'x',
          topologyParameterArn: 'x',
          autoScalingGroupName: 'g',
          resyncDocumentName: 'd',
        }),
    ).toThrow(/not a valid cluster name/);
  });
});

describe('client propagation delay', () => {
  test('given a planned change, then the workflow waits clientPropagationDelay before any agent starts', () => {
    const { synthesizeWorkflowDefinition } = jest.requireActual(
      '../../../cdk/definition',
    ) as typeof import('../../../cdk/definition');
    const definition = synthesizeWorkflowDefinition({ clientPropagationDelay: Duration.seconds(12) });
    const choice = definition.States.IsChangeNeeded as { Choices: { Next: string }[] };
    expect(choice.Choices[0].Next).toBe('WaitForClients');
    expect(definition.States.WaitForClients).toEqual({ Type: 'Wait', Seconds: 12, Next: 'AwaitClients' });
    expect(synthesizeWorkflowDefinition().States.WaitForClients).toMatchObject({ Seconds: 15 });
  });

  test('given the wait (a minimum now), then AwaitClients publishes on the publisher member and waits for every live client; its failure rolls back', () => {
    const { synthesizeWorkflowDefinition } = jest.requireActual(
      '../../../cdk/definition',
    ) as typeof import('../../../cdk/definition');
    const definition = synthesizeWorkflowDefinition();
    const awaitClients = definition.States.AwaitClients as Record<string, unknown> & {
      Parameters: { Parameters: Record<string, unknown> } & Record<string, unknown>;
    };
    expect(awaitClients).toMatchObject({
      Resource: 'arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken',
      Next: 'MigrateData',
      ResultPath: '$.clients',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RestoreTopology' }],
    });
    expect(awaitClients.Parameters['InstanceIds.$']).toBe('States.Array($.plan.publisher.node)');
    expect(awaitClients.Parameters.Parameters).toMatchObject({
      mode: ['await-clients'],
      'epoch.$': "States.Array(States.Format('{}', $.plan.epoch))",
    });
    // After the commit and after a restore, the new topology is published (a failure is only recorded).
    expect(definition.States.MigrateData).toMatchObject({ Next: 'PublishCommitted' });
    expect(definition.States.PublishCommitted).toMatchObject({
      Next: 'HasLifecycleAction',
      Parameters: {
        Parameters: {
          mode: ['publish'],
          'epoch.$': "States.Array(States.Format('{}', $.migration.commit.epoch))",
        },
      },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.publishError', Next: 'HasLifecycleAction' }],
    });
    expect(definition.States.RestoreTopology).toMatchObject({ Next: 'HasRestored' });
    expect(definition.States.PublishRestored).toMatchObject({
      Next: 'IsLaunch',
      Parameters: {
        Parameters: { mode: ['publish'], 'epoch.$': "States.Array(States.Format('{}', $.restore.epoch))" },
      },
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.publishError', Next: 'IsLaunch' }],
    });
  });
});

describe('cleanup after the commit', () => {
  const { synthesizeWorkflowDefinition } = jest.requireActual(
    '../../../cdk/definition',
  ) as typeof import('../../../cdk/definition');
  const definition = synthesizeWorkflowDefinition({ clientPropagationDelay: Duration.seconds(12) });
  const state = (name: string) => definition.States[name] as Record<string, unknown>;
  /** A state anywhere in the definition (inside Parallel branches and Map processors too). */
  const find = (name: string, states = definition.States): Record<string, unknown> | undefined => {
    if (states[name]) return states[name];
    for (const st of Object.values(states))
      for (const inner of [...((st.Branches as { States: typeof states }[]) ?? []), st.ItemProcessor])
        if (inner) {
          const found = find(name, (inner as { States: typeof states }).States);
          if (found) return found;
        }
    return undefined;
  };

  test('given the commit, when the lifecycle action is completed, then the workflow waits clientPropagationDelay and maps the cleanups, and only then releases the lock', () => {
    expect(state('MigrateData').Next).toBe('PublishCommitted');
    expect(state('PublishCommitted').Next).toBe('HasLifecycleAction');
    expect(state('ContinueLifecycle').Next).toBe('HasCleanups');
    expect(state('HasCleanups')).toMatchObject({
      Choices: [{ Variable: '$.plan.cleanups[0]', IsPresent: true, Next: 'WaitBeforeCleanup' }],
      Default: 'ReleaseLock',
    });
    expect(state('WaitBeforeCleanup')).toEqual({ Type: 'Wait', Seconds: 12, Next: 'CleanupNodes' });
    expect(state('CleanupNodes')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.cleanups',
      ItemSelector: expect.objectContaining({ 'epoch.$': '$.migration.commit.epoch' }),
      Next: 'ReleaseLock',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupError', Next: 'RecordCleanupFailure' }],
    });
    expect(state('ReleaseLock')).toMatchObject({
      Next: 'CheckOutcome',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.releaseLockError', Next: 'CheckOutcome' }],
    });
  });

  test('given TakeLock, then every lock error but the permanent ones is retried, and a persistent one fails the execution without RestoreTopology or AbandonLaunch', () => {
    const retry = state('TakeLock').Retry as { ErrorEquals: string[]; MaxAttempts?: number }[];
    const permanent = retry.findIndex((r) => r.ErrorEquals.includes('AccessDeniedException'));
    expect(retry[permanent]).toMatchObject({
      ErrorEquals: [
        'ConfigurationError',
        'AccessDeniedException',
        'ResourceNotFoundException',
        'ValidationException',
      ],
      MaxAttempts: 0,
    });
    // After the permanent errors (retriers are tried in order), and last (States.ALL must be).
    expect(retry.at(-1)).toMatchObject({ ErrorEquals: ['States.ALL'], JitterStrategy: 'FULL' });
    expect(retry.at(-1)!.MaxAttempts).toBeGreaterThan(2);
    expect(permanent).toBe(retry.length - 2);
    expect(state('TakeLock').Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' },
    ]);
  });

  test('given the SSM tasks, then all send the same document, with mode receive, push or cleanup', () => {
    const modeOf = (map: string) => {
      const processor = find(map)!.ItemProcessor as { States: Record<string, Record<string, unknown>> };
      const task = Object.values(processor.States)[0];
      expect(task.Resource).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
      return (task.Parameters as { Parameters: Record<string, unknown> }).Parameters.mode;
    };
    expect(modeOf('ResyncNodes')).toEqual(['receive']);
    expect(modeOf('PushNodes')).toEqual(['push']);
    expect(modeOf('CleanupNodes')).toEqual(['cleanup']);
  });

  test('given the pushes, then they run beside the receivers, all at once, and a failed push fails nothing', () => {
    const migrate = state('MigrateData') as { Branches: { StartAt: string }[] };
    expect(migrate.Branches.map((b) => b.StartAt)).toContain('PushNodes');
    expect(find('PushNodes')).toMatchObject({ ItemsPath: '$.plan.pushes', ResultPath: null });
    // No MaxConcurrency: every pusher runs at once (0, ASL's unlimited, is CDK's default and omitted).
    expect(find('PushNodes')!.MaxConcurrency ?? 0).toBe(0);
    const processor = find('PushNodes')!.ItemProcessor as { States: Record<string, Record<string, unknown>> };
    expect(processor.States.PushNode.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.pushError', Next: 'PushNodeFailed' },
    ]);
    expect(processor.States.PushNodeFailed).toMatchObject({ Type: 'Pass', End: true });
  });

  test('given a failed cleanup, then it is recorded as CleanupFailed, the lock is released, and the execution fails without touching the topology or the lifecycle action', () => {
    expect(state('RecordCleanupFailure')).toMatchObject({
      Next: 'ReleaseLock',
      Parameters: expect.objectContaining({ failed: 'cleanup', 'error.$': '$.cleanupError' }),
    });
    expect(state('CheckOutcome')).toMatchObject({
      Choices: [
        { Variable: '$.error', IsPresent: true, Next: 'RecordFailure' },
        { Variable: '$.cleanupError', IsPresent: true, Next: 'CleanupFailed' },
      ],
      Default: 'Done',
    });
    expect(state('CleanupFailed')).toEqual({
      Type: 'Fail',
      ErrorPath: '$.cleanupError.Error',
      CausePath: '$.cleanupError.Cause',
    });
    // Nothing after the commit leads back to RestoreTopology or AbandonLaunch.
    const after = ['ContinueLifecycle', 'HasCleanups', 'CleanupNodes', 'RecordCleanupFailure', 'ReleaseLock'];
    for (const name of after)
      expect(JSON.stringify(state(name))).not.toMatch(/RestoreTopology|AbandonLaunch|IsLaunch/);
  });
});

describe('cleanup after a rollback', () => {
  const { synthesizeWorkflowDefinition } = jest.requireActual(
    '../../../cdk/definition',
  ) as typeof import('../../../cdk/definition');
  const definition = synthesizeWorkflowDefinition({ clientPropagationDelay: Duration.seconds(12) });
  type State = Record<string, unknown> & {
    Next?: string;
    Default?: string;
    Choices?: { Next: string }[];
    Catch?: { Next: string }[];
  };
  const state = (name: string) => definition.States[name] as State;
  const successors = (name: string): string[] => {
    const s = state(name);
    return [
      s.Next,
      s.Default,
      ...(s.Choices ?? []).map((c) => c.Next),
      ...(s.Catch ?? []).map((c) => c.Next),
    ].filter((n): n is string => typeof n === 'string');
  };

  test('given a rollback, when the old topology is restored, then a launch is ABANDONed, the workflow waits clientPropagationDelay and maps the restored members that pulled, and only then releases the lock', () => {
    expect(state('RestoreTopology')).toMatchObject({
      Next: 'HasRestored',
      ResultPath: '$.restore',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.restoreError', Next: 'IsLaunch' }],
    });
    expect(state('IsLaunch')).toMatchObject({
      Choices: [{ Next: 'AbandonLaunch' }],
      Default: 'HasRollbackCleanups',
    });
    expect(state('AbandonLaunch')).toMatchObject({
      Next: 'HasRollbackCleanups',
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'HasRollbackCleanups' }],
    });
    // Absent when nothing was restored: a failure before PlanMigration wrote, or RestoreTopology failed.
    expect(state('HasRollbackCleanups')).toMatchObject({
      Choices: [{ Variable: '$.restore.cleanups[0]', IsPresent: true, Next: 'WaitBeforeRollbackCleanup' }],
      Default: 'ReleaseLockAfterRollback',
    });
    expect(state('WaitBeforeRollbackCleanup')).toEqual({
      Type: 'Wait',
      Seconds: 12,
      Next: 'RollbackCleanupNodes',
    });
    expect(state('RollbackCleanupNodes')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.restore.cleanups',
      ItemSelector: expect.objectContaining({ 'epoch.$': '$.restore.epoch' }),
      Next: 'ReleaseLockAfterRollback',
      Catch: [
        {
          ErrorEquals: ['States.ALL'],
          ResultPath: '$.rollbackCleanupError',
          Next: 'RecordRollbackCleanupFailure',
        },
      ],
    });
    const processor = state('RollbackCleanupNodes').ItemProcessor as {
      States: Record<string, { Resource: string; Parameters: Record<string, unknown> }>;
    };
    const task = processor.States.RollbackCleanupNode!;
    expect(task.Resource).toBe('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken');
    expect(task.Parameters).toMatchObject({ Parameters: expect.objectContaining({ mode: ['cleanup'] }) });
    expect(state('RecordRollbackCleanupFailure')).toMatchObject({
      Next: 'ReleaseLockAfterRollback',
      Parameters: expect.objectContaining({
        failed: 'rollback-cleanup',
        'error.$': '$.rollbackCleanupError',
      }),
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'ReleaseLockAfterRollback' }],
    });
    expect(state('ReleaseLockAfterRollback')).toMatchObject({
      Next: 'RecordFailure',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.releaseLockError', Next: 'RecordFailure' }],
    });
  });

  test('given any path from RestoreTopology, then it passes ReleaseLockAfterRollback before it can end', () => {
    const seen = new Set<string>();
    const todo = ['RestoreTopology'];
    while (todo.length) {
      const name = todo.pop()!;
      if (seen.has(name) || name === 'ReleaseLockAfterRollback') continue;
      seen.add(name);
      expect({ name, type: state(name).Type }).not.toEqual({ name, type: 'Fail' });
      expect({ name, type: state(name).Type }).not.toEqual({ name, type: 'Succeed' });
      todo.push(...successors(name));
    }
    expect([...seen].sort()).toEqual(
      [
        'AbandonLaunch',
        'HasRestored',
        'PublishRestored',
        'HasRollbackCleanups',
        'IsLaunch',
        'RecordRollbackCleanupFailure',
        'RestoreTopology',
        'RollbackCleanupNodes',
        'WaitBeforeRollbackCleanup',
      ].sort(),
    );
  });
});

test('given the restore-topology handler, then it may no longer touch the lock (ReleaseLockAfterRollback does)', () => {
  const restoreRole = Object.entries(template.findResources('AWS::IAM::Role')).find(([id]) =>
    id.includes('RestoreTopologyRole'),
  )![0];
  const restoreStatements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === restoreRole))
    .flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
  expect(restoreStatements.length).toBeGreaterThan(0);
  expect(JSON.stringify(restoreStatements)).not.toMatch(/lock|"ssm:DeleteParameter"/);
});

test('given the state machine logs, then their log group is under /aws/vendedlogs/states/ (no CloudWatch Logs resource policy entry)', () => {
  const groups = Object.values(template.findResources('AWS::Logs::LogGroup')).map(
    (g) => (g.Properties as { LogGroupName?: string }).LogGroupName,
  );
  expect(groups.filter((n) => n?.startsWith('/aws/vendedlogs/states/astaire-prod-'))).toHaveLength(1);
});

describe('after the commit, nothing rolls back', () => {
  const { synthesizeWorkflowDefinition } = jest.requireActual(
    '../../../cdk/definition',
  ) as typeof import('../../../cdk/definition');
  const definition = synthesizeWorkflowDefinition();
  const migrate = definition.States.MigrateData as {
    Branches: { States: Record<string, Record<string, unknown>> }[];
  };
  const keepAlive = migrate.Branches[1].States;

  test('given the keep-alive branch, when a heartbeat fails, then the branch ends instead of failing the Parallel that holds the commit', () => {
    expect(keepAlive.RecordHeartbeat.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.keepAliveError', Next: 'KeepAliveDone' },
    ]);
  });

  test("given every Lambda task, then Lambda's own throttle (TooManyRequestsException) is retried", () => {
    const tasks = [
      ...Object.entries(definition.States),
      ...migrate.Branches.flatMap((b) => Object.entries(b.States)),
    ].filter(([, s]) => s.Type === 'Task' && String(s.Resource).includes(':lambda:'));
    expect(tasks.length).toBeGreaterThan(8);
    for (const [name, s] of tasks)
      expect({
        name,
        retried: (s.Retry as { ErrorEquals: string[] }[]).some((r) =>
          r.ErrorEquals.includes('Lambda.TooManyRequestsException'),
        ),
      }).toEqual({ name, retried: true });
  });
});

test('given the longest cluster name and epoch, when SendCommand gets its Comment, then it fits the API limit of 100 characters', () => {
  const { synthesizeWorkflowDefinition } = jest.requireActual(
    '../../../cdk/definition',
  ) as typeof import('../../../cdk/definition');
  const text = JSON.stringify(synthesizeWorkflowDefinition());
  const formats = [...text.matchAll(/States\.Format\('(astaire [^']*)', \$\.cluster, \$\.epoch\)/g)].map(
    (m) => m[1],
  );
  expect(formats.length).toBeGreaterThanOrEqual(2);
  for (const f of formats) {
    const worst = f.replace('{}', 'c'.repeat(64)).replace('{}', '9'.repeat(15));
    expect({ f, length: worst.length <= 100 }).toEqual({ f, length: true });
  }
});

describe('timing props, validated at synth', () => {
  const build = (props: Partial<ConstructorParameters<typeof AstaireWorkflow>[2]>) => () =>
    new AstaireWorkflow(new Stack(unbundledApp(), 'Timing'), 'W', {
      clusterName: 'web',
      topologyParameterName: '/astaire/web/topology',
      topologyParameterArn: 'arn:aws:ssm:eu-west-1:111111111111:parameter/astaire/web/topology',
      autoScalingGroupName: 'astaire-web',
      resyncDocumentName: 'web-resync',
      ...props,
    });

  test('given the defaults and a 15-minute hook, when built, then nothing is refused', () => {
    expect(build({ lifecycleHookHeartbeatTimeout: Duration.minutes(15) })).not.toThrow();
  });

  test('given a keep-alive interval over half the hook heartbeat timeout, when built, then it fails naming both', () => {
    expect(
      build({ lifecycleHookHeartbeatTimeout: Duration.minutes(10), keepAliveInterval: Duration.minutes(6) }),
    ).toThrow(/keepAliveInterval \(6 minutes\).*half.*hookHeartbeatTimeout \(10 minutes\)/);
  });

  test("given a workflow timeout beyond the hook's global timeout (100 x heartbeat, at most 48 h), when built, then it fails naming both", () => {
    expect(
      build({ lifecycleHookHeartbeatTimeout: Duration.minutes(2), workflowTimeout: Duration.hours(6) }),
    ).toThrow(/workflowTimeout \(6 hours\).*global timeout.*3 hours 20 minutes/);
    expect(
      build({ lifecycleHookHeartbeatTimeout: Duration.hours(1), workflowTimeout: Duration.hours(49) }),
    ).toThrow(/workflowTimeout \(2 days 1 hour\).*global timeout.*2 days/);
  });

  test('given a hook heartbeat timeout shorter than TakeLock can retry without a heartbeat, when built, then it fails saying how long TakeLock may take', () => {
    expect(
      build({ lifecycleHookHeartbeatTimeout: Duration.minutes(4), workflowTimeout: Duration.hours(6) }),
    ).toThrow(/TakeLock.*retries for up to .* without a heartbeat.*hookHeartbeatTimeout \(4 minutes\)/);
  });

  test('given a resync heartbeat timeout the agent cannot meet or longer than the resync timeout, when built, then it fails', () => {
    expect(build({ resyncHeartbeatTimeout: Duration.seconds(20) })).toThrow(/resyncHeartbeatTimeout/);
    expect(build({ resyncTimeout: Duration.hours(7), workflowTimeout: Duration.hours(6) })).toThrow(
      /resyncTimeout \(7 hours\).*workflowTimeout \(6 hours\)/,
    );
  });

  test('given a workflow timeout and keep-alive interval whose lock wait alone could fill the 25,000-event history, when built, then it fails', () => {
    expect(build({ workflowTimeout: Duration.hours(48), keepAliveInterval: Duration.seconds(30) })).toThrow(
      /history.*25,000/,
    );
  });

  test('given a Map concurrency over the 40 an inline Map runs at once, when built, then it fails', () => {
    expect(build({ maxConcurrentResyncs: 41 })).toThrow(/maxConcurrentResyncs/);
    expect(build({ maxConcurrentResyncs: 0 })).toThrow(/maxConcurrentResyncs/);
  });
});

describe('agent command output and history budget', () => {
  const { synthesizeWorkflowDefinition } = jest.requireActual(
    '../../../cdk/definition',
  ) as typeof import('../../../cdk/definition');
  const text = JSON.stringify(synthesizeWorkflowDefinition({ clusterName: 'web' }));

  test('given the SSM tasks, when synthesized, then every command sends its output to the cluster agent log group', () => {
    const configs = [...text.matchAll(/"CloudWatchOutputConfig":(\{[^}]*\})/g)].map((m) => JSON.parse(m[1]!));
    expect(configs.length).toBeGreaterThanOrEqual(3);
    for (const c of configs)
      expect(c).toEqual({
        CloudWatchLogGroupName: '/astaire/web/agent-commands',
        CloudWatchOutputEnabled: true,
      });
  });

  test('given the workflow, when synthesized, then its agent log group keeps the configured retention', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/astaire/prod/agent-commands',
      RetentionInDays: 90,
    });
  });

  test('given the plan handler, when synthesized, then it knows the history events left for agent commands', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      // 25,000 - 1,000 reserved - 14 events x (3 h / 30 s) of lock wait = 18,960.
      Environment: { Variables: Match.objectLike({ HISTORY_EVENT_BUDGET: '18960' }) },
    });
  });

  test('given the Maps, when synthesized, then their per-node reports are not kept in the state (256 KB at 1000 nodes)', () => {
    const definition = synthesizeWorkflowDefinition({ clusterName: 'web' });
    const maps = JSON.stringify(definition).match(/"Type":"Map"/g) ?? [];
    expect(maps.length).toBe(4);
    const migrate = definition.States.MigrateData as {
      Branches: { States: Record<string, Record<string, unknown>> }[];
    };
    expect(migrate.Branches[2]!.States.ResyncNodes).toMatchObject({ ResultPath: null, MaxConcurrency: 10 });
    const pushes = migrate.Branches.find((b) => b.States.PushNodes)!.States.PushNodes;
    expect(pushes).toMatchObject({ ResultPath: null });
  });
});
