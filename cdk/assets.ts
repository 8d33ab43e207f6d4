import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AslDefinition } from './definition';

// No aws-cdk-lib here: `astaire local` reads the shipped definition through this module.

/** The cluster name the shipped workflow definition is synthesized for (local mode's cluster). */
export const LOCAL_DEFINITION_CLUSTER = 'local';

/** The root of the astaire-aws package (holds its package.json), from `cdk/` or `dist/cdk/`. */
export function packageRoot(from: string = __dirname): string {
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

/**
 * A file or folder that `npm run build` bundles into `dist/assets` (scripts/build-assets.js) and
 * the package ships. Throws a clear error when it is missing (a source checkout not built yet).
 */
export function builtAsset(...parts: string[]): string {
  const path = join(packageRoot(), 'dist', 'assets', ...parts);
  if (!existsSync(path))
    throw new Error(`astaire-aws: ${path} is missing; run \`npm run build\` in ${packageRoot()} first`);
  return path;
}

/** The folder holding one workflow handler's bundle (`index.js`, handler `index.handler`). */
export function handlerAssetDirectory(file: string): string {
  return builtAsset('lambdas', file);
}

/** The folder holding the agent's bundle, `astaire-agent.js`. */
export function agentAssetDirectory(): string {
  return builtAsset('agent');
}

/**
 * The workflow definition `npm run build` synthesized for the local cluster, or undefined when this
 * checkout has not been built. Local mode runs it without loading aws-cdk-lib.
 */
export function shippedWorkflowDefinition(): AslDefinition | undefined {
  const path = join(packageRoot(), 'dist', 'assets', 'workflow-definition.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as AslDefinition) : undefined;
}
