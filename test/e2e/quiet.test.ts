import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../support/temp-dirs';

// Commands that make no AWS call must not construct an AWS SDK client: on Node 20 the SDK's
// constructor prints a NodeVersionSupportWarning to stderr.
const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');

/** The CLI's stderr, run with a clean environment (no AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED). */
function stderrOf(...args: string[]): string {
  const run = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', TMPDIR: process.env.TMPDIR ?? '' },
    encoding: 'utf8',
    timeout: 25_000,
  });
  expect(run.error).toBeUndefined();
  return run.stderr;
}

describe('astaire commands that need no AWS call', () => {
  test.each([
    ['local status (no cluster)', () => ['local', 'status', '--state-dir', tempDir('astaire-quiet-')]],
    ['local down (no cluster)', () => ['local', 'down', '--state-dir', tempDir('astaire-quiet-')]],
    ['plan --help', () => ['plan', '--help']],
    ['locate --help', () => ['locate', '--help']],
    ['--help', () => ['--help']],
  ])('given %s, when run on this Node, then stderr has no AWS SDK warning', (_name, args) => {
    expect(stderrOf(...args())).not.toMatch(/NodeVersionSupportWarning/);
  });
});

describe('astaire local up, which runs the workflow handlers locally (no AWS call)', () => {
  const stateDir = join(tempDir('astaire-quiet-up-'), 'state');
  afterAll(() => {
    stderrOf('local', 'down', '--state-dir', stateDir);
  }, 30_000);

  test('given one node, when it starts, then stderr has no AWS SDK warning', () => {
    expect(stderrOf('local', 'up', '--nodes', '1', '--state-dir', stateDir)).not.toMatch(
      /NodeVersionSupportWarning/,
    );
  }, 30_000);
});
