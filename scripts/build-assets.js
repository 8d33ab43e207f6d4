// Runs after tsc (npm run build): bundles what the constructs deploy and what local mode runs, so that
// an app consuming astaire-aws needs neither esbuild nor Docker at synth, nor aws-cdk-lib to run locally.
//   dist/assets/lambdas/<handler>/index.js    one workflow handler each (Code.fromAsset of the folder)
//   dist/assets/agent/astaire-agent.js        the node agent with its SDK clients (the nodes download it)
//   dist/assets/workflow-definition.json      the state machine as CDK synthesizes it, for `astaire local`
'use strict';
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const esbuild = require('esbuild');

const root = join(__dirname, '..');
const assets = join(root, 'dist', 'assets');

function main() {
  rmSync(assets, { recursive: true, force: true });
  const { WORKFLOW_HANDLERS } = require(join(root, 'dist', 'cdk', 'workflow.js'));
  for (const file of Object.values(WORKFLOW_HANDLERS)) {
    esbuild.buildSync({
      entryPoints: [join(root, 'lambdas', `${file}.ts`)],
      outfile: join(assets, 'lambdas', file, 'index.js'),
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      sourcemap: true,
      // The nodejs22.x runtime provides the AWS SDK v3 (what NodejsFunction left out too).
      external: ['@aws-sdk/*'],
      logLevel: 'error',
    });
  }
  esbuild.buildSync({
    entryPoints: [join(root, 'agent', 'cli.ts')],
    outfile: join(assets, 'agent', 'astaire-agent.js'),
    bundle: true,
    platform: 'node',
    // The nodes run Debian 12's nodejs package, Node.js 18: the SDK goes inside the bundle.
    target: 'node18',
    format: 'cjs',
    logLevel: 'error',
  });
  const { synthesizeWorkflowDefinition } = require(join(root, 'dist', 'cdk', 'definition.js'));
  const { LOCAL_DEFINITION_CLUSTER } = require(join(root, 'dist', 'cdk', 'assets.js'));
  const definition = synthesizeWorkflowDefinition({ clusterName: LOCAL_DEFINITION_CLUSTER });
  mkdirSync(assets, { recursive: true });
  writeFileSync(join(assets, 'workflow-definition.json'), `${JSON.stringify(definition, null, 2)}\n`);
}

main();
