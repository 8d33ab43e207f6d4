import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';

/** The repository root (holds the package.json named astaire-aws), from `cdk/` or `dist/cdk/`. */
export function repoRoot(from: string = __dirname): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'astaire-aws'
    )
      return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the astaire-aws package root above ${from}`);
  }
}

export interface AgentPackageProps {
  /**
   * The agent's CLI entry file, bundled with its dependencies (AWS SDK included) into one file.
   * @default agent/cli.ts of this repository
   */
  readonly entry?: string;
}

/**
 * The node agent as one esbuild bundle in an S3 asset. Bundling runs locally with the esbuild
 * devDependency (no Docker), so synth works offline; the node fetches the asset at boot.
 */
export class AgentPackage extends Construct {
  readonly asset: s3assets.Asset;
  /** The bundle's file name inside the asset's zip. */
  static readonly BUNDLE_FILE = 'astaire-agent.js';

  constructor(scope: Construct, id: string, props: AgentPackageProps = {}) {
    super(scope, id);
    const entry = props.entry ?? join(repoRoot(), 'agent', 'cli.ts');
    if (!existsSync(entry))
      throw new Error(`the agent entry ${entry} does not exist: build the agent first or pass agentEntry`);
    this.asset = new s3assets.Asset(this, 'Bundle', {
      path: dirname(entry),
      // The bundle includes core/ and the SDK: hash what ships, not the agent folder.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Only used when local bundling fails, which it cannot while esbuild is installed.
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
        local: {
          tryBundle(outputDir) {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const esbuild = require('esbuild') as typeof import('esbuild');
            esbuild.buildSync({
              entryPoints: [entry],
              outfile: join(outputDir, AgentPackage.BUNDLE_FILE),
              bundle: true,
              platform: 'node',
              // The nodes run Debian 12's nodejs package, Node.js 18.
              target: 'node18',
              format: 'cjs',
              minify: false,
              sourcemap: false,
              logLevel: 'error',
            });
            return true;
          },
        },
      },
    });
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
