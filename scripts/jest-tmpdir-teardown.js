// Jest globalTeardown: fail the run, naming what was left, when a test left anything in the
// run's TMPDIR (see scripts/jest-tmpdir-setup.js); remove the run's directory either way.
const { readdirSync, rmSync } = require('node:fs');

module.exports = async function teardown() {
  const dir = process.env.ASTAIRE_TEST_RUN_TMPDIR;
  if (!dir) return;
  let left = [];
  try {
    left = readdirSync(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (process.env.ASTAIRE_TEST_OUTER_TMPDIR === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = process.env.ASTAIRE_TEST_OUTER_TMPDIR;
  }
  if (left.length > 0) {
    throw new Error(
      `tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the temp directory ` +
        `(each test must remove what it creates): ${left.sort().join(', ')}`,
    );
  }
};
