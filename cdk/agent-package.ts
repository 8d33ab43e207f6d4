import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { agentAssetDirectory } from './assets';

export interface AgentPackageProps {
  /**
   * A folder holding the agent bundle as `astaire-agent.js` (one file, its dependencies inside).
   * @default the bundle this package ships (`dist/assets/agent`, built by `npm run build`)
   */
  readonly bundleDirectory?: string;
}

/**
 * The node agent as one prebuilt bundle in an S3 asset: synth bundles nothing, so it needs neither
 * esbuild nor Docker. The node fetches the asset at boot.
 */
export class AgentPackage extends Construct {
  readonly asset: s3assets.Asset;
  /** The bundle's file name inside the asset's zip. */
  static readonly BUNDLE_FILE = 'astaire-agent.js';

  constructor(scope: Construct, id: string, props: AgentPackageProps = {}) {
    super(scope, id);
    const directory = props.bundleDirectory ?? agentAssetDirectory();
    if (!existsSync(join(directory, AgentPackage.BUNDLE_FILE)))
      throw new Error(`AgentPackage: ${directory} holds no ${AgentPackage.BUNDLE_FILE}`);
    this.asset = new s3assets.Asset(this, 'Bundle', { path: directory });
  }

  /** Lets the node download exactly this bundle object and nothing else in the assets bucket. */
  grantDownload(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // The node fetches its agent bundle at boot.
        actions: ['s3:GetObject'],
        resources: [this.asset.bucket.arnForObjects(this.asset.s3ObjectKey)],
      }),
    );
  }

  /**
   * Appends boot commands that install the bundle under /opt/astaire and the `astaire-agent`
   * wrapper at `binPath`, with the region the SDK inside needs (the JS SDK does not ask IMDS).
   */
  addInstallCommands(userData: ec2.UserData, binPath: string, region: string): void {
    const zip = userData.addS3DownloadCommand({
      bucket: this.asset.bucket,
      bucketKey: this.asset.s3ObjectKey,
      localFile: '/opt/astaire/agent.zip',
      region,
    });
    userData.addCommands(
      `unzip -o ${zip} -d /opt/astaire`,
      'NODE_BIN=$(command -v node)',
      `cat > ${binPath} <<EOF`,
      '#!/bin/sh',
      `export AWS_REGION=${region}`,
      `exec $NODE_BIN /opt/astaire/${AgentPackage.BUNDLE_FILE} "\\$@"`,
      'EOF',
      `chmod 0755 ${binPath}`,
    );
  }
}
