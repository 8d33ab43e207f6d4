/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  collectCoverageFrom: ['core/**/*.ts'],
  coverageThreshold: { 'core/': { lines: 100 } },
  // Integration and e2e tests start real memcached processes; keep the machine's 2 cores from thrashing.
  maxWorkers: 2,
  testTimeout: 30000,
};
