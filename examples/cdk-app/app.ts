#!/usr/bin/env node
// A complete CDK app: an Astaire cluster and an application (a Lambda function) that reads and
// writes through the client. `npx cdk deploy` from this folder (see README.md).
import * as path from 'node:path';
import { App, CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { ElasticMemcachedCluster } from 'astaire-aws';

export class SessionsStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // The cluster: 2 to 6 Debian nodes with memcached, a new VPC, the scaling workflow, alarms.
    const cache = new ElasticMemcachedCluster(this, 'Cache', {
      clusterName: 'sessions',
      minCapacity: 2,
      maxCapacity: 6,
    });

    // The application: in the cluster's VPC, on the private subnets (NAT for Parameter Store).
    const api = new nodejs.NodejsFunction(this, 'Api', {
      entry: path.join(__dirname, 'handler.ts'),
      runtime: lambda.Runtime.NODEJS_22_X,
      timeout: Duration.seconds(10),
      vpc: cache.vpc,
      environment: { ASTAIRE_CLUSTER: cache.clusterName },
    });
    // What the client needs: read the topology parameter, reach memcached on 11211.
    cache.grantReadTopology(api);
    cache.connections.allowDefaultPortFrom(api, 'the Api function reads and writes the cache');

    new CfnOutput(this, 'ApiFunctionName', { value: api.functionName });
    new CfnOutput(this, 'TopologyParameter', { value: cache.topologyParameterName });
  }
}

const app = new App();
new SessionsStack(app, 'AstaireExample');
app.synth();
