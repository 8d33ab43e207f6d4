import { readFileSync } from 'node:fs';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { App, Duration, Size, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ElasticMemcachedCluster, LIFECYCLE_DETAIL_TYPES } from '../../../cdk/elastic-memcached-cluster';
import { emptyTopology, serializeTopology } from '../../../core/topology';
import { fixtureClusterProps, fixtureStack, unbundledApp } from './fixtures/synth';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (definition: unknown) => {
  isValid: boolean;
  errorsText: (sep?: string) => string;
};

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };
type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };

/** Synthesizing bundles ten entries with esbuild: once per file, not per test. */
let app: App;
let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ app, stack } = fixtureStack({
    hookHeartbeatTimeout: Duration.minutes(20),
    memcachedMemory: Size.mebibytes(3000),
  }));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;
}, 300_000);

const logicalId = (type: string, pathPart: string): string => {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.includes(pathPart));
  expect(ids).toHaveLength(1);
  return ids[0];
};
const statementsOf = (policyId: string): Statement[] =>
  (resources[policyId].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
const actions = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** Joins an Fn::Join of strings and tokens into text, tokens written as `<token>`. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map((p) => (typeof p === 'string' ? p : '<token>')).join(join[0]);
  return '<token>';
}

describe('ElasticMemcachedCluster: lifecycle', () => {
  test('given the group, when synthesized, then launch and terminate hooks are declared on the group itself with the configured timeout', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      AutoScalingGroupName: 'astaire-web',
      MinSize: '2',
      MaxSize: '6',
      LifecycleHookSpecificationList: [
        {
          LifecycleHookName: 'astaire-launch',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          HeartbeatTimeout: 1200,
          DefaultResult: 'ABANDON',
        },
        {
          LifecycleHookName: 'astaire-terminate',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 1200,
          DefaultResult: 'CONTINUE',
        },
      ],
    });
    // Separate hook resources would miss the instances launched with the group.
    template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 0);
  });

  test('given the rule, when synthesized, then both lifecycle events of this group (and only its hooks) start this state machine with the raw event', () => {
    const machine = logicalId('AWS::StepFunctions::StateMachine', 'Workflow');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance-launch Lifecycle Action', 'EC2 Instance-terminate Lifecycle Action'],
        detail: {
          AutoScalingGroupName: ['astaire-web'],
          LifecycleHookName: ['astaire-launch', 'astaire-terminate'],
        },
      },
      Targets: [
        Match.objectLike({ Arn: { Ref: machine }, Input: Match.absent(), InputPath: Match.absent() }),
      ],
    });
    expect(LIFECYCLE_DETAIL_TYPES).toHaveLength(2);
  });

  test('given EventBridge cannot start the workflow, when it gives up, then the event goes to an encrypted dead-letter queue that only the rule may write', () => {
    const queue = logicalId('AWS::SQS::Queue', 'LifecycleDeadLetters');
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          // No older than the hook heartbeat timeout (20 minutes here): an older event's action has expired.
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 1200 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
        }),
      ],
    });
    expect(resources[queue].Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1209600,
    });
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(p.Properties.Queues).includes(queue),
    );
    const statements = policies.flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
    );
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: {
            ArnEquals: {
              'aws:SourceArn': { 'Fn::GetAtt': [logicalId('AWS::Events::Rule', 'LifecycleRule'), 'Arn'] },
            },
          },
        }),
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]),
    );
  });

  test('given a new stack, when CloudFormation creates the group, then the rule, the agent policy and the topology exist first', () => {
    const group = resources[logicalId('AWS::AutoScaling::AutoScalingGroup', 'Group')];
    expect(group.DependsOn).toEqual(
      expect.arrayContaining([
        logicalId('AWS::Events::Rule', 'LifecycleRule'),
        logicalId('AWS::IAM::Policy', 'AgentPolicy'),
        logicalId('Custom::AWS', 'Topology'),
        // The rule's role may start the workflow before the first instance's event: no early AccessDenied.
        logicalId('AWS::IAM::Policy', 'EventsRoleDefaultPolicy'),
      ]),
    );
  });

  test('given the rule, when EventBridge fails to start the workflow, then the failed invocations and the dead letters raise one alarm', () => {
    const rule = logicalId('AWS::Events::Rule', 'LifecycleRule');
    const alarm = resources[logicalId('AWS::CloudWatch::Alarm', 'UndeliveredLifecycleEvents')];
    const metrics = alarm.Properties.Metrics as { MetricStat?: { Metric: Record<string, unknown> } }[];
    expect(metrics.map((m) => m.MetricStat?.Metric).filter(Boolean)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Namespace: 'AWS/Events',
          MetricName: 'FailedInvocations',
          Dimensions: [{ Name: 'RuleName', Value: { Ref: rule } }],
        }),
        expect.objectContaining({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' }),
      ]),
    );
  });

  test('given the agents, when they run, then their command output goes to a log group with retention that the nodes may write', () => {
    const group = logicalId('AWS::Logs::LogGroup', 'AgentCommandLogs');
    expect(resources[group].Properties).toMatchObject({
      LogGroupName: '/astaire/web/agent-commands',
      RetentionInDays: 90,
    });
    const agentStatements = statementsOf(logicalId('AWS::IAM::Policy', 'AgentPolicy'));
    const logs = agentStatements.filter((st) => actions(st).some((a) => a.startsWith('logs:')));
    expect(logs.flatMap(actions).sort()).toEqual(
      [
        'logs:CreateLogStream',
        'logs:DescribeLogGroups',
        'logs:DescribeLogStreams',
        'logs:PutLogEvents',
      ].sort(),
    );
    for (const st of logs) expect(JSON.stringify(st.Resource)).toContain(group);
  });
});

describe('ElasticMemcachedCluster: parameters', () => {
  test('given a new cluster, when created, then its topology parameter is written once with the empty topology and never overwritten', () => {
    const topology = resources[logicalId('Custom::AWS', 'Topology')];
    const create = JSON.parse(flatten(topology.Properties.Create)) as {
      action: string;
      parameters: Record<string, unknown>;
    };
    expect(create.action).toBe('PutParameter');
    expect(create.parameters).toMatchObject({
      Name: '/astaire/web/topology',
      Value: serializeTopology(emptyTopology('web')),
      Overwrite: false,
    });
    expect(topology.Properties.Update).toBeUndefined();
    expect(JSON.parse(flatten(topology.Properties.Delete))).toMatchObject({
      action: 'DeleteParameter',
      parameters: { Name: '/astaire/web/topology' },
    });
  });

  test('given the workflow, when synthesized, then its ARN is published where the CLI looks for it', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/astaire/web/state-machine-arn',
      Value: { Ref: logicalId('AWS::StepFunctions::StateMachine', 'Workflow') },
    });
  });

  test('given invalid settings, when the construct is built, then it fails naming them before anything is deployed', () => {
    const build = (overrides: object) => () =>
      new ElasticMemcachedCluster(new Stack(unbundledApp()), 'C', fixtureClusterProps(overrides));
    expect(build({ clusterName: 'bad name' })).toThrow(/clusterName/);
    expect(build({ vbuckets: 1000 })).toThrow(/vbuckets/);
    expect(build({ minCapacity: 5, maxCapacity: 3 })).toThrow(/minCapacity/);
    expect(build({ hookHeartbeatTimeout: Duration.hours(3) })).toThrow(/hookHeartbeatTimeout/);
  });

  test('given a hook heartbeat timeout that the workflow cannot keep alive, when built, then it fails naming the settings', () => {
    const build = (over: Parameters<typeof fixtureClusterProps>[0]) => () =>
      new ElasticMemcachedCluster(new Stack(unbundledApp()), 'C', fixtureClusterProps(over));
    expect(build({ hookHeartbeatTimeout: Duration.seconds(45) })).toThrow(/hookHeartbeatTimeout/);
    expect(build({ hookHeartbeatTimeout: Duration.minutes(3), workflowTimeout: Duration.hours(4) })).toThrow(
      /TakeLock/,
    );
    expect(build({ hookHeartbeatTimeout: Duration.minutes(5), workflowTimeout: Duration.hours(9) })).toThrow(
      /workflowTimeout \(9 hours\)/,
    );
  });

  test('given an alarm email, when built, then the alarm topic subscribes it', () => {
    const stack = new Stack(unbundledApp());
    new ElasticMemcachedCluster(stack, 'C', fixtureClusterProps({ alarmEmail: 'ops@example.com' }));
    Template.fromStack(stack).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  test('given fewer nodes than replicas, when built, then synth warns', () => {
    const s = new Stack(unbundledApp());
    new ElasticMemcachedCluster(s, 'C', fixtureClusterProps({ minCapacity: 1 }));
    Annotations.fromStack(s).hasWarning('*', Match.stringLikeRegexp('minCapacity 1 is below replicas 2'));
  });
});

describe('ElasticMemcachedCluster: nodes', () => {
  const launchTemplate = () =>
    resources[logicalId('AWS::EC2::LaunchTemplate', 'LaunchTemplate')].Properties
      .LaunchTemplateData as Record<string, unknown>;

  test('given the launch template, when synthesized, then nodes require IMDSv2, encrypt their volume and get detailed monitoring', () => {
    expect(launchTemplate()).toMatchObject({
      MetadataOptions: { HttpTokens: 'required' },
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3' } }],
      Monitoring: { Enabled: true },
    });
  });

  test('given the user data, when memcached restarts or every 30 s, then astaire-agent heal runs for this instance against its cluster topology', () => {
    const script = flatten((launchTemplate().UserData as { 'Fn::Base64': unknown })['Fn::Base64']);
    const unit = script.slice(
      script.indexOf('cat > /etc/systemd/system/astaire-heal.service <<EOF'),
      script.indexOf('\nEOF\n', script.indexOf('astaire-heal.service <<EOF')),
    );
    expect(unit).toMatch(
      /^ExecStart=\/usr\/local\/bin\/astaire-agent heal --node \$INSTANCE_ID --parameter \/astaire\/[^/]+\/topology --region <token>$/m,
    );
    expect(unit).toContain('Type=oneshot');
    expect(script).toContain('OnUnitActiveSec=30s');
    expect(script).toContain('ExecStartPost=/bin/systemctl start --no-block astaire-heal.service');
    expect(script).toContain('systemctl enable --now astaire-heal.timer');
    // After the agent is installed, before the SSM Agent (which stays last).
    expect(script.indexOf('astaire-heal.timer')).toBeGreaterThan(
      script.indexOf('cat > /usr/local/bin/astaire-agent'),
    );
    expect(script.indexOf('astaire-heal.timer')).toBeLessThan(script.indexOf('amazon-ssm-agent.deb'));
  });

  test('given the user data, when a node boots, then it installs Debian memcached with the configured memory on its private address, the agent, and SSM last', () => {
    const script = flatten((launchTemplate().UserData as { 'Fn::Base64': unknown })['Fn::Base64']);
    const at = (text: string): number => {
      expect(script).toContain(text);
      return script.indexOf(text);
    };
    expect(script.split('\n')[1]).toBe('set -euo pipefail');
    expect(script).toContain('apt-get $APT_OPTS update');
    expect(script).toContain('apt-get $APT_OPTS install -y memcached unzip curl awscli xz-utils');
    // Node.js 22 from nodejs.org (Debian bookworm's nodejs is 18, below what the bundled AWS SDK needs),
    // checked against the release's SHASUMS256 before it is unpacked, and before the agent is installed.
    const sdkPackage = readFileSync(require.resolve('@aws-sdk/client-ssm/package.json'), 'utf8');
    const sdkNeeds = (JSON.parse(sdkPackage) as { engines: { node: string } }).engines.node;
    expect(Number(/(\d+)/.exec(sdkNeeds)![1])).toBeLessThanOrEqual(22);
    expect(script).not.toMatch(/install -y[^\n]*\bnodejs\b/);
    expect(script).toContain('NODE_DIST=https://nodejs.org/dist/latest-v22.x');
    expect(script).toContain(
      "NODE_TAR=$(grep -m 1 -o 'node-v22\\.[0-9.]*-linux-x64\\.tar\\.xz' /tmp/node-SHASUMS256.txt)",
    );
    expect(at('sha256sum -c -')).toBeLessThan(at('tar -xJf "/tmp/$NODE_TAR" -C /usr/local'));
    expect(at('tar -xJf "/tmp/$NODE_TAR" -C /usr/local')).toBeLessThan(at('NODE_BIN=$(command -v node)'));
    expect(script).not.toMatch(/\bdnf\b|\/etc\/sysconfig\//);
    // /etc/memcached.conf, one option per line, as Debian's systemd-memcached-wrapper reads it.
    const conf = script.slice(
      at('cat > /etc/memcached.conf <<EOF'),
      script.indexOf('\nEOF\n', at('cat > /etc/memcached.conf')),
    );
    for (const line of ['-p 11211', '-u memcache', '-m 3000', '-l $PRIVATE_IP,127.0.0.1', '-U 0'])
      expect(conf.split('\n')).toContain(line);
    expect(at('cat > /etc/memcached.conf')).toBeLessThan(at('systemctl restart memcached'));
    // -L only where the kernel allows transparent huge pages: memcached 1.6.18 exits at once otherwise.
    const largePages =
      "if grep -qs -e '\\[always\\]' -e '\\[madvise\\]' /sys/kernel/mm/transparent_hugepage/enabled; then echo '-L' >> /etc/memcached.conf; fi";
    expect(at(largePages)).toBeGreaterThan(at('cat > /etc/memcached.conf'));
    expect(at(largePages)).toBeLessThan(at('systemctl restart memcached'));
    expect(script).toMatch(
      /^aws s3 cp 's3:\/\/<token>\/[0-9a-f]{64}\.zip' '\/opt\/astaire\/agent\.zip' --region <token>$/m,
    );
    expect(script).toContain('NODE_BIN=$(command -v node)');
    expect(script).toContain('exec $NODE_BIN /opt/astaire/astaire-agent.js "\\$@"');
    expect(script).toContain('cat > /usr/local/bin/astaire-agent <<EOF');
    // The SSM Agent is installed from the regional package bucket, and only after everything else.
    expect(script).toMatch(
      /^curl -sSf --retry 5 -o \/tmp\/amazon-ssm-agent\.deb https:\/\/s3\.<token>\.<token>\/amazon-ssm-<token>\/latest\/debian_amd64\/amazon-ssm-agent\.deb$/m,
    );
    expect(at('chmod 0755 /usr/local/bin/astaire-agent')).toBeLessThan(
      at('curl -sSf --retry 5 -o /tmp/amazon-ssm-agent.deb'),
    );
    expect(at('dpkg -i /tmp/amazon-ssm-agent.deb')).toBeLessThan(
      at('systemctl enable --now amazon-ssm-agent'),
    );
    expect(script.trimEnd().endsWith('systemctl enable --now amazon-ssm-agent')).toBe(true);
  });

  test('given the default x86_64 instance type, when synthesized, then the AMI is the latest Debian 12 amd64 image, resolved at deploy time', () => {
    const imageParameters = Object.values(
      template.toJSON().Parameters as Record<string, { Type: string; Default: string }>,
    ).filter((p) => p.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    expect(imageParameters.map((p) => p.Default)).toEqual([
      '/aws/service/debian/release/bookworm/latest/amd64',
    ]);
    expect(JSON.stringify(template.toJSON())).not.toContain('ami-amazon-linux-latest');
  });

  test('given an arm64 instance type, when synthesized, then the AMI and the SSM Agent package are arm64', () => {
    const s = new Stack(unbundledApp());
    new ElasticMemcachedCluster(
      s,
      'C',
      fixtureClusterProps({
        instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
      }),
    );
    const t = Template.fromStack(s).toJSON();
    const defaults = Object.values(t.Parameters as Record<string, { Type: string; Default: string }>)
      .filter((p) => p.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>')
      .map((p) => p.Default);
    expect(defaults).toEqual(['/aws/service/debian/release/bookworm/latest/arm64']);
    const lt = Object.values(t.Resources as Record<string, Resource>).find(
      (r) => r.Type === 'AWS::EC2::LaunchTemplate',
    )!;
    const script = flatten(
      ((lt.Properties.LaunchTemplateData as Record<string, unknown>).UserData as { 'Fn::Base64': unknown })[
        'Fn::Base64'
      ],
    );
    expect(script).toContain('/latest/debian_arm64/amazon-ssm-agent.deb');
  });

  test('given clients, when they are allowed in, then only memcached is opened to them and between nodes', () => {
    const s = new Stack(unbundledApp());
    const cluster = new ElasticMemcachedCluster(s, 'C', fixtureClusterProps());
    const clients = new ec2.SecurityGroup(s, 'Clients', { vpc: cluster.vpc });
    cluster.connections.allowDefaultPortFrom(clients);
    const t = Template.fromStack(s);
    const ingress = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toHaveLength(2);
    for (const rule of ingress)
      expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: 11211, ToPort: 11211 });
  });
});

describe('ElasticMemcachedCluster: least privilege', () => {
  /** Every statement any policy grants the node role: its inline policies and the policies attached to it. */
  const nodeStatements = (): Statement[] => {
    const roleId = logicalId('AWS::IAM::Role', 'NodeRole');
    const inline = (
      (resources[roleId].Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]
    ).flatMap((p) => p.PolicyDocument.Statement);
    const attached = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    return [...inline, ...attached];
  };

  test('given the node role, when synthesized, then no AWS-managed policy is attached (they grant ssm:GetParameter* on every parameter)', () => {
    const role = resources[logicalId('AWS::IAM::Role', 'NodeRole')];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const managed = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
    expect(managed.filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('NodeRole'))).toEqual([]);
  });

  test('given the cluster, when synthesized, then its lock is one on-demand DynamoDB table the nodes never touch', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'cluster', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect(nodeStatements().length).toBeGreaterThan(0);
    expect(
      nodeStatements()
        .flatMap(actions)
        .filter((a) => a.startsWith('dynamodb:')),
    ).toEqual([]);
  });

  test('given the node role, when synthesized, then it may read parameters under /astaire/<cluster>/ only', () => {
    const reads = nodeStatements().filter((s) =>
      actions(s).some((a) => /^ssm:(GetParameter|\*|Get\*)/.test(a) || a === '*'),
    );
    expect(reads.length).toBeGreaterThanOrEqual(1);
    for (const s of reads) {
      const resourcesOf = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const r of resourcesOf)
        expect(flatten(r)).toMatch(/^arn:<token>:ssm:<token>:<token>:parameter\/astaire\/web\/[^*]*\*?$/);
    }
  });

  test('given the SSM Agent, when the node registers and takes Run Command messages, then its statements are the documented minimum', () => {
    const agent = nodeStatements().filter((s) =>
      actions(s).some((a) => /^(ssmmessages|ec2messages):|^ssm:UpdateInstanceInformation$/.test(a)),
    );
    expect(agent.flatMap(actions).sort()).toEqual([
      'ec2messages:AcknowledgeMessage',
      'ec2messages:DeleteMessage',
      'ec2messages:FailMessage',
      'ec2messages:GetEndpoint',
      'ec2messages:GetMessages',
      'ec2messages:SendReply',
      'ssm:UpdateInstanceInformation',
      'ssmmessages:CreateControlChannel',
      'ssmmessages:CreateDataChannel',
      'ssmmessages:OpenControlChannel',
      'ssmmessages:OpenDataChannel',
    ]);
  });

  test('given the agent policy, when synthesized, then each statement names its one resource (metrics: the Astaire namespace)', () => {
    const machine = logicalId('AWS::StepFunctions::StateMachine', 'Workflow');
    const statements = statementsOf(logicalId('AWS::IAM::Policy', 'AgentPolicy'));
    expect(statements).toHaveLength(4);
    const by = (action: string) => statements.find((s) => actions(s).includes(action))!;
    expect(flatten(by('ssm:GetParameter').Resource)).toBe(
      'arn:<token>:ssm:<token>:<token>:parameter/astaire/web/*',
    );
    expect(actions(by('states:SendTaskSuccess')).sort()).toEqual([
      'states:SendTaskFailure',
      'states:SendTaskHeartbeat',
      'states:SendTaskSuccess',
    ]);
    expect(by('states:SendTaskSuccess').Resource).toEqual({ Ref: machine });
    expect(by('cloudwatch:PutMetricData')).toMatchObject({
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'Astaire' } },
    });
  });

  test('given the agent bundle, when the node downloads it, then it may read that one object only', () => {
    const statements = statementsOf(logicalId('AWS::IAM::Policy', 'NodeRoleDefaultPolicy'));
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('s3:GetObject');
    expect(flatten(statements[0].Resource)).toMatch(/^arn:<token>:s3:::<token>\/[0-9a-f]{64}\.zip$/);
  });

  test('given the topology initialiser, when synthesized, then it may only put and delete the topology parameter', () => {
    const statements = statementsOf(logicalId('AWS::IAM::Policy', 'TopologyCustomResourcePolicy'));
    expect(statements).toHaveLength(1);
    expect(actions(statements[0])).toEqual(['ssm:PutParameter', 'ssm:DeleteParameter']);
    expect(flatten(statements[0].Resource)).toBe(
      'arn:<token>:ssm:<token>:<token>:parameter/astaire/web/topology',
    );
  });

  test('given the lifecycle rule, when it starts executions, then its role may start this state machine only', () => {
    const machine = logicalId('AWS::StepFunctions::StateMachine', 'Workflow');
    const statements = statementsOf(logicalId('AWS::IAM::Policy', 'EventsRoleDefaultPolicy'));
    expect(statements).toEqual([
      expect.objectContaining({ Action: 'states:StartExecution', Resource: { Ref: machine } }),
    ]);
  });

  test('given every policy outside the workflow, when synthesized, then no statement allows "*" actions and "*" resources only for PutMetricData', () => {
    const policies = Object.entries(template.findResources('AWS::IAM::Policy')).filter(
      ([id]) => !id.includes('Workflow'),
    );
    expect(policies.length).toBeGreaterThanOrEqual(4);
    for (const [id, policy] of policies)
      for (const s of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
        for (const a of actions(s))
          expect({ id, action: a }).not.toEqual({ id, action: expect.stringMatching(/\*$/) });
        if (s.Resource === '*')
          expect({ id, actions: actions(s) }).toEqual({ id, actions: ['cloudwatch:PutMetricData'] });
      }
  });

  test('given the node role inline policies, when synthesized, then "*" resources are the SSM Agent calls only', () => {
    const roleId = logicalId('AWS::IAM::Role', 'NodeRole');
    const inline = (resources[roleId].Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[])
      .flatMap((p) => p.PolicyDocument.Statement)
      .filter((s) => s.Resource === '*');
    expect(inline.flatMap(actions).filter((a) => !/^(ssmmessages|ec2messages):/.test(a))).toEqual([
      'ssm:UpdateInstanceInformation',
    ]);
  });
});

describe('ElasticMemcachedCluster: bring your own', () => {
  test('given a VPC, subnets, image, instance type, security group, role, key pair, root volume and alarm topic, when synthesized, then the nodes use them and none is created', () => {
    const s = new Stack(unbundledApp(), 'Byo');
    const vpc = new ec2.Vpc(s, 'AppVpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Cache', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    });
    const securityGroup = new ec2.SecurityGroup(s, 'AppCacheGroup', { vpc });
    const role = new iam.Role(s, 'AppNodeRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    const keyPair = ec2.KeyPair.fromKeyPairName(s, 'Key', 'ops-key');
    const alarmTopic = new sns.Topic(s, 'OpsTopic');
    const cluster = new ElasticMemcachedCluster(s, 'C', {
      ...fixtureClusterProps(),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      machineImage: ec2.MachineImage.genericLinux({ 'us-east-1': 'ami-0123456789abcdef0' }),
      instanceType: new ec2.InstanceType('r7g.large'),
      securityGroup,
      role,
      keyPair,
      rootVolumeSize: Size.gibibytes(40),
      alarmTopic,
    });
    const t = Template.fromStack(s);
    // What the construct adds to the given role is as clean as its own role.
    const report = new AwsSolutionsChecks().validateScope(s);
    expect(
      report.violations.flatMap((v) =>
        v.violatingResources
          .filter((r) => r.constructPath?.includes('Byo/C/') && !r.constructPath.includes('/Workflow/'))
          .map((r) => `${v.ruleName} at ${r.constructPath}`),
      ),
    ).toEqual([]);
    t.resourceCountIs('AWS::EC2::VPC', 1);
    t.resourceCountIs('AWS::EC2::SecurityGroup', 1);
    t.resourceCountIs('AWS::SNS::Topic', 1);
    expect(Object.keys(t.findResources('AWS::IAM::Role')).filter((id) => id.includes('NodeRole'))).toEqual([
      expect.stringMatching(/^AppNodeRole/),
    ]);
    expect(cluster.securityGroup).toBe(securityGroup);
    expect(cluster.role).toBe(role);
    const lt = Object.values(t.findResources('AWS::EC2::LaunchTemplate'))[0].Properties
      .LaunchTemplateData as Record<string, unknown>;
    expect(lt).toMatchObject({
      InstanceType: 'r7g.large',
      KeyName: 'ops-key',
      SecurityGroupIds: [{ 'Fn::GetAtt': [expect.stringMatching(/^AppCacheGroup/), 'GroupId'] }],
      BlockDeviceMappings: [{ Ebs: { VolumeSize: 40, Encrypted: true, VolumeType: 'gp3' } }],
    });
    expect(JSON.stringify(lt.ImageId)).toContain('CLaunchTemplateAmiMap');
    expect(JSON.stringify(t.toJSON().Mappings)).toContain('ami-0123456789abcdef0');
    const group = Object.values(t.findResources('AWS::AutoScaling::AutoScalingGroup'))[0].Properties;
    expect(JSON.stringify(group.VPCZoneIdentifier)).toContain('AppVpcCacheSubnet');
    for (const alarm of Object.values(t.findResources('AWS::CloudWatch::Alarm')))
      expect(JSON.stringify(alarm.Properties.AlarmActions)).toContain('OpsTopic');
    // The given role still gets the SSM Agent's statements, and no managed policy.
    const onRole = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes('AppNodeRole'),
    );
    const granted = onRole.flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    expect(granted.flatMap(actions)).toEqual(
      expect.arrayContaining([
        'ssm:UpdateInstanceInformation',
        'ec2messages:GetMessages',
        'ssm:GetParameter',
      ]),
    );
    expect(
      Object.values(t.findResources('AWS::IAM::Role')).every(
        (r) =>
          r.Properties.ManagedPolicyArns === undefined ||
          !JSON.stringify(r.Properties.ManagedPolicyArns).includes('AmazonSSM'),
      ),
    ).toBe(true);
  });

  test('given an application function, when granted the topology and allowed in, then it may read the topology parameter only and reach port 11211 only', () => {
    const s = new Stack(unbundledApp(), 'App');
    const cluster = new ElasticMemcachedCluster(s, 'C', fixtureClusterProps());
    const fn = new lambda.Function(s, 'Api', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({});'),
      vpc: cluster.vpc,
    });
    cluster.grantReadTopology(fn);
    cluster.connections.allowDefaultPortFrom(fn);
    const t = Template.fromStack(s);
    const policy = Object.entries(t.findResources('AWS::IAM::Policy')).find(([id]) =>
      id.startsWith('ApiServiceRole'),
    )!;
    const statements = (policy[1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    expect(
      statements.map((st) => ({ actions: actions(st), resources: [st.Resource].flat().map(flatten) })),
    ).toEqual([
      {
        actions: ['ssm:GetParameter', 'ssm:GetParameters'],
        resources: [
          'arn:<token>:ssm:<token>:<token>:parameter/astaire/web/topology',
          'arn:<token>:ssm:<token>:<token>:parameter/astaire/web/topology-parts/*',
        ],
      },
    ]);
    expect(cluster.topologyParameterName).toBe('/astaire/web/topology');
    const ingress = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties)
      .filter((p) => JSON.stringify(p.SourceSecurityGroupId).includes('ApiSecurityGroup'));
    expect(ingress).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: 11211, ToPort: 11211 })]);
  });

  test('given a root volume below 8 GiB, when built, then it fails naming the setting', () => {
    expect(
      () =>
        new ElasticMemcachedCluster(
          new Stack(unbundledApp()),
          'C',
          fixtureClusterProps({ rootVolumeSize: Size.gibibytes(4) }),
        ),
    ).toThrow(/rootVolumeSize must be a whole number of GiB, at least 8, got 4/);
  });
});

describe('ElasticMemcachedCluster: checks', () => {
  test('given the AwsSolutions pack, when the constructs of this file are validated, then they raise nothing unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.flatMap((v) =>
      v.violatingResources
        .filter((r) => !r.constructPath?.includes('/Workflow/'))
        .map((r) => `${v.ruleName} at ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
  });

  test('given the AwsSolutions pack, when the app is validated, then nothing in the whole app (workflow included) is reported unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('given the acknowledged findings, when their reasons name what the nodes and handlers run, then it is what the template holds', () => {
    const reasons = app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(reasons.length).toBeGreaterThan(5);
    // The nodes are Debian: no reason may speak of dnf, yum or Amazon Linux.
    for (const [id, reason] of reasons)
      expect({ id, reason }).not.toEqual({
        id,
        reason: expect.stringMatching(/\bdnf\b|\byum\b|amazon linux/i),
      });
    // The Lambda runtime reason's Node.js major is the one the user data installs and the functions run.
    const l1 = reasons.filter(([id]) => id.endsWith('AwsSolutions-L1')).map(([, r]) => r);
    expect(l1.length).toBeGreaterThan(0);
    const data = resources[logicalId('AWS::EC2::LaunchTemplate', 'LaunchTemplate')].Properties
      .LaunchTemplateData as { UserData: { 'Fn::Base64': unknown } };
    const script = flatten(data.UserData['Fn::Base64']);
    const installed = /nodejs\.org\/dist\/latest-v(\d+)\.x/.exec(script)?.[1];
    expect(installed).toBeDefined();
    for (const r of l1)
      expect(r).toMatch(new RegExp(`nodejs${installed}\\.x.*\\(${installed}, from nodejs\\.org`));
    const runtimes = new Set(
      Object.values(template.findResources('AWS::Lambda::Function'))
        .map((f) => f.Properties.Runtime as string)
        .filter((r) => r.startsWith('nodejs')),
    );
    expect([...runtimes]).toContain(`nodejs${installed}.x`);
  });

  test('given the synthesized state machine, when checked with asl-validator, then the definition is valid Amazon States Language', () => {
    const machine = resources[logicalId('AWS::StepFunctions::StateMachine', 'Workflow')];
    // Tokens become what CloudFormation would put there: pseudo parameters, function ARNs, the document name.
    const PSEUDO: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': 'eu-west-1',
      'AWS::AccountId': '111122223333',
    };
    const parts = (machine.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const text = parts
      .map((p) => {
        if (typeof p === 'string') return p;
        const ref = (p as { Ref?: string }).Ref;
        if (ref) return PSEUDO[ref] ?? ref;
        const [id] = (p as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'];
        return `arn:aws:lambda:eu-west-1:111122223333:function:${id}`;
      })
      .join('');
    const definition = JSON.parse(text) as {
      StartAt: string;
      States: Record<string, unknown>;
      QueryLanguage?: string;
    };
    const result = aslValidator(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
  });
});
