// Jest reporter: jest's default reporter (the PASS/FAIL line of each file) on stdout instead of
// stderr, so that a passing `npm test` prints nothing on stderr. Failure messages stay on stderr.
// The summary ("Tests: N passed") comes from scripts/jest-stdout-summary-reporter.js.
const { DefaultReporter } = require('@jest/reporters');

class StdoutDefaultReporter extends DefaultReporter {
  log(message) {
    process.stdout.write(`${message}\n`);
  }

  // The console output of a file whose tests all passed is left out (the workflow handlers log
  // hundreds of lines); a failing file's is shown.
  printTestFileHeader(testPath, config, result) {
    const failed = result.numFailingTests > 0 || result.testExecError;
    super.printTestFileHeader(testPath, config, failed ? result : { ...result, console: undefined });
  }

  printTestFileFailureMessage(testPath, config, result) {
    if (result.failureMessage) process.stderr.write(`${result.failureMessage}\n`);
    super.printTestFileFailureMessage(testPath, config, { ...result, failureMessage: null });
  }
}

module.exports = StdoutDefaultReporter;
