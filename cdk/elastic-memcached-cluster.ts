import { Annotations, Aws, Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE } from '../core/metrics';
import { stateMachineArnParameterName } from '../core/parameter-names';
import {
  DEFAULT_REPLICAS,
  DEFAULT_VBUCKETS,
  emptyTopology,
  isValidClusterName,
  parameterName,
  serializeTopology,
} from '../core/topology';
import { AgentDocument } from './agent-document';
import { AgentPackage } from './agent-package';
import { ClusterAlarms } from './alarms';
import { ClusterDashboard } from './dashboard';
import { AstaireWorkflow, AstaireWorkflowProps } from './workflow';

/** The EventBridge detail-types of the two lifecycle actions the workflow handles. */
export const LIFECYCLE_DETAIL_TYPES = [
  'EC2 Instance-launch Lifecycle Action',
  'EC2 Instance-terminate Lifecycle Action',
];
export const MEMCACHED_PORT = 11211;
const AGENT_PATH = '/usr/local/bin/astaire-agent';

/**
 * The public SSM parameter holding the latest Debian 12 (bookworm) AMI for an architecture
 * (`amd64` or `arm64`), published by Debian's cloud team in every commercial region.
 */
export function debianAmiParameterName(debianArch: 'amd64' | 'arm64'): string {
  return `/aws/service/debian/release/bookworm/latest/${debianArch}`;
}
/**
 * What the SSM Agent itself calls to register the node and take Run Command messages (ec2messages;
 * ssmmessages on newer agents, and for Session Manager): the SSM Agent statements of
 * AmazonSSMManagedInstanceCore, without its ssm:GetParameter(s), GetDocument, association and
 * inventory grants on every resource of the account.
 */
function ssmAgentPolicy(): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        // The agent registers the node and reports its status: Run Command only targets registered nodes.
        actions: ['ssm:UpdateInstanceInformation'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        // The agent's control and data channels (Run Command on agents 3.3 and later, Session Manager).
        actions: [
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        // The agent receives the resync command and replies with its result.
        actions: [
          'ec2messages:AcknowledgeMessage',
          'ec2messages:DeleteMessage',
          'ec2messages:FailMessage',
          'ec2messages:GetEndpoint',
          'ec2messages:GetMessages',
          'ec2messages:SendReply',
        ],
        resources: ['*'],
      }),
    ],
  });
}

/** The construct id aws-cdk-lib gives the singleton function behind every AwsCustomResource. */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

/** The workflow settings the cluster does not derive itself. */
export type AstaireWorkflowOptions = Omit<
  AstaireWorkflowProps,
  | 'clusterName'
  | 'topologyParameterName'
  | 'topologyParameterArn'
  | 'autoScalingGroupName'
  | 'resyncDocumentName'
  | 'memcachedPort'
  | 'workflowTimeout'
  | 'resyncTimeout'
  | 'lifecycleHookHeartbeatTimeout'
>;

export interface ElasticMemcachedClusterProps {
  /**
   * The cluster name: names `/astaire/<cluster>/...` parameters, the Auto Scaling group
   * (`astaire-<cluster>`), metrics and the dashboard. 1-64 letters, digits, `.`, `_`, `-`.
   */
  readonly clusterName: string;
  /**
   * The VPC the nodes run in.
   * @default a new VPC over 2 Availability Zones with one NAT gateway and rejected-traffic flow logs
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets for the nodes; they need outbound access to SSM, S3, Step Functions and the package repos.
   * @default the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Instance type of the nodes (x86_64 or arm64; the AMI follows its architecture).
   * @default t3.medium (2 vCPU, 4 GiB)
   */
  readonly instanceType?: ec2.InstanceType;
  /**
   * The nodes' image. The boot script uses apt and Debian's memcached 1.6 and systemd unit: give a
   * Debian 12 (bookworm) image of the instance type's architecture, for example a hardened copy.
   * @default the latest Debian 12 AMI of the architecture, resolved at deploy time from Debian's public SSM parameter
   */
  readonly machineImage?: ec2.IMachineImage;
  /**
   * The nodes' security group. The construct adds memcached between nodes to it; allow clients
   * with `connections`.
   * @default a new group with all outbound traffic allowed and memcached open between its members
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /**
   * The nodes' role. The construct adds what the SSM Agent and the Astaire agent need (see
   * `ElasticMemcachedCluster`); anything else attached to it is yours.
   * @default a new role with only those statements
   */
  readonly role?: iam.IRole;
  /**
   * Key pair for SSH to the nodes.
   * @default none: reach a node with SSM Session Manager
   */
  readonly keyPair?: ec2.IKeyPair;
  /**
   * Size of each node's encrypted gp3 root volume (the OS, Node.js and the agent's spill files).
   * @default Size.gibibytes(16)
   */
  readonly rootVolumeSize?: Size;
  /**
   * Fewest nodes. Keep it at least `replicas`, or a vbucket has fewer copies than configured.
   * @default 2
   */
  readonly minCapacity?: number;
  /** @default 6 */
  readonly maxCapacity?: number;
  /**
   * Memory memcached may use for items (`-m`); leave room for the OS and the agent.
   * @default Size.mebibytes(3072), for the default t3.medium
   */
  readonly memcachedMemory?: Size;
  /**
   * vbuckets of the topology (a power of two). Fixed when the cluster is created.
   * @default 16384
   */
  readonly vbuckets?: number;
  /**
   * Copies of each item. Fixed when the cluster is created.
   * @default 2
   */
  readonly replicas?: number;
  /**
   * How long a lifecycle action waits for the workflow before Auto Scaling applies its default
   * result (launch: ABANDON, the instance is replaced; terminate: CONTINUE). The workflow
   * records heartbeats, so migrations may run longer. 1 minute to 2 hours, and long enough for the
   * workflow to keep it alive (checked at synth: the keep-alive interval, the lock's retries, and the
   * workflow timeout against the action's global timeout of 100 heartbeat timeouts, at most 48 hours).
   * It also bounds how long EventBridge retries delivering a lifecycle event: an older one is expired.
   * @default Duration.minutes(15)
   */
  readonly hookHeartbeatTimeout?: Duration;
  /**
   * Longest a whole scaling workflow (waiting for the cluster lock included) may run before it
   * times out; a lock older than this is taken to belong to a dead execution.
   * @default Duration.hours(6)
   */
  readonly workflowTimeout?: Duration;
  /**
   * Longest one node's resync may run (the SSM task's timeout; the SSM command gets the same).
   * @default Duration.hours(2)
   */
  readonly resyncTimeout?: Duration;
  /**
   * Where the alarms notify.
   * @default a new, KMS-encrypted SNS topic (subscribe to `alarms.topic`)
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * An address every alarm is mailed to (SNS asks it to confirm first).
   * @default none: subscribe to `alarms.topic` yourself
   */
  readonly alarmEmail?: string;
  /**
   * An execution waiting for the lock or moving data for longer than this raises the long-migration alarm.
   * @default Duration.minutes(30)
   */
  readonly maxMigrationDuration?: Duration;
  /**
   * Finer settings of the scaling workflow (keep-alive interval, resync heartbeat timeout,
   * concurrency, log retention, handler entries).
   * @default the workflow's defaults
   */
  readonly workflowOptions?: AstaireWorkflowOptions;
  /**
   * A folder holding the agent bundle (`astaire-agent.js`) the nodes download at boot.
   * @default the bundle this package ships, built by `npm run build`
   */
  readonly agentBundleDirectory?: string;
}

/**
 * An elastic memcached cluster: an Auto Scaling group of memcached nodes whose launch and
 * terminate lifecycle actions start the Astaire workflow, which moves the data before the
 * lifecycle action completes. Clients find the members in `/astaire/<cluster>/topology`.
 */
export class ElasticMemcachedCluster extends Construct implements ec2.IConnectable {
  readonly clusterName: string;
  readonly vpc: ec2.IVpc;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  /** Clients reach memcached through these: `cluster.connections.allowDefaultPortFrom(app)`. */
  readonly connections: ec2.Connections;
  /** The nodes' security group. */
  readonly securityGroup: ec2.ISecurityGroup;
  /** The nodes' role. */
  readonly role: iam.IRole;
  /** Where clients read the members: `/astaire/<cluster>/topology`. */
  readonly topologyParameterName: string;
  readonly topologyParameterArn: string;
  /** Parameter Store name holding the state machine ARN (read by `astaire resync` and `wait-sync`). */
  readonly stateMachineArnParameterName: string;
  readonly agentDocument: AgentDocument;
  readonly workflow: AstaireWorkflow;
  readonly alarms: ClusterAlarms;
  readonly dashboard: ClusterDashboard;
  readonly launchHookName: string;
  readonly terminateHookName: string;
  readonly lifecycleRule: events.Rule;
  /**
   * Lifecycle events EventBridge could not start the workflow with (after 24 h of retries, or refused):
   * each message body is the event. An alarm fires while any waits (see docs/aws.md to re-drive one).
   */
  readonly lifecycleDeadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: ElasticMemcachedClusterProps) {
    super(scope, id);
    const cluster = props.clusterName;
    if (!isValidClusterName(cluster))
      throw new Error(
        `clusterName must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${JSON.stringify(cluster)}`,
      );
    const vbuckets = props.vbuckets ?? DEFAULT_VBUCKETS;
    const replicas = props.replicas ?? DEFAULT_REPLICAS;
    // Validates vbuckets and replicas with the same rules every reader applies.
    const initialTopology = serializeTopology(emptyTopology(cluster, { vbuckets, replicas }));
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 6;
    if (
      !Number.isInteger(minCapacity) ||
      !Number.isInteger(maxCapacity) ||
      minCapacity < 0 ||
      maxCapacity < Math.max(1, minCapacity)
    )
      throw new Error(
        `need 0 <= minCapacity <= maxCapacity and maxCapacity >= 1, got ${minCapacity} and ${maxCapacity}`,
      );
    if (minCapacity < replicas)
      Annotations.of(this).addWarningV2(
        'astaire:minCapacityBelowReplicas',
        `minCapacity ${minCapacity} is below replicas ${replicas}: a cluster that small keeps fewer copies than configured`,
      );
    const hookTimeout = props.hookHeartbeatTimeout ?? Duration.minutes(15);
    // Auto Scaling takes 30 s to 2 h; EventBridge keeps retrying an event for at least a minute, and no
    // event should be delivered after its action expired.
    if (hookTimeout.toSeconds() < 60 || hookTimeout.toSeconds() > 7200)
      throw new Error(
        `hookHeartbeatTimeout must be from 1 minute to 2 hours, got ${hookTimeout.toHumanString()}`,
      );
    const resyncTimeout = props.resyncTimeout ?? Duration.hours(2);
    const memoryMb = (props.memcachedMemory ?? Size.mebibytes(3072)).toMebibytes();
    if (!Number.isInteger(memoryMb) || memoryMb < 64)
      throw new Error(`memcachedMemory must be a whole number of MiB, at least 64, got ${memoryMb}`);

    this.clusterName = cluster;
    this.topologyParameterName = parameterName(cluster);
    this.topologyParameterArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: this.topologyParameterName.slice(1),
    });
    this.stateMachineArnParameterName = stateMachineArnParameterName(cluster);
    this.vpc = props.vpc ?? this.createVpc();
    // A fixed name lets the workflow, the rule and IAM refer to the group before it exists, so the
    // group can be created last and no instance launches before its lifecycle events are handled.
    const groupName = `astaire-${cluster}`;
    this.launchHookName = 'astaire-launch';
    this.terminateHookName = 'astaire-terminate';

    const topology = this.createTopologyParameter(initialTopology);
    this.agentDocument = new AgentDocument(this, 'AgentDocument', {
      agentPath: AGENT_PATH,
      executionTimeout: resyncTimeout,
    });

    this.workflow = new AstaireWorkflow(this, 'Workflow', {
      ...props.workflowOptions,
      clusterName: cluster,
      topologyParameterName: this.topologyParameterName,
      topologyParameterArn: topology.parameterArn,
      autoScalingGroupName: groupName,
      resyncDocumentName: this.agentDocument.documentName,
      memcachedPort: MEMCACHED_PORT,
      workflowTimeout: props.workflowTimeout,
      resyncTimeout: props.resyncTimeout,
      lifecycleHookHeartbeatTimeout: hookTimeout,
    });
    const stateMachine = this.workflow.stateMachine;
    new ssm.StringParameter(this, 'StateMachineArn', {
      parameterName: this.stateMachineArnParameterName,
      stringValue: stateMachine.stateMachineArn,
      description: `Astaire ${cluster}: the scaling workflow (astaire resync / wait-sync read it)`,
    });

    this.lifecycleDeadLetters = new sqs.Queue(this, 'LifecycleDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // Our own role (not the target's singleton), so that the group can depend on its policy.
    const ruleRole = new iam.Role(this, 'LifecycleEventsRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: `Astaire ${cluster}: EventBridge starts the scaling workflow`,
    });
    this.lifecycleRule = new events.Rule(this, 'LifecycleRule', {
      description: `Astaire ${cluster}: start the scaling workflow on every lifecycle action of ${groupName}`,
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: LIFECYCLE_DETAIL_TYPES,
        detail: {
          AutoScalingGroupName: [groupName],
          LifecycleHookName: [this.launchHookName, this.terminateHookName],
        },
      },
      // The whole event is the input: the workflow's Normalise state reads it.
      targets: [
        new targets.SfnStateMachine(stateMachine, {
          role: ruleRole,
          // Retried (with EventBridge's backoff) for as long as the lifecycle action can still be completed:
          // an event older than the hook's heartbeat timeout names an action Auto Scaling has already ended.
          retryAttempts: 185,
          maxEventAge: hookTimeout,
          // An event that never started the workflow is kept, not dropped: its instance waits on it.
          deadLetterQueue: this.lifecycleDeadLetters,
        }),
      ],
    });

    // Not AmazonSSMManagedInstanceCore: it also grants ssm:GetParameter* on every parameter of the
    // account. Inline in our own role, so the node has it from its first boot.
    const ownRole = props.role
      ? undefined
      : new iam.Role(this, 'NodeRole', {
          assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
          description: `Astaire ${cluster}: memcached nodes and their agent`,
          inlinePolicies: { SsmAgent: ssmAgentPolicy() },
        });
    const role: iam.IRole = props.role ?? ownRole!;
    this.role = role;
    const ssmAgentPolicyOfGivenRole = props.role
      ? new iam.Policy(this, 'SsmAgentPolicy', { roles: [props.role], document: ssmAgentPolicy() })
      : undefined;
    const clusterParametersArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: `astaire/${cluster}/*`,
    });
    const agentPackage = new AgentPackage(this, 'Agent', { bundleDirectory: props.agentBundleDirectory });
    agentPackage.grantDownload(role);
    // A separate policy: it names the state machine, which the group must not depend on through the role.
    const agentPolicy = new iam.Policy(this, 'AgentPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          // The agent reads the topology it resyncs against, and its parts when a large one is split
          // (only its own cluster's parameters).
          actions: ['ssm:GetParameter', 'ssm:GetParameters'],
          resources: [clusterParametersArn],
        }),
        new iam.PolicyStatement({
          // The agent reports its resync result and heartbeats on the task token of this workflow.
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
          resources: [stateMachine.stateMachineArn],
        }),
        new iam.PolicyStatement({
          // The agent publishes progress and failure metrics; PutMetricData has no resource, so the namespace condition scopes it.
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
        }),
        new iam.PolicyStatement({
          // The SSM Agent streams the agent command's output (CloudWatchOutputConfig) with the node's
          // credentials: it looks the log group up, then creates its stream and writes to it.
          actions: [
            'logs:DescribeLogGroups',
            'logs:DescribeLogStreams',
            'logs:CreateLogStream',
            'logs:PutLogEvents',
          ],
          resources: [this.workflow.commandLogGroup.logGroupArn],
        }),
      ],
    });

    const securityGroup =
      props.securityGroup ??
      new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
        vpc: this.vpc,
        description: `Astaire ${cluster}: memcached nodes (clients and peers on ${MEMCACHED_PORT})`,
        // Outbound: package repositories, S3, SSM, Step Functions and CloudWatch endpoints.
        allowAllOutbound: true,
      });
    this.securityGroup = securityGroup;
    this.connections = new ec2.Connections({
      securityGroups: [securityGroup],
      defaultPort: ec2.Port.tcp(MEMCACHED_PORT),
    });
    // Agents pull vbuckets from their peers' memcached.
    this.connections.allowInternally(ec2.Port.tcp(MEMCACHED_PORT), 'memcached between nodes (resync)');
    Annotations.of(securityGroup).acknowledgeWarning(
      '@aws-cdk/aws-ec2:ipv4IgnoreEgressRule',
      'allowInternally also adds the egress half of the rule; all outbound traffic is allowed already.',
    );

    const rootVolumeGiB = (props.rootVolumeSize ?? Size.gibibytes(16)).toGibibytes();
    if (!Number.isInteger(rootVolumeGiB) || rootVolumeGiB < 8)
      throw new Error(`rootVolumeSize must be a whole number of GiB, at least 8, got ${rootVolumeGiB}`);
    const instanceType =
      props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T3, ec2.InstanceSize.MEDIUM);
    // Debian's names for the two architectures an instance type can have.
    const debianArch = instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'amd64';
    const userData = ec2.UserData.forLinux();
    this.addBootCommands(userData, memoryMb, debianArch);
    agentPackage.addInstallCommands(userData, AGENT_PATH, Aws.REGION);
    this.addHealCommands(userData, cluster);
    // Last: Run Command reaches a node only once its SSM Agent runs, so a boot that failed
    // before this point never registers, the workflow's resync cannot start, and the launch is
    // abandoned (the instance replaced) rather than left waiting.
    this.addSsmAgentCommands(userData, debianArch);

    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      // Debian 12 (bookworm), whose memcached 1.6.18 is the server the agent is verified against
      // (DEVELOPERS.md). Debian publishes the latest AMI of each release as a public SSM parameter
      // per architecture; it is resolved at deploy time (a CloudFormation parameter), so synth
      // needs no lookup and stays offline.
      machineImage:
        props.machineImage ?? ec2.MachineImage.fromSsmParameter(debianAmiParameterName(debianArch)),
      instanceType,
      role,
      securityGroup,
      keyPair: props.keyPair,
      userData,
      requireImdsv2: true,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: autoscaling.BlockDeviceVolume.ebs(rootVolumeGiB, {
            encrypted: true,
            volumeType: autoscaling.EbsDeviceVolumeType.GP3,
          }),
        },
      ],
    });

    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: this.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate,
      autoScalingGroupName: groupName,
      minCapacity,
      maxCapacity,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(5) }),
    });
    // Hooks declared on the group itself (not as separate resources) also hold the instances
    // launched when the group is created, so even the first nodes join through the workflow.
    const cfnGroup = this.autoScalingGroup.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    cfnGroup.lifecycleHookSpecificationList = [
      {
        lifecycleHookName: this.launchHookName,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        heartbeatTimeout: hookTimeout.toSeconds(),
        // An instance whose data never arrived must not serve: Auto Scaling replaces it.
        defaultResult: 'ABANDON',
      },
      {
        lifecycleHookName: this.terminateHookName,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeout: hookTimeout.toSeconds(),
        // Termination goes ahead either way; CONTINUE just does not wait for the rest of the hooks.
        defaultResult: 'CONTINUE',
      },
    ];
    // Lifecycle events of the first instances are only handled once the rule, the workflow, the
    // agent's permissions and the topology exist.
    // The rule role's policy too (a separate resource, created after the role the rule references): an
    // event of the first instances delivered before it exists would be refused with AccessDenied.
    this.autoScalingGroup.node.addDependency(this.lifecycleRule, ruleRole, agentPolicy, topology.resource);
    if (ssmAgentPolicyOfGivenRole) this.autoScalingGroup.node.addDependency(ssmAgentPolicyOfGivenRole);

    this.alarms = new ClusterAlarms(this, 'Alarms', {
      clusterName: cluster,
      stateMachine,
      workflow: this.workflow,
      alarmTopic: props.alarmTopic,
      alarmEmail: props.alarmEmail,
      maxMigrationDuration: props.maxMigrationDuration,
      lifecycleDeadLetters: this.lifecycleDeadLetters,
      lifecycleRule: this.lifecycleRule,
    });
    this.dashboard = new ClusterDashboard(this, 'Dashboard', {
      clusterName: cluster,
      stateMachine,
      workflow: this.workflow,
      alarms: this.alarms.alarms,
    });

    Validations.of(ssmAgentPolicyOfGivenRole ?? ownRole!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "The SSM Agent's own calls (ssm:UpdateInstanceInformation, ssmmessages, ec2messages) name no resource the node could know in advance; AWS documents them with Resource * (AmazonSSMManagedInstanceCore, whose parameter and document reads are left out).",
    });
    Validations.of(agentPolicy).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'cloudwatch:PutMetricData supports no resource ARN; the statement is limited to the Astaire namespace by condition.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/astaire/${cluster}/*]`,
        reason:
          "The agent reads its own cluster's parameters only (the topology, and its parts when a large one is split).",
      },
    );
    Validations.of(this.lifecycleDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the EventBridge lifecycle target (EventBridge DLQs are not linked by an SQS redrive policy).',
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'Every launch and terminate goes through a lifecycle hook to the scaling workflow via EventBridge; its failures and timeouts raise the cluster alarms, which is where operators are notified.',
    });
  }

  /**
   * Lets an application read the topology (`ssm:GetParameter` on this cluster's topology parameter,
   * `ssm:GetParameters` on its parts when a large one is split), which `ParameterStoreTopologySource`
   * of `astaire-aws/client` needs. Network access is separate: `cluster.connections.allowDefaultPortFrom(app)`.
   */
  grantReadTopology(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParameter', 'ssm:GetParameters'],
      resourceArns: [this.topologyParameterArn, `${this.topologyParameterArn}-parts/*`],
    });
  }

  /**
   * memcached and Node.js from Debian, memcached listening on the node's private address (peers,
   * clients) and loopback (its agent). `set -euo pipefail` first: any failing step ends the boot.
   */
  private addBootCommands(userData: ec2.UserData, memoryMb: number, debianArch: string): void {
    userData.addCommands(
      'set -euo pipefail',
      'export DEBIAN_FRONTEND=noninteractive',
      // Waits for a first-boot apt run (unattended-upgrades) to release the lock instead of failing.
      'APT_OPTS="-o DPkg::Lock::Timeout=600 -o Acquire::Retries=5"',
      // awscli: the agent bundle is fetched with `aws s3 cp`, which the Debian AMI may not ship.
      'apt-get $APT_OPTS update',
      'apt-get $APT_OPTS install -y memcached unzip curl awscli xz-utils',
      // Node.js 22 from nodejs.org, not Debian's: bookworm's nodejs is 18, below the >= 20 the agent's
      // bundled AWS SDK requires (22 from 2027). The tarball is checked against the release's SHASUMS256
      // (fetched over TLS) before it is unpacked; any mismatch ends the boot (set -e): the node never
      // registers with SSM, and its launch is abandoned.
      'NODE_DIST=https://nodejs.org/dist/latest-v22.x',
      'curl -sSf --retry 5 -o /tmp/node-SHASUMS256.txt "$NODE_DIST/SHASUMS256.txt"',
      `NODE_TAR=$(grep -m 1 -o 'node-v22\\.[0-9.]*-linux-${debianArch === 'arm64' ? 'arm64' : 'x64'}\\.tar\\.xz' /tmp/node-SHASUMS256.txt)`,
      'curl -sSf --retry 5 -o "/tmp/$NODE_TAR" "$NODE_DIST/$NODE_TAR"',
      '(cd /tmp && grep " $NODE_TAR$" node-SHASUMS256.txt | sha256sum -c -)',
      'tar -xJf "/tmp/$NODE_TAR" -C /usr/local --strip-components=1 --no-same-owner',
      '/usr/local/bin/node --version',
      'IMDS_TOKEN=$(curl -sSf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
      'PRIVATE_IP=$(curl -sSf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/local-ipv4)',
      // Debian's unit runs memcached through systemd-memcached-wrapper, one option per line.
      'cat > /etc/memcached.conf <<EOF',
      '# Written at boot by the Astaire user data.',
      `-p ${MEMCACHED_PORT}`,
      '-u memcache',
      '-c 4096',
      `-m ${memoryMb}`,
      // Loopback too: the agent fills its local memcached at 127.0.0.1 (its --local default).
      '-l $PRIVATE_IP,127.0.0.1',
      '-U 0',
      '-P /var/run/memcached/memcached.pid',
      'EOF',
      // -L: the cache as one allocation on transparent huge pages. Measured with bench/resync.ts: a fresh
      // node's first 500 MB fill used 3.6 s of memcached CPU instead of 6 s (1.3k page faults, not 147k),
      // and each source's full crawl ~20% less. memcached 1.6.18 refuses to start with -L when the kernel's
      // THP setting is [never] (or absent): add it only where it works.
      "if grep -qs -e '\\[always\\]' -e '\\[madvise\\]' /sys/kernel/mm/transparent_hugepage/enabled; then echo '-L' >> /etc/memcached.conf; fi",
      'systemctl enable memcached',
      'systemctl restart memcached',
      'mkdir -p /opt/astaire',
    );
  }

  /**
   * Self-heal: `astaire-agent heal` refills the node when its memcached restarted or was flushed while
   * it is a member (its completeness marker is gone). It runs right after every start of memcached
   * (an ExecStartPost drop-in: systemd restarts a crashed memcached) and every 30 s from a timer (a
   * flush_all, or a heal that failed because a peer was unreachable). A check that finds the marker
   * costs one local `stats` and one `mg`, and no AWS call; a oneshot unit never runs twice at once.
   */
  private addHealCommands(userData: ec2.UserData, cluster: string): void {
    const parameter = `/astaire/${cluster}/topology`;
    userData.addCommands(
      // A fresh token: the one taken at the start of the boot may have expired during the installs.
      'IMDS_TOKEN=$(curl -sSf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
      'INSTANCE_ID=$(curl -sSf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/instance-id)',
      'cat > /etc/systemd/system/astaire-heal.service <<EOF',
      '[Unit]',
      'Description=Astaire: refill this node when its memcached restarted or was flushed',
      'After=memcached.service network-online.target',
      '[Service]',
      'Type=oneshot',
      `ExecStart=${AGENT_PATH} heal --node $INSTANCE_ID --parameter ${parameter} --region ${Aws.REGION}`,
      'EOF',
      'cat > /etc/systemd/system/astaire-heal.timer <<EOF',
      '[Unit]',
      'Description=Astaire: check every 30 s that this node is a complete replica',
      '[Timer]',
      'OnBootSec=2min',
      'OnUnitActiveSec=30s',
      'AccuracySec=5s',
      '[Install]',
      'WantedBy=timers.target',
      'EOF',
      'mkdir -p /etc/systemd/system/memcached.service.d',
      'cat > /etc/systemd/system/memcached.service.d/astaire-heal.conf <<EOF',
      '[Service]',
      'ExecStartPost=/bin/systemctl start --no-block astaire-heal.service',
      'EOF',
      'systemctl daemon-reload',
      'systemctl enable --now astaire-heal.timer',
    );
  }

  /** The SSM Agent is not on Debian's AMIs: install it from the region's own package bucket and start it. */
  private addSsmAgentCommands(userData: ec2.UserData, debianArch: string): void {
    const url = `https://s3.${Aws.REGION}.${Aws.URL_SUFFIX}/amazon-ssm-${Aws.REGION}/latest/debian_${debianArch}/amazon-ssm-agent.deb`;
    userData.addCommands(
      `curl -sSf --retry 5 -o /tmp/amazon-ssm-agent.deb ${url}`,
      'dpkg -i /tmp/amazon-ssm-agent.deb',
      'systemctl enable --now amazon-ssm-agent',
    );
  }

  private createVpc(): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
    });
    vpc.addFlowLog('RejectedTraffic', {
      trafficType: ec2.FlowLogTrafficType.REJECT,
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      ),
    });
    return vpc;
  }

  /**
   * Creates `/astaire/<cluster>/topology` holding an empty topology, once. The workflow owns the
   * value from then on: a plain CloudFormation parameter would overwrite the live topology with
   * the empty one whenever its template value changed. Deleting the cluster deletes it.
   */
  private createTopologyParameter(initial: string): { resource: cr.AwsCustomResource; parameterArn: string } {
    const parameterArn = this.topologyParameterArn;
    const resource = new cr.AwsCustomResource(this, 'Topology', {
      onCreate: {
        service: 'SSM',
        action: 'PutParameter',
        parameters: {
          Name: this.topologyParameterName,
          Value: initial,
          Type: 'String',
          Tier: 'Standard',
          // Never replace a topology that exists (for example left behind by a failed delete): fail instead.
          Overwrite: false,
          Description: `Astaire ${this.clusterName}: cluster topology (owned by the scaling workflow)`,
        },
        physicalResourceId: cr.PhysicalResourceId.of(this.topologyParameterName),
      },
      onDelete: {
        service: 'SSM',
        action: 'DeleteParameter',
        parameters: { Name: this.topologyParameterName },
        ignoreErrorCodesMatching: 'ParameterNotFound',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          // Creates the initial topology and deletes it with the cluster.
          actions: ['ssm:PutParameter', 'ssm:DeleteParameter'],
          resources: [parameterArn],
        }),
      ]),
      installLatestAwsSdk: false,
    });
    // The provider function is a stack-wide singleton that AwsCustomResource creates next to us.
    const provider = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER_ID);
    if (provider)
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "AwsCustomResource's provider function only writes its own logs with it; its SSM calls are scoped to the topology parameter.",
      });
    return { resource, parameterArn };
  }
}
