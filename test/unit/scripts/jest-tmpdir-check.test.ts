import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../support/temp-dirs';

// The run's leftover check (jest.config.js globalSetup/globalTeardown), on a directory of its own:
// the real run directory must not be touched while the run goes on.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const teardown = require('../../../scripts/jest-tmpdir-teardown.js') as () => Promise<void>;

async function check(prepare: (dir: string) => void): Promise<{ error?: Error; removed: boolean }> {
  const saved = { ...process.env };
  const dir = join(tempDir('tmpdir-check-'), 'run');
  mkdirSync(dir);
  prepare(dir);
  process.env.ASTAIRE_TEST_RUN_TMPDIR = dir;
  process.env.ASTAIRE_TEST_OUTER_TMPDIR = saved.TMPDIR;
  try {
    await teardown();
    return { removed: !existsSync(dir) };
  } catch (error) {
    return { error: error as Error, removed: !existsSync(dir) };
  } finally {
    process.env = saved;
  }
}

describe('the test run leftover check', () => {
  test('given a run that left a directory and a file, when the run ends, then it fails naming both', async () => {
    const outcome = await check((dir) => {
      mkdirSync(join(dir, 'cdk.out-abc'));
      writeFileSync(join(dir, 'agent-cli-x'), '');
    });
    expect(outcome.error?.message).toMatch(
      /tests left 2 entries in the temp directory.*agent-cli-x, cdk.out-abc/,
    );
    expect(outcome.removed).toBe(true);
  });

  test('given a run that left nothing, when the run ends, then it passes and removes the run directory', async () => {
    const outcome = await check(() => {});
    expect(outcome).toEqual({ removed: true });
  });
});
