// Jest test environment: node's, plus the removal of the directories test/support/temp-dirs.ts
// made, after every hook of the test file has run (so after the processes writing there stopped).
const { rmSync } = require('node:fs');
const { TestEnvironment } = require('jest-environment-node');

class AstaireTestEnvironment extends TestEnvironment {
  async teardown() {
    const made = this.global.__astaireTempDirs;
    if (Array.isArray(made)) for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    await super.teardown();
  }
}

module.exports = AstaireTestEnvironment;
