import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ElasticMemcachedCluster, ElasticMemcachedClusterProps } from './elastic-memcached-cluster';

export interface AstaireStackProps extends StackProps {
  /** The cluster this stack deploys. */
  readonly cluster: ElasticMemcachedClusterProps;
}

/** One elastic memcached cluster and everything that operates it. */
export class AstaireStack extends Stack {
  readonly cluster: ElasticMemcachedCluster;

  constructor(scope: Construct, id: string, props: AstaireStackProps) {
    super(scope, id, props);
    this.cluster = new ElasticMemcachedCluster(this, 'Cluster', props.cluster);
    new CfnOutput(this, 'TopologyParameter', {
      description: 'Clients read the cluster members here',
      value: this.cluster.topologyParameterName,
    });
    new CfnOutput(this, 'StateMachineArn', {
      description:
        'The scaling workflow (astaire resync / wait-sync find it through /astaire/<cluster>/state-machine-arn)',
      value: this.cluster.workflow.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'Subscribe to receive the cluster alarms',
      value: this.cluster.alarms.topic.topicArn,
    });
    new CfnOutput(this, 'NodeSecurityGroupId', {
      description: 'Allow your clients into this group on port 11211',
      value: this.cluster.connections.securityGroups[0].securityGroupId,
    });
  }
}
