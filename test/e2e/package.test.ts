import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemcachedCluster } from '../support/memcached';
import { tempDir } from '../support/temp-dirs';

// A new user's path: `npm pack`, install the tarball next to a small TypeScript app, type-check
// it against the published types, synthesize a cluster and use the client against real memcached.

const ROOT = join(__dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const run = promisify(execFile);
const version = (name: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;

async function npm(cwd: string, ...args: string[]): Promise<void> {
  await run('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    timeout: 90_000,
  });
}

/** Bytes of every file under `dir` (what the install puts on disk). */
function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += sizeOf(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Type-checks and compiles the app in `dir` with `files` as its sources; returns tsc's complaint, if any. */
async function compile(
  dir: string,
  file: string | string[],
  skipLibCheck: boolean,
): Promise<string | undefined> {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'node16',
        moduleResolution: 'node16',
        strict: true,
        rootDir: 'src',
        outDir: 'out',
        skipLibCheck,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      files: Array.isArray(file) ? file : [file],
    }),
  );
  try {
    await run(process.execPath, [TSC, '-p', dir], { cwd: dir, timeout: 60_000 });
    return undefined;
  } catch (error) {
    return (error as { stdout?: string }).stdout || String(error);
  }
}

const CLIENT_APP = `
import { AstaireClient, FileTopologySource } from 'astaire-aws/client';
import * as memjs from 'astaire-aws/memjs';

async function main(): Promise<void> {
  const source = new FileTopologySource(process.argv[2]);
  const client = await AstaireClient.open({ source, pollIntervalMs: 0 });
  await client.set('user:42', 'hello from the packed client', { ttl: 60, flags: 7 });
  const item = await client.get('user:42');
  const cache = memjs.Client.create('app', { source, pollIntervalMs: 0, expires: 60 });
  const counted = await cache.increment('visits', 1, { initial: 1 });
  console.log(JSON.stringify({ value: item?.value.toString(), flags: item?.flags, visits: counted.value }));
  cache.close();
  await client.close();
}
void main();
`;

describe('the packed astaire-aws installed into a fresh app', () => {
  let dir: string;
  let memcached: MemcachedCluster | undefined;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'assets', 'workflow-definition.json')))
      throw new Error('dist/assets is missing: run `npm run build` first (npm test does)');
    dir = tempDir('astaire-package-');
    // The build already ran (npm test builds first): pack what it made without running it again.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--loglevel=error'], {
      cwd: ROOT,
      timeout: 60_000,
    });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
    );
  }, 90_000);
  afterAll(async () => {
    await memcached?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('given an app that only uses the client, when it installs the tarball, then it gets no CDK, no nag, no local runtime and no bundler', async () => {
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    await npm(dir, 'install', `./${tarball}`);
    const modules = join(dir, 'node_modules');
    for (const heavy of ['aws-cdk-lib', 'constructs', 'cdk-nag', 'esbuild', 'memjs'])
      expect({ heavy, installed: existsSync(join(modules, heavy)) }).toEqual({ heavy, installed: false });
    console.log(`client-only install: node_modules ${mb(sizeOf(modules))}`);
  }, 120_000);

  test('given the client app, when type-checked against the published types and run, then it reads back what it wrote on real memcached', async () => {
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'client-app.ts'), CLIENT_APP);
    // And a misuse beside it: the published types must reject it (they are not `any`).
    writeFileSync(
      join(dir, 'src', 'bad-app.ts'),
      `import { AstaireClient } from 'astaire-aws/client';\nexport const f = (c: AstaireClient) => c.set('k', { not: 'a value' });\n`,
    );
    const complaints = await compile(dir, ['src/client-app.ts', 'src/bad-app.ts'], false);
    expect(complaints).toMatch(/bad-app\.ts\(2,\d+\): error TS\d+/);
    expect(complaints).not.toMatch(/client-app\.ts/);

    memcached = await MemcachedCluster.start(2);
    const topology = join(dir, 'topology.json');
    writeFileSync(
      topology,
      JSON.stringify({ cluster: 'app', epoch: 1, vbuckets: 1024, replicas: 2, servers: memcached.servers() }),
    );
    const { stdout } = await run(process.execPath, [join(dir, 'out', 'client-app.js'), topology], {
      cwd: dir,
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({ value: 'hello from the packed client', flags: 7, visits: 1 });
  }, 120_000);

  test('given examples/cdk-app and aws-cdk-lib, when type-checked against the package and synthesized without esbuild or Docker, then the prebuilt bundles are the assets and the function may read the topology and reach the nodes', async () => {
    await npm(dir, 'install', `aws-cdk-lib@${version('aws-cdk-lib')}`, `constructs@${version('constructs')}`);
    expect(existsSync(join(dir, 'node_modules', 'esbuild'))).toBe(false);
    console.log(
      `full install (with aws-cdk-lib, constructs): node_modules ${mb(sizeOf(join(dir, 'node_modules')))}`,
    );

    mkdirSync(join(dir, 'src', 'example'), { recursive: true });
    for (const file of ['app.ts', 'handler.ts'])
      writeFileSync(
        join(dir, 'src', 'example', file),
        readFileSync(join(ROOT, 'examples', 'cdk-app', file), 'utf8'),
      );
    expect(await compile(dir, ['src/example/app.ts', 'src/example/handler.ts'], true)).toBeUndefined();
    // The function's entry is its TypeScript file next to app.ts (esbuild bundles it at deploy).
    writeFileSync(
      join(dir, 'out', 'example', 'handler.ts'),
      readFileSync(join(dir, 'src', 'example', 'handler.ts')),
    );
    const outdir = join(dir, 'example.out');
    await run(process.execPath, [join(dir, 'out', 'example', 'app.js')], {
      cwd: dir,
      timeout: 90_000,
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        // The example's own function is a NodejsFunction (the app's esbuild bundles it at deploy);
        // this app has no esbuild, so only that bundling is skipped here.
        CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
        CDK_DOCKER: join(dir, 'no-docker-here'),
      },
    });
    const template = JSON.parse(readFileSync(join(outdir, 'AstaireExample.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const text = JSON.stringify(template);
    // Astaire's handlers and agent: the shipped bundles, staged as they are.
    const handlers = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler',
    );
    expect(handlers.length).toBeGreaterThanOrEqual(9);
    expect(
      Object.values(template.Resources).some((r) => r.Type === 'AWS::AutoScaling::AutoScalingGroup'),
    ).toBe(true);
    const staged = readdirSync(outdir).filter((f) => f.startsWith('asset.'));
    expect(staged.filter((a) => existsSync(join(outdir, a, 'index.js'))).length).toBeGreaterThanOrEqual(9);
    expect(staged.some((a) => existsSync(join(outdir, a, 'astaire-agent.js')))).toBe(true);
    const apiPolicy = Object.entries(template.Resources).find(
      ([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith('ApiServiceRole'),
    );
    expect(JSON.stringify(apiPolicy?.[1].Properties)).toContain('parameter/astaire/sessions/topology');
    expect(text).toMatch(/"FromPort":11211,.*"ToPort":11211/);
  }, 150_000);
});
