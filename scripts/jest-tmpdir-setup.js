// Jest globalSetup: point TMPDIR at a fresh, empty directory for the whole run, so that
// scripts/jest-tmpdir-teardown.js can fail the run when a test leaves something behind.
// Workers and the processes the tests spawn inherit process.env, hence this TMPDIR too.
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async function setup() {
  const outer = tmpdir();
  const dir = mkdtempSync(join(outer, 'astaire-test-run-'));
  if (process.env.TMPDIR !== undefined) process.env.ASTAIRE_TEST_OUTER_TMPDIR = process.env.TMPDIR;
  process.env.ASTAIRE_TEST_RUN_TMPDIR = dir;
  process.env.TMPDIR = dir;
  // On Node 20 every AWS SDK client the tests construct would print the SDK's 8-line
  // NodeVersionSupportWarning to stderr. test/e2e/quiet.test.ts runs the CLI without this.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
};
