import {
  ArnFormat,
  CfnElement,
  Duration,
  Names,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { AgentMode, agentCommandCommentFormat } from '../lambdas/agent-commands';
import { HISTORY_EVENT_LIMIT, HistoryEvents } from '../lambdas/history-budget';
import { LockAttr } from '../lambdas/lock-table';
import { handlerAssetDirectory } from './assets';
import { ClientPhases } from './client-phases';
import { pushPhase } from './push';
import { ResyncDocumentParameters as DocParam, StateNames as S } from './state-names';

/** The workflow's Lambda handlers, one function (and one entry file under `lambdas/`) each. */
export const WORKFLOW_HANDLERS = {
  normalise: 'normalise',
  takeLock: 'take-lock',
  planMigration: 'plan-migration',
  releaseLock: 'release-lock',
  commitMigration: 'commit-migration',
  keepAlive: 'keep-alive',
  completeLifecycle: 'complete-lifecycle',
  restoreTopology: 'restore-topology',
  cancelCommands: 'cancel-commands',
  recordFailure: 'record-failure',
} as const;
export type WorkflowHandler = keyof typeof WORKFLOW_HANDLERS;

/** Metrics the workflow publishes (dimension `Cluster`), for alarms and the dashboard. */
export const WorkflowMetricNames = {
  /** One per execution that ended in the Fail state. */
  migrationFailed: 'MigrationFailed',
  /** A lifecycle action the workflow meant to complete was already completed or had expired. */
  lifecycleActionGone: 'LifecycleActionGone',
  /** One per execution whose cleanup after the commit failed (the topology stays committed). */
  cleanupFailed: 'CleanupFailed',
  /** Seconds since the execution started, put at every keep-alive round (Maximum it). */
  migrationSeconds: 'MigrationSeconds',
} as const;
export type WorkflowMetricName = (typeof WorkflowMetricNames)[keyof typeof WorkflowMetricNames];

/** What alarms and the dashboard need of a workflow: its metrics of one cluster. */
export interface IWorkflowMetrics {
  metric(name: WorkflowMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/** The metrics of the workflow of `clusterName` publishing to `namespace`, without the workflow itself. */
export function workflowMetrics(clusterName: string, namespace = 'Astaire'): IWorkflowMetrics {
  return {
    metric: (name, props) =>
      new cloudwatch.Metric({
        namespace,
        metricName: name,
        dimensionsMap: { Cluster: clusterName },
        statistic: 'Sum',
        ...props,
      }),
  };
}

export interface AstaireWorkflowProps {
  /** The cluster this workflow manages (one workflow per cluster). */
  readonly clusterName: string;
  /** Name of the topology parameter, `/astaire/<cluster>/topology`. */
  readonly topologyParameterName: string;
  /** ARN of the topology parameter (the handlers may read and overwrite it). */
  readonly topologyParameterArn: string;
  /** The cluster's Auto Scaling group: its members are the target topology. */
  readonly autoScalingGroupName: string;
  /** The SSM Command document that runs `astaire-agent resync` or `cleanup` with {@link DocParam}. */
  readonly resyncDocumentName: string;
  /**
   * The port memcached listens on at every node.
   * @default 11211
   */
  readonly memcachedPort?: number;
  /**
   * Upper bound of one execution, waiting for the lock included. A lock older than this
   * belongs to a dead execution and is broken.
   * @default Duration.hours(6)
   */
  readonly workflowTimeout?: Duration;
  /**
   * How long one node's resync, or its cleanup after the commit, may take (the SSM task's TimeoutSeconds).
   * @default Duration.hours(2)
   */
  readonly resyncTimeout?: Duration;
  /**
   * The agent must send a task heartbeat at least this often, or its resync is failed.
   * @default Duration.minutes(5)
   */
  readonly resyncHeartbeatTimeout?: Duration;
  /**
   * How often the lifecycle action is heartbeated (and the end of the data move noticed) while
   * a migration runs, and how often a waiting execution retries the lock. Must be well under
   * the lifecycle hooks' heartbeat timeout.
   * @default Duration.seconds(30)
   */
  readonly keepAliveInterval?: Duration;
  /**
   * The least the workflow waits between writing `newServers` and starting the agents; then
   * AwaitClients waits for every client that acknowledges (docs/client-protocol.md). The wait alone
   * guards clients that read a file or Parameter Store and do not acknowledge, so that every client
   * has re-read the topology and writes to old and new replicas alike. An agent's
   * walk of a source misses items written after it passed them; a client still on the old
   * topology would write only there, and its write would be lost at commit. At least the
   * clients' topology poll interval (5 s by default), with margin. The workflow waits as long again
   * after the commit before the nodes delete the vbuckets they lost: a client still on the
   * migration's topology writes to the old replicas too.
   * @default Duration.seconds(15)
   */
  readonly clientPropagationDelay?: Duration;
  /**
   * Nodes resynced (or cleaned up) at the same time: the Maps' MaxConcurrency, 1 to 40 (an inline Map
   * runs at most 40 iterations at once). SendCommand goes to one instance per call, so this is also
   * the rate of SendCommand calls at the start of a Map.
   * @default 10
   */
  readonly maxConcurrentResyncs?: number;
  /**
   * The heartbeat timeout of the lifecycle hooks that start this workflow. When given, the timing props
   * are checked against it at synth: the keep-alive interval, the lock's retries, and the workflow
   * timeout against the hook's global timeout (100 x heartbeat, at most 48 hours).
   * @default no check against a hook
   */
  readonly lifecycleHookHeartbeatTimeout?: Duration;
  /**
   * CloudWatch namespace of the workflow's metrics.
   * @default 'Astaire'
   */
  readonly metricNamespace?: string;
  /**
   * Code of the handlers (each exports `handler` from `index.js`).
   * @default the prebuilt bundles this package ships (`dist/assets/lambdas/<handler>`, built by `npm run build`)
   */
  readonly handlerCode?: Partial<Record<WorkflowHandler, lambda.Code>>;
  /**
   * Retention of the workflow's and handlers' logs.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** Every handler's Lambda timeout, in seconds. */
const HANDLER_TIMEOUT_SECONDS = 30;

/** TakeLock's retry of unexpected lock errors (the lock-wait loop heartbeats; these retries do not). */
const TAKE_LOCK_RETRY = { intervalSeconds: 3, backoffRate: 2, maxDelaySeconds: 30, maxAttempts: 6 } as const;

/** The agent's progress interval (agent/pulls.ts DEFAULT_PROGRESS_INTERVAL_MS): each progress is a task heartbeat. */
const AGENT_HEARTBEAT_SECONDS = 5;

/** Errors SDK clients throw when AWS is briefly unavailable or throttling: a Lambda task retries them. */
const TRANSIENT_AWS_ERRORS = [
  // Lambda's own throttle (concurrency limit): LambdaInvoke's default retry list leaves it out.
  'Lambda.TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'TooManyUpdates',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'RequestLimitExceeded',
];

/**
 * SendCommand errors worth retrying: a new instance's SSM agent takes a minute or two to register
 * (InvalidInstanceId until then), throttling, and SSM's own internal errors. Step Functions names an
 * AWS SDK integration's error `ServiceName.ErrorName`, with the `Exception` suffix even where the API
 * reference leaves it out (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html):
 * SSM's `ThrottlingException` arrives as `Ssm.ThrottlingException`. Not `Ssm.SsmException`, the name of
 * any error the SDK does not model: retrying it would repeat a permanent failure (a bad document or
 * parameter, a denied call) twelve times before the rollback.
 */
export const TRANSIENT_SSM_ERRORS = [
  'Ssm.InvalidInstanceIdException',
  'Ssm.ThrottlingException',
  'Ssm.InternalServerErrorException',
];

/**
 * Errors of TakeLock that no retry mends: the configuration (environment) or the lock table's
 * permissions or existence are wrong. Every other lock error is retried.
 */
const PERMANENT_LOCK_ERRORS = [
  'ConfigurationError',
  'AccessDeniedException',
  'ResourceNotFoundException',
  'ValidationException',
];

/**
 * The Astaire state machine and its Lambda handlers (DESIGN "The workflow"):
 * Normalise → TakeLock (wait while another execution holds it; lock errors are retried, then the
 * execution fails without rollback or ABANDON: nothing was written) → PlanMigration →
 * MigrateData (Map of SSM sendCommand.waitForTaskToken, then Commit; in parallel a keep-alive
 * loop that heartbeats the lifecycle action until the migration is no longer running) →
 * ContinueLifecycle → WaitBeforeCleanup → CleanupNodes (the nodes that lost vbuckets delete
 * them) → ReleaseLock. Any failure before the commit: RestoreTopology → AbandonLaunch (launches
 * only) → WaitBeforeRollbackCleanup → RollbackCleanupNodes (the restored members that pulled delete
 * what they do not hold) → ReleaseLockAfterRollback → RecordFailure → Fail. A failed cleanup never
 * touches the committed topology or the lifecycle action: RecordCleanupFailure → ReleaseLock →
 * CleanupFailed (Fail).
 */
export class AstaireWorkflow extends Construct implements IWorkflowMetrics {
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Readonly<Record<WorkflowHandler, lambda.Function>>;
  /** The handlers' execution roles: each writes its own log group, plus its statements below. */
  readonly roles: Readonly<Record<WorkflowHandler, iam.Role>>;
  /** The cluster lock (partition key `cluster`, one item per cluster; TTL on `leaseExpiry`). */
  readonly lockTable: dynamodb.Table;
  readonly logGroup: logs.LogGroup;
  /**
   * Where SSM sends the agents' command output (`/astaire/<cluster>/agent-commands`); the nodes' role must
   * be allowed to write it (ElasticMemcachedCluster does so).
   */
  readonly commandLogGroup: logs.LogGroup;
  readonly metricNamespace: string;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: AstaireWorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const workflowTimeout = props.workflowTimeout ?? Duration.hours(6);
    const resyncTimeout = props.resyncTimeout ?? Duration.hours(2);
    const resyncHeartbeat = props.resyncHeartbeatTimeout ?? Duration.minutes(5);
    const keepAlive = props.keepAliveInterval ?? Duration.seconds(30);
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    this.metricNamespace = props.metricNamespace ?? 'Astaire';
    this.clusterName = props.clusterName;
    if (
      !Token.isUnresolved(props.clusterName) &&
      !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(props.clusterName)
    )
      throw new Error(
        `AstaireWorkflow: clusterName ${JSON.stringify(props.clusterName)} is not a valid cluster name`,
      );
    if (resyncHeartbeat.toSeconds() >= resyncTimeout.toSeconds())
      throw new Error('AstaireWorkflow: resyncHeartbeatTimeout must be shorter than resyncTimeout');
    const historyEventBudget = validateTiming({
      workflowTimeout,
      resyncTimeout,
      resyncHeartbeat,
      keepAlive,
      hook: props.lifecycleHookHeartbeatTimeout,
    });
    const maxConcurrency = props.maxConcurrentResyncs ?? 10;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 40)
      throw new Error(
        `AstaireWorkflow: maxConcurrentResyncs must be a whole number from 1 to 40 (an inline Map runs at most 40 iterations at once), got ${maxConcurrency}`,
      );

    const stateMachineName = `astaire-${props.clusterName}`;
    // The cluster lock: one item per cluster, changed by conditional writes only. Not a parameter:
    // DeleteParameter asks to wait 30 s before creating a parameter of the same name again.
    const lockTable = new dynamodb.Table(this, 'LockTable', {
      partitionKey: { name: LockAttr.cluster, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: LockAttr.leaseExpiry,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(lockTable.node.defaultChild!).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'The table holds only the lock of a running migration, which expires by itself: nothing to recover to a point in time.',
    });
    this.lockTable = lockTable;
    const groupArn = stack.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: `*:autoScalingGroupName/${props.autoScalingGroupName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const executionsArn = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    const common: Record<string, string> = {
      CLUSTER_NAME: props.clusterName,
      NODE_OPTIONS: '--enable-source-maps',
    };
    const env: Record<WorkflowHandler, Record<string, string>> = {
      normalise: { AUTO_SCALING_GROUP_NAME: props.autoScalingGroupName },
      takeLock: {
        LOCK_TABLE_NAME: lockTable.tableName,
        LOCK_TTL_SECONDS: String(workflowTimeout.toSeconds()),
      },
      planMigration: {
        TOPOLOGY_PARAMETER_NAME: props.topologyParameterName,
        AUTO_SCALING_GROUP_NAME: props.autoScalingGroupName,
        MEMCACHED_PORT: String(props.memcachedPort ?? 11211),
        HISTORY_EVENT_BUDGET: String(historyEventBudget),
      },
      releaseLock: { LOCK_TABLE_NAME: lockTable.tableName },
      commitMigration: { TOPOLOGY_PARAMETER_NAME: props.topologyParameterName },
      keepAlive: {
        TOPOLOGY_PARAMETER_NAME: props.topologyParameterName,
        METRIC_NAMESPACE: this.metricNamespace,
      },
      completeLifecycle: {
        METRIC_NAMESPACE: this.metricNamespace,
        TOPOLOGY_PARAMETER_NAME: props.topologyParameterName,
      },
      restoreTopology: { TOPOLOGY_PARAMETER_NAME: props.topologyParameterName },
      cancelCommands: { AGENT_DOCUMENT_NAME: props.resyncDocumentName },
      recordFailure: { METRIC_NAMESPACE: this.metricNamespace },
    };

    const fns = {} as Record<WorkflowHandler, lambda.Function>;
    const roles = {} as Record<WorkflowHandler, iam.Role>;
    for (const handler of Object.keys(WORKFLOW_HANDLERS) as WorkflowHandler[]) {
      const id = pascal(handler);
      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // Not AWSLambdaBasicExecutionRole (logs:CreateLogGroup, CreateLogStream, PutLogEvents on
      // every log group): the handler writes to its own log group only, which exists already.
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Astaire ${props.clusterName}: the workflow's ${WORKFLOW_HANDLERS[handler]} handler`,
      });
      logGroup.grantWrite(role);
      roles[handler] = role;
      fns[handler] = new lambda.Function(this, `${id}Function`, {
        // Prebuilt by `npm run build`: synth bundles nothing, so it needs neither esbuild nor Docker.
        code:
          props.handlerCode?.[handler] ??
          lambda.Code.fromAsset(handlerAssetDirectory(WORKFLOW_HANDLERS[handler])),
        handler: 'index.handler',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: 256,
        timeout: Duration.seconds(HANDLER_TIMEOUT_SECONDS),
        role,
        environment: { ...common, ...env[handler] },
        logGroup,
      });
      Validations.of(fns[handler].node.defaultChild!).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'The handlers run on nodejs22.x, the Node.js the nodes install (22, from nodejs.org, checksum-verified) and the bundles target; a supported Lambda runtime.',
      });
    }
    this.functions = fns;
    this.roles = roles;

    const allow = (
      handler: WorkflowHandler,
      reason: string,
      actions: string[],
      resources: string[],
      conditions?: Record<string, unknown>,
    ) =>
      fns[handler].addToRolePolicy(
        new iam.PolicyStatement({ sid: sid(reason), actions, resources, conditions }),
      );
    const topologyArn = props.topologyParameterArn;
    // The lock item of this cluster only (its partition key), even in a table shared some day.
    const thisClusterOnly = {
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [props.clusterName] },
    };
    // take-lock: create, read and break the cluster's lock; ask whether its owner still runs.
    allow(
      'takeLock',
      'Create read and break the cluster lock',
      ['dynamodb:GetItem', 'dynamodb:PutItem'],
      [lockTable.tableArn],
      thisClusterOnly,
    );
    allow(
      'takeLock',
      'Know whether the lock owner execution still runs',
      ['states:DescribeExecution'],
      [executionsArn],
    );
    // plan-migration: write newServers; read the group's members and their addresses.
    allow(
      'planMigration',
      'Read and write the topology',
      ['ssm:GetParameter', 'ssm:PutParameter'],
      [topologyArn],
    );
    allow(
      'planMigration',
      'List the group members (no resource-level permissions)',
      ['autoscaling:DescribeAutoScalingGroups'],
      ['*'],
    );
    allow(
      'planMigration',
      'Read the members private addresses (no resource-level permissions)',
      ['ec2:DescribeInstances'],
      ['*'],
    );
    allow(
      'releaseLock',
      'Release the cluster lock when nothing changed or the cleanup or rollback ended',
      ['dynamodb:DeleteItem'],
      [lockTable.tableArn],
      thisClusterOnly,
    );
    allow('commitMigration', 'Commit the topology', ['ssm:GetParameter', 'ssm:PutParameter'], [topologyArn]);
    allow('keepAlive', 'Know whether this migration still runs', ['ssm:GetParameter'], [topologyArn]);
    allow(
      'keepAlive',
      'Keep the lifecycle action alive',
      ['autoscaling:RecordLifecycleActionHeartbeat'],
      [groupArn],
    );
    allow(
      'completeLifecycle',
      'Complete the lifecycle action',
      ['autoscaling:CompleteLifecycleAction'],
      [groupArn],
    );
    allow(
      'completeLifecycle',
      'Never abandon an instance the committed topology lists',
      ['ssm:GetParameter'],
      [topologyArn],
    );
    allow(
      'restoreTopology',
      'Restore the old topology',
      ['ssm:GetParameter', 'ssm:PutParameter'],
      [topologyArn],
    );
    // ListCommands and CancelCommand name no document or instance ARN here: the handler lists the
    // commands of this cluster's document and cancels only those whose Comment names the failed migration.
    allow(
      'cancelCommands',
      'Cancel the failed migration agent commands',
      ['ssm:ListCommands', 'ssm:CancelCommand'],
      ['*'],
    );
    // A topology over 8 KB is stored in parts under <topology>-parts/<version>/<i> (core/topology-parts.ts).
    const parts = `${topologyArn}-parts`;
    const partReaders = [
      'planMigration',
      'commitMigration',
      'keepAlive',
      'completeLifecycle',
      'restoreTopology',
    ] as const;
    for (const h of partReaders)
      allow(h, 'Read the parts of a large topology', ['ssm:GetParameters'], [`${parts}/*`]);
    for (const h of ['planMigration', 'commitMigration', 'restoreTopology'] as const)
      allow(
        h,
        'Write the parts of a large topology and delete replaced ones',
        ['ssm:PutParameter', 'ssm:GetParametersByPath', 'ssm:DeleteParameters'],
        [parts, `${parts}/*`],
      );
    for (const h of ['completeLifecycle', 'recordFailure', 'keepAlive'] as const)
      allow(h, 'Put workflow metrics in the Astaire namespace only', ['cloudwatch:PutMetricData'], ['*'], {
        StringEquals: { 'cloudwatch:namespace': this.metricNamespace },
      });

    // cdk-nag findings on the handlers' statements above that no narrower resource can fix.
    const acknowledge = (handler: WorkflowHandler, resource: string, reason: string) =>
      Validations.of(defaultPolicyOf(roles[handler])).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(stack, resource)}]`,
        reason,
      });
    acknowledge(
      'takeLock',
      executionsArn,
      'The lock owner is an execution of this state machine whose name is only known at run time; the ARN is limited to this state machine.',
    );
    acknowledge(
      'planMigration',
      '*',
      'autoscaling:DescribeAutoScalingGroups and ec2:DescribeInstances support no resource-level permissions; both are read-only.',
    );
    for (const h of ['keepAlive', 'completeLifecycle'] as const)
      acknowledge(
        h,
        groupArn,
        "An Auto Scaling group ARN holds a UUID assigned when the group is created, after this policy; the name part limits it to this cluster's group.",
      );
    acknowledge(
      'cancelCommands',
      '*',
      'The command ids exist only at run time and ListCommands takes no resource ARN; the handler filters by this cluster document and cancels only the commands whose Comment names the failed migration.',
    );
    for (const h of partReaders)
      acknowledge(
        h,
        `${parts}/*`,
        "A large topology's parts have versioned names chosen at write time; the path limits them to this cluster's topology.",
      );
    for (const h of ['completeLifecycle', 'recordFailure', 'keepAlive'] as const)
      acknowledge(
        h,
        '*',
        'cloudwatch:PutMetricData supports no resource ARN; the statement is limited to the workflow metric namespace by condition.',
      );

    // The agents' command output (stdout and stderr of every resync and cleanup), by SSM.
    const commandLogGroupName = `/astaire/${props.clusterName}/agent-commands`;
    this.commandLogGroup = new logs.LogGroup(this, 'AgentCommandLogs', {
      logGroupName: commandLogGroupName,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // ---- The definition -------------------------------------------------------------------
    const publishPhase = new ClientPhases(this);
    const invoke = (
      name: string,
      handler: WorkflowHandler,
      payload: Record<string, unknown>,
      resultPath: string | null,
      resultSelector?: Record<string, unknown>,
    ) => {
      const task = new tasks.LambdaInvoke(this, name, {
        stateName: name,
        lambdaFunction: fns[handler],
        payload: sfn.TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        resultSelector,
        // '$' is left implicit (the default): aws-local-stepfunctions mishandles an explicit "ResultPath": "$".
        resultPath: resultPath === '$' ? undefined : (resultPath ?? sfn.JsonPath.DISCARD),
        taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
      });
      task.addRetry({
        errors: TRANSIENT_AWS_ERRORS,
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts: 5,
      });
      return task;
    };
    const request = { 'request.$': '$.request' };
    const catchTo = (
      state: sfn.TaskStateBase | sfn.Parallel | sfn.Map,
      next: sfn.IChainable,
      resultPath: string,
    ) => state.addCatch(next, { errors: [sfn.Errors.ALL], resultPath });

    /** Where an agent command finds its parameters: a Map item's fields by default. */
    const itemPaths = { cluster: '$.cluster', node: '$.node', epoch: '$.epoch', address: '$.address' };
    const agentCommand = (
      name: string,
      mode: AgentMode,
      at: { cluster: string; node: string; epoch: string; address: string } = itemPaths,
      resultPath?: string,
    ) => {
      const task = new tasks.CallAwsService(this, name, {
        stateName: name,
        service: 'ssm',
        action: 'sendCommand',
        integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        parameters: {
          DocumentName: props.resyncDocumentName,
          'InstanceIds.$': `States.Array(${at.node})`,
          // At most 100 characters (see agentCommandComment); the failure path finds the commands by it.
          'Comment.$': `States.Format('${agentCommandCommentFormat(mode)}', ${at.cluster}, ${at.epoch})`,
          // How long SSM tries to deliver the command to an instance that is not reachable yet.
          TimeoutSeconds: 600,
          // The agent's output, for the runbook: the SSM Agent streams it with the node's credentials.
          CloudWatchOutputConfig: {
            // The name itself, not a reference: local mode runs the definition without CloudFormation.
            CloudWatchLogGroupName: commandLogGroupName,
            CloudWatchOutputEnabled: true,
          },
          Parameters: {
            [`${DocParam.taskToken}.$`]: 'States.Array($$.Task.Token)',
            [`${DocParam.cluster}.$`]: `States.Array(${at.cluster})`,
            [`${DocParam.node}.$`]: `States.Array(${at.node})`,
            [`${DocParam.epoch}.$`]: `States.Array(States.Format('{}', ${at.epoch}))`,
            [DocParam.mode]: [mode],
            [`${DocParam.address}.$`]: `States.Array(${at.address})`,
          },
        },
        iamResources: [
          stack.formatArn({ service: 'ssm', resource: 'document', resourceName: props.resyncDocumentName }),
        ],
        // Both tasks share this statement: add it once.
        additionalIamStatements:
          mode === 'receive'
            ? [
                new iam.PolicyStatement({
                  sid: 'RunTheResyncOnlyOnTheClusterInstances',
                  actions: ['ssm:SendCommand'],
                  resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
                  conditions: {
                    StringEquals: { 'ssm:resourceTag/aws:autoscaling:groupName': props.autoScalingGroupName },
                  },
                }),
              ]
            : undefined,
        taskTimeout: sfn.Timeout.duration(resyncTimeout),
        heartbeatTimeout: sfn.Timeout.duration(resyncHeartbeat),
        ...(resultPath ? { resultPath } : {}),
      });
      task.addRetry({
        errors: TRANSIENT_SSM_ERRORS,
        interval: Duration.seconds(10),
        backoffRate: 2,
        maxDelay: Duration.seconds(60),
        maxAttempts: 12,
      });
      return task;
    };
    /**
     * The nodes at `itemsPath` delete what they do not hold (`astaire-agent cleanup`), after
     * clientPropagationDelay (clients still on the migration's topology write to its union), then `then`;
     * a failure is recorded (CleanupFailed) on the way. Returns the Choice that skips it all when there is
     * nothing to clean. The cleanup after a commit and the one after a rollback differ only in these names.
     */
    const cleanupPhase = (o: {
      readonly has: string;
      readonly wait: string;
      readonly map: string;
      readonly node: string;
      readonly record: string;
      readonly itemsPath: string;
      readonly epochPath: string;
      readonly errorPath: string;
      readonly failed: 'cleanup' | 'rollback-cleanup';
      readonly then: sfn.IChainable;
    }) => {
      const record = invoke(
        o.record,
        'recordFailure',
        { 'error.$': o.errorPath, 'executionId.$': '$$.Execution.Id', failed: o.failed },
        null,
      );
      catchTo(record, o.then, `$.${o.record.charAt(0).toLowerCase()}${o.record.slice(1)}Error`);
      record.next(o.then);
      const map = new sfn.Map(this, o.map, {
        stateName: o.map,
        itemsPath: o.itemsPath,
        itemSelector: {
          'cluster.$': '$.request.cluster',
          'epoch.$': o.epochPath,
          'node.$': '$$.Map.Item.Value.node',
          'address.$': '$$.Map.Item.Value.address',
        },
        maxConcurrency,
        // The per-node reports stay out of the state (1000 of them would pass the 256 KB payload limit):
        // each agent logs its own and puts its metrics.
        resultPath: sfn.JsonPath.DISCARD,
      });
      map.itemProcessor(agentCommand(o.node, 'cleanup'));
      catchTo(map, record, o.errorPath);
      map.next(o.then);
      const wait = new sfn.Wait(this, o.wait, {
        stateName: o.wait,
        time: sfn.WaitTime.duration(props.clientPropagationDelay ?? Duration.seconds(15)),
      });
      wait.next(map);
      return new sfn.Choice(this, o.has, { stateName: o.has })
        .when(sfn.Condition.isPresent(`${o.itemsPath}[0]`), wait)
        .otherwise(o.then);
    };

    // Failure path: every step catches so that the execution always reaches Failed.
    const failed = new sfn.Fail(this, S.Failed, {
      stateName: S.Failed,
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const recordFailure = invoke(
      S.RecordFailure,
      'recordFailure',
      { 'error.$': '$.error', 'executionId.$': '$$.Execution.Id' },
      null,
    );
    catchTo(recordFailure, failed, '$.recordFailureError');
    recordFailure.next(failed);
    // The lock is released only after the rollback cleanup, so that no later migration publishes while a
    // restored member still holds copies of vbuckets it does not hold (it would serve them as current).
    const releaseAfterRollback = invoke(S.ReleaseLockAfterRollback, 'releaseLock', request, null);
    // A lock this execution could not release is broken by the next one once this execution has ended.
    catchTo(releaseAfterRollback, recordFailure, '$.releaseLockError');
    releaseAfterRollback.next(recordFailure);
    // Absent when nothing was restored (a failure before PlanMigration wrote, or RestoreTopology failed).
    const hasRollbackCleanups = cleanupPhase({
      has: S.HasRollbackCleanups,
      wait: S.WaitBeforeRollbackCleanup,
      map: S.RollbackCleanupNodes,
      node: S.RollbackCleanupNode,
      record: S.RecordRollbackCleanupFailure,
      itemsPath: '$.restore.cleanups',
      epochPath: '$.restore.epoch',
      errorPath: '$.rollbackCleanupError',
      failed: 'rollback-cleanup',
      then: releaseAfterRollback,
    });
    const abandonLaunch = invoke(
      S.AbandonLaunch,
      'completeLifecycle',
      { ...request, result: 'ABANDON' },
      '$.lifecycle',
    );
    catchTo(abandonLaunch, hasRollbackCleanups, '$.abandonError');
    abandonLaunch.next(hasRollbackCleanups);
    // A launch is ABANDONed before the cleanup: its lifecycle action does not wait on it.
    const isLaunch = new sfn.Choice(this, S.IsLaunch, { stateName: S.IsLaunch })
      .when(sfn.Condition.stringEquals('$.request.action', 'launch'), abandonLaunch)
      .otherwise(hasRollbackCleanups);
    const restore = invoke(
      S.RestoreTopology,
      'restoreTopology',
      { ...request, 'error.$': '$.error' },
      '$.restore',
    );
    catchTo(restore, isLaunch, '$.restoreError');
    restore.next(
      publishPhase.restored(agentCommand, isLaunch, (state, next, path) => catchTo(state, next, path)),
    );
    // A failed data move: the Map stops waiting for the other nodes, but their agents would pull on. Cancel
    // their commands before the rollback (a failure to cancel does not stop it: the agents exit by
    // themselves once the topology is restored).
    const cancelCommands = invoke(
      S.CancelAgentCommands,
      'cancelCommands',
      { ...request, 'epoch.$': '$.plan.epoch', 'startedAt.$': '$$.Execution.StartTime' },
      null,
    );
    catchTo(cancelCommands, restore, '$.cancelCommandsError');
    cancelCommands.next(restore);

    // Main path.
    // The normalised request replaces the raw input: the state is { request, ... } from here on.
    const normalise = invoke(
      S.Normalise,
      'normalise',
      { 'input.$': '$', 'executionId.$': '$$.Execution.Id' },
      '$',
      {
        'request.$': '$',
      },
    );
    catchTo(normalise, recordFailure, '$.error');

    const takeLock = invoke(S.TakeLock, 'takeLock', request, '$.lock');
    // Nothing has been written yet: a lock error is retried, not rolled back. Errors that no retry
    // mends (permissions, a missing table, a bad configuration) fail at once.
    takeLock.addRetry({ errors: PERMANENT_LOCK_ERRORS, maxAttempts: 0 });
    takeLock.addRetry({
      errors: [sfn.Errors.ALL],
      interval: Duration.seconds(TAKE_LOCK_RETRY.intervalSeconds),
      backoffRate: TAKE_LOCK_RETRY.backoffRate,
      maxDelay: Duration.seconds(TAKE_LOCK_RETRY.maxDelaySeconds),
      jitterStrategy: sfn.JitterType.FULL,
      maxAttempts: TAKE_LOCK_RETRY.maxAttempts,
    });
    // Still failing: fail honestly. No RestoreTopology (this execution wrote nothing) and no ABANDON
    // (the launch is healthy: its lifecycle action is left to the hook's timeout and default result,
    // with the failure counted for the alarm). A lock this execution may have created is broken by
    // the next execution once this one has ended.
    catchTo(takeLock, recordFailure, '$.error');
    const keepAliveInput = { ...request, 'startedAt.$': '$$.Execution.StartTime' };
    const heartbeatWhileWaiting = invoke(S.RecordHeartbeatWhileWaiting, 'keepAlive', keepAliveInput, null);
    // Waiting for the lock has changed nothing: a failed heartbeat is no reason to roll back or ABANDON.
    // Keep waiting; an action that expires meanwhile is found `gone` at its completion, and counted.
    catchTo(heartbeatWhileWaiting, takeLock, '$.keepAliveError');
    const waitForLock = new sfn.Wait(this, S.WaitForLock, {
      stateName: S.WaitForLock,
      time: sfn.WaitTime.duration(keepAlive),
    });
    waitForLock.next(heartbeatWhileWaiting);
    heartbeatWhileWaiting.next(takeLock);

    const plan = invoke(S.PlanMigration, 'planMigration', request, '$.plan');
    catchTo(plan, restore, '$.error');

    // One SSM command per node: the agent runs `mode` (resync or cleanup) and reports on the task token.
    // The receivers take first what the sources push (cdk/push.ts), then pull the rest.
    const resyncNode = agentCommand(S.ResyncNode, 'receive');
    const resyncNodes = new sfn.Map(this, S.ResyncNodes, {
      stateName: S.ResyncNodes,
      itemsPath: '$.plan.pulls',
      itemSelector: {
        'cluster.$': '$.request.cluster',
        'epoch.$': '$.plan.epoch',
        'node.$': '$$.Map.Item.Value.node',
        'address.$': '$$.Map.Item.Value.address',
      },
      maxConcurrency,
      // As the cleanups': no per-node reports in the state.
      resultPath: sfn.JsonPath.DISCARD,
    });
    resyncNodes.itemProcessor(resyncNode);
    const commit = invoke(
      S.CommitMigration,
      'commitMigration',
      { ...request, 'newServers.$': '$.plan.newServers' },
      '$.commit',
    );

    const keepAliveWait = new sfn.Wait(this, S.KeepAliveWait, {
      stateName: S.KeepAliveWait,
      time: sfn.WaitTime.duration(keepAlive),
    });
    const heartbeat = invoke(S.RecordHeartbeat, 'keepAlive', keepAliveInput, '$.keepAlive');
    const keepAliveDone = new sfn.Succeed(this, S.KeepAliveDone, { stateName: S.KeepAliveDone });
    const isRunning = new sfn.Choice(this, S.IsMigrationRunning, { stateName: S.IsMigrationRunning })
      .when(sfn.Condition.booleanEquals('$.keepAlive.migrating', true), keepAliveWait)
      .otherwise(keepAliveDone);
    keepAliveWait.next(heartbeat);
    heartbeat.next(isRunning);
    // A heartbeat that fails (throttled, Auto Scaling briefly down) is not a failure of the data move, and
    // must never fail the Parallel after the commit: the branch just stops. An action that expires for
    // want of heartbeats is found `gone` at its completion, and counted.
    heartbeat.addCatch(keepAliveDone, { errors: [sfn.Errors.ALL], resultPath: '$.keepAliveError' });

    const migrate = new sfn.Parallel(this, S.MigrateData, {
      stateName: S.MigrateData,
      resultSelector: { 'commit.$': '$[2].commit' },
      resultPath: '$.migration',
    });
    // The branches run at once; the pushes come first only so that an interpreter starting them in order
    // (local mode, where starting an agent blocks) starts the sources before their receivers.
    migrate.branch(pushPhase(this, { pushNode: agentCommand(S.PushNode, 'push') }));
    migrate.branch(keepAliveWait);
    migrate.branch(resyncNodes.next(commit));
    catchTo(migrate, cancelCommands, '$.error');

    // After the commit: complete the lifecycle action (nothing waits on the cleanup), then the nodes that
    // lost vbuckets delete them, then the lock goes. From here on, nothing rolls back or ABANDONs.
    const done = new sfn.Succeed(this, S.Done, { stateName: S.Done });
    const cleanupFailed = new sfn.Fail(this, S.CleanupFailed, {
      stateName: S.CleanupFailed,
      errorPath: '$.cleanupError.Error',
      causePath: '$.cleanupError.Cause',
    });
    const checkOutcome = new sfn.Choice(this, S.CheckOutcome, { stateName: S.CheckOutcome })
      .when(sfn.Condition.isPresent('$.error'), recordFailure)
      .when(sfn.Condition.isPresent('$.cleanupError'), cleanupFailed)
      .otherwise(done);
    const releaseLock = invoke(S.ReleaseLock, 'releaseLock', request, null);
    // A lock this execution could not release is broken by the next one once this execution has ended.
    catchTo(releaseLock, checkOutcome, '$.releaseLockError');
    releaseLock.next(checkOutcome);
    const hasCleanups = cleanupPhase({
      has: S.HasCleanups,
      wait: S.WaitBeforeCleanup,
      map: S.CleanupNodes,
      node: S.CleanupNode,
      record: S.RecordCleanupFailure,
      itemsPath: '$.plan.cleanups',
      epochPath: '$.migration.commit.epoch',
      errorPath: '$.cleanupError',
      failed: 'cleanup',
      then: releaseLock,
    });
    const continueLifecycle = invoke(
      S.ContinueLifecycle,
      'completeLifecycle',
      { ...request, result: 'CONTINUE' },
      '$.lifecycle',
    );
    // The data is in place and committed: never roll back or ABANDON from here; clean up, then fail.
    catchTo(continueLifecycle, hasCleanups, '$.error');
    continueLifecycle.next(hasCleanups);
    const hasLifecycle = new sfn.Choice(this, S.HasLifecycleAction, { stateName: S.HasLifecycleAction })
      // An event whose instance is not in the state it announces changed nothing: complete nothing for it.
      .when(sfn.Condition.isPresent('$.plan.ignored'), done)
      .when(
        sfn.Condition.or(
          sfn.Condition.stringEquals('$.request.action', 'launch'),
          sfn.Condition.stringEquals('$.request.action', 'terminate'),
        ),
        continueLifecycle,
      )
      .otherwise(hasCleanups);
    const releaseUnchanged = invoke(S.ReleaseUnchangedLock, 'releaseLock', request, null);
    catchTo(releaseUnchanged, restore, '$.error');
    releaseUnchanged.next(hasLifecycle);
    migrate.next(
      publishPhase.committed(agentCommand, hasLifecycle, (state, next, path) => catchTo(state, next, path)),
    );

    const waitForClients = publishPhase.awaitClients(
      agentCommand,
      props.clientPropagationDelay ?? Duration.seconds(15),
      migrate,
      (state, next, path) => catchTo(state, next, path),
      restore,
    );
    const isChangeNeeded = new sfn.Choice(this, S.IsChangeNeeded, { stateName: S.IsChangeNeeded })
      .when(sfn.Condition.booleanEquals('$.plan.changed', true), waitForClients)
      .otherwise(releaseUnchanged);
    const isLockTaken = new sfn.Choice(this, S.IsLockTaken, { stateName: S.IsLockTaken })
      .when(sfn.Condition.booleanEquals('$.lock.acquired', true), plan.next(isChangeNeeded))
      .otherwise(waitForLock);

    const definition = normalise.next(takeLock).next(isLockTaken);

    this.logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      // Step Functions' best practice (bp-cwl): under /aws/vendedlogs/ the log group needs no entry in the
      // account's CloudWatch Logs resource policy, whose 5,120 characters busy accounts run out of.
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}-${Names.uniqueResourceName(this, { maxLength: 60 })}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName,
      comment: `Astaire: moves the data of cluster ${props.clusterName} when its Auto Scaling group scales`,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      timeout: workflowTimeout,
      tracingEnabled: true,
      // Every state transition, but no execution data: inputs and outputs carry the task tokens the agents
      // answer with (anyone who can read the logs could complete or fail a task with one).
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const machinePolicy = defaultPolicyOf(this.stateMachine.role);
    for (const handler of Object.keys(WORKFLOW_HANDLERS) as WorkflowHandler[])
      Validations.of(machinePolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(fns[handler].node.defaultChild as CfnElement)}.Arn>:*]`,
        reason:
          "LambdaInvoke grants the handler's versions and aliases (:*) with it; the definition invokes the unqualified function, and the wildcard reaches no other function.",
      });
    Validations.of(machinePolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(stack, stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }))}]`,
      reason:
        "SendCommand targets instances launched at run time; the statement's ssm:resourceTag/aws:autoscaling:groupName condition limits it to this cluster's group.",
    });
    Validations.of(machinePolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The CloudWatch Logs delivery and X-Ray actions Step Functions needs for logging and tracing support no resource-level permissions.',
    });
  }

  /** A workflow metric of this cluster (see {@link WorkflowMetricNames}), summed per period. */
  metric(name: WorkflowMetricName, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return workflowMetrics(this.clusterName, this.metricNamespace).metric(name, props);
  }
}

/**
 * Checks the timing props together and returns the history events left for agent commands. Every
 * message names the props and says what to change.
 */
function validateTiming(t: {
  readonly workflowTimeout: Duration;
  readonly resyncTimeout: Duration;
  readonly resyncHeartbeat: Duration;
  readonly keepAlive: Duration;
  readonly hook?: Duration;
}): number {
  const fail = (message: string): never => {
    throw new Error(`AstaireWorkflow: ${message}`);
  };
  const human = (seconds: number) => Duration.seconds(seconds).toHumanString();
  const [timeout, keepAlive] = [t.workflowTimeout.toSeconds(), t.keepAlive.toSeconds()];
  if (t.resyncHeartbeat.toSeconds() < AGENT_HEARTBEAT_SECONDS * 6)
    fail(
      `resyncHeartbeatTimeout (${t.resyncHeartbeat.toHumanString()}) must be at least ${human(AGENT_HEARTBEAT_SECONDS * 6)}: the agent heartbeats every ${AGENT_HEARTBEAT_SECONDS} s, and SSM may take a while to deliver the command`,
    );
  if (t.resyncTimeout.toSeconds() > timeout)
    fail(
      `resyncTimeout (${t.resyncTimeout.toHumanString()}) must not exceed workflowTimeout (${t.workflowTimeout.toHumanString()}): the execution would time out first`,
    );
  if (t.hook) {
    const hook = t.hook.toSeconds();
    if (keepAlive * 2 > hook)
      fail(
        `keepAliveInterval (${t.keepAlive.toHumanString()}) must be at most half the lifecycle hookHeartbeatTimeout (${t.hook.toHumanString()}), or one late heartbeat lets the hook expire`,
      );
    // Auto Scaling ends a lifecycle action after 100 heartbeat timeouts or 48 hours, whichever is less.
    const global = Math.min(100 * hook, 48 * 3600);
    if (timeout > global)
      fail(
        `workflowTimeout (${t.workflowTimeout.toHumanString()}) exceeds the lifecycle action's global timeout (${human(global)}: 100 x hookHeartbeatTimeout, at most 48 hours); shorten workflowTimeout or lengthen hookHeartbeatTimeout`,
      );
    // TakeLock retries without a heartbeat in between: every attempt may run to the function timeout.
    const r = TAKE_LOCK_RETRY;
    let delays = 0;
    for (let i = 0; i < r.maxAttempts; i++)
      delays += Math.min(r.intervalSeconds * r.backoffRate ** i, r.maxDelaySeconds);
    const takeLock = (r.maxAttempts + 1) * HANDLER_TIMEOUT_SECONDS + delays;
    if (takeLock + keepAlive >= hook)
      fail(
        `TakeLock retries for up to ${human(takeLock)} without a heartbeat, and the next comes ${t.keepAlive.toHumanString()} later: lengthen hookHeartbeatTimeout (${t.hook.toHumanString()}) to more than ${human(takeLock + keepAlive)}`,
      );
  }
  // A waiting execution spends the whole timeout in the lock-wait loop in the worst case; what is left of
  // the history after it (and a fixed reserve) is the agent commands' budget, checked at plan time.
  const loop = Math.ceil(timeout / keepAlive) * HistoryEvents.lockWaitRound;
  const budget = HISTORY_EVENT_LIMIT - HistoryEvents.fixed - loop;
  const minimum = 100 * HistoryEvents.agentCommand;
  if (budget < minimum)
    fail(
      `workflowTimeout (${t.workflowTimeout.toHumanString()}) with keepAliveInterval (${t.keepAlive.toHumanString()}) lets an execution waiting for the lock write ${loop} history events, leaving ${budget} of the 25,000 an execution may write (at least ${minimum} are needed for 100 agent commands); lengthen keepAliveInterval or shorten workflowTimeout`,
    );
  return budget;
}

/** The policy a role's addToPolicy statements went to (cdk-nag reports them there). */
function defaultPolicyOf(role: iam.IRole): Construct {
  const policy = role.node.tryFindChild('DefaultPolicy');
  if (!policy) throw new Error(`AstaireWorkflow: ${role.node.path} has no default policy`);
  return policy;
}

/** An ARN as cdk-nag writes it in a finding id: `Ref X` as `<X>`, `Fn::GetAtt [X, Arn]` as `<X.Arn>`. */
function nagResource(stack: Stack, arn: string): string {
  const render = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string') return `<${o.Ref}>`;
    if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    const join = o['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return join[1].map(render).join(join[0]);
    throw new Error(`AstaireWorkflow: cannot name ${JSON.stringify(v)} in a cdk-nag finding`);
  };
  return render(stack.resolve(arn));
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function sid(reason: string): string {
  return reason.replace(/[^A-Za-z0-9 ]/g, '').replace(/(?:^| )(\w)/g, (_, c: string) => c.toUpperCase());
}
