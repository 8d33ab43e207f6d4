/** @type {import('jest').Config} */
module.exports = {
  // node's, plus the removal of test/support/temp-dirs.ts's directories after each file.
  testEnvironment: '<rootDir>/scripts/jest-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  collectCoverageFrom: ['core/**/*.ts'],
  coverageThreshold: { 'core/': { lines: 100 } },
  // Integration and e2e tests start real memcached processes; keep the machine's 2 cores from thrashing.
  maxWorkers: 2,
  testTimeout: 30000,
  // Each run gets a fresh TMPDIR; the run fails, naming them, if tests leave anything in it.
  globalSetup: '<rootDir>/scripts/jest-tmpdir-setup.js',
  globalTeardown: '<rootDir>/scripts/jest-tmpdir-teardown.js',
  // Jest's own report on stdout, so that a passing run prints nothing on stderr.
  reporters: [
    '<rootDir>/scripts/jest-stdout-reporter.js',
    '<rootDir>/scripts/jest-stdout-summary-reporter.js',
  ],
};
