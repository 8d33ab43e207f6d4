import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../support/temp-dirs';

// Issue 16: one error style across commands, `astaire <command>: <what is wrong>; <what to do>`, with no
// class names or errno codes; exit 2 for every bad input (flags, files, state, configuration), 1 for an
// operation that failed. The CLI is spawned as an operator runs it (needs npm run build).
jest.setTimeout(60_000);
const run = promisify(execFile);
const cli = process.env.ASTAIRE_CLI_UNDER_TEST ?? resolve(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');
const dir = tempDir('astaire-cli-errors-');
// No AWS configuration at all, and nothing that would reach off the machine for it.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')),
);
Object.assign(env, {
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

async function astaire(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const path = (name: string) => join(dir, name);
const topology = path('topology.json');
writeFileSync(
  topology,
  JSON.stringify({ cluster: 'demo', epoch: 1, servers: [{ id: 'a', address: '127.0.0.1:11211' }] }),
);
writeFileSync(path('bad.json'), '{"cluster":');
writeFileSync(path('a-file'), 'not a directory');
mkdirSync(path('corrupt'));
writeFileSync(path('corrupt/session.json'), '{"cluster":"local","gro');
mkdirSync(path('emptied'));
writeFileSync(path('emptied/session.json'), '');
mkdirSync(path('session-is-dir/session.json'), { recursive: true });
mkdirSync(path('failed'));
writeFileSync(
  path('failed/session.json'),
  JSON.stringify({
    cluster: 'local',
    group: { port: 1, sequence: 0, instances: [] },
    items: 0,
    executions: [
      { id: 'x', trigger: 'scale', status: 'FAILED', error: 'boom', seconds: 1, finishedAt: 'then' },
    ],
  }),
);
writeFileSync(
  path('failed/local.topology.json'),
  JSON.stringify({ cluster: 'local', epoch: 2, servers: [{ id: 'a', address: '127.0.0.1:11211' }] }),
);

const cases: [string, string[], number, RegExp][] = [
  ['an unknown command', ['frob'], 2, /^astaire: unknown command "frob"; see astaire --help$/],
  [
    'a missing required option',
    ['plan'],
    2,
    /^astaire plan: --topology FILE is required \(or --parameter NAME, or --state-dir DIR for a local cluster\); /,
  ],
  ['a missing file', ['plan', '--topology', path('missing.json')], 2, /missing\.json: does not exist; /],
  ['a directory for a file', ['locate', '--topology', dir, 'k'], 2, /: is a directory, not a file; /],
  ['a malformed file', ['plan', '--topology', path('bad.json')], 2, /bad\.json: document is not valid JSON/],
  ['an unknown short flag', ['locate', '-x', 'k', '--topology', topology], 2, /unknown option -x/],
  ['an unknown long option', ['locate', '--verbose', 'k'], 2, /^astaire locate: unknown option --verbose; /],
  ['a flag given a value', ['plan', '--json=yes'], 2, /^astaire plan: --json takes no value; /],
  ['an option given twice', ['plan', '-t', topology, '--topology', topology], 2, /--topology is given twice/],
  [
    'a limit',
    ['wait-sync', '--cluster', 'c', '--timeout', '0'],
    2,
    /--timeout must be a whole number from 1 to 604800, got "0"/,
  ],
  [
    'a number without a maximum',
    ['set', '-t', topology, '--ttl', 'soon', 'k', 'v'],
    2,
    /^astaire set: --ttl must be a whole number of at least 0, got "soon"; /,
  ],
  [
    'the positional of local scale',
    ['local', 'scale', 'many', '--state-dir', path('none')],
    2,
    /^astaire local scale: N must be a whole number from 1 to 100, got "many"; /,
  ],
  [
    'no cluster to scale',
    ['local', 'scale', '3', '--state-dir', path('none')],
    2,
    /^astaire local scale: no local cluster in .*none; start one with astaire local up$/,
  ],
  [
    'no cluster to wait for',
    ['local', 'wait-sync', '--state-dir', path('none')],
    2,
    /^astaire local wait-sync: no local cluster in /,
  ],
  [
    'a state dir that is a file',
    ['local', 'up', '--state-dir', path('a-file')],
    2,
    /^astaire local up: the state directory .*a-file is a file, not a directory; remove it or pass --state-dir DIR$/,
  ],
  [
    'a truncated session',
    ['local', 'status', '--state-dir', path('corrupt')],
    2,
    /^astaire local status: .*corrupt\/session\.json is corrupt \(not valid JSON\); run astaire local down/,
  ],
  [
    'an empty session',
    ['local', 'verify', '--state-dir', path('emptied')],
    2,
    /emptied\/session\.json is corrupt \(empty\); /,
  ],
  [
    'an unreadable session',
    ['local', 'status', '--state-dir', path('session-is-dir')],
    2,
    /cannot read .*session\.json: it is a directory; /,
  ],
  [
    'no AWS region (parameter)',
    ['get', '--parameter', '/astaire/demo/topology', 'k'],
    2,
    /^astaire get: no AWS region is configured; pass --region R or set AWS_REGION$/,
  ],
  [
    'no AWS region (workflow)',
    ['resync', '--cluster', 'demo'],
    2,
    /^astaire resync: no AWS region is configured; pass --region R or set AWS_REGION$/,
  ],
  [
    'no AWS credentials',
    ['resync', '--cluster', 'demo', '--region', 'eu-west-1'],
    2,
    /^astaire resync: no AWS credentials found; configure them/,
  ],
  [
    "a scenario over a kept cluster's state",
    ['local', 'scenario', '--state-dir', path('failed')],
    2,
    /^astaire local scenario: a local cluster kept by astaire local up has its state in .*failed; run astaire local down first/,
  ],
  [
    'a failed migration',
    ['local', 'wait-sync', '--state-dir', path('failed')],
    1,
    /^astaire local wait-sync: the last migration failed \(boom\); see .*workflow\.log/,
  ],
];

describe('astaire errors, across commands', () => {
  it.each(cases)(
    'given %s (%j), then exit %i and one line in the house style',
    async (_, args, code, message) => {
      const r = await astaire(args);
      const lines = r.stderr.trimEnd().split('\n');
      expect({ code: r.code, lines }).toEqual({ code, lines: [expect.stringMatching(message)] });
      // <command>: <what is wrong>; <what to do>, with no class name and no errno code.
      expect(lines[0]).toMatch(/^astaire( [a-z-]+){0,2}: .+; .+$/);
      expect(lines[0]).not.toMatch(/\b[A-Z][A-Za-z]*Error\b|\bE[A-Z]{3,}\b|Region is missing/);
    },
  );

  it('given a missing state dir, when wait-sync or scale fail, then they create nothing and synthesize nothing', async () => {
    const none = path('still-none');
    for (const args of [['wait-sync'], ['scale', '2'], ['status'], ['resync']]) {
      const r = await astaire(['local', ...args, '--state-dir', none]);
      expect([r.code, r.stdout]).toEqual([2, '']);
    }
    expect(existsSync(none)).toBe(false);
  });

  it('given --help, then the exit codes are documented', async () => {
    const r = await astaire(['--help']);
    expect(r.stdout).toMatch(/Exit codes: 0 success, 1 the operation failed, 2 bad usage or input/);
  });
});
