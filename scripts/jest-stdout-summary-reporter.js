// Jest reporter: jest's summary reporter ("Test Suites: ...", "Tests: N passed") on stdout
// instead of stderr, so that a passing `npm test` prints nothing on stderr (CI reads these lines).
const { SummaryReporter } = require('@jest/reporters');

class StdoutSummaryReporter extends SummaryReporter {
  log(message) {
    process.stdout.write(`${message}\n`);
  }

  _write(string) {
    process.stdout.write(string);
  }
}

module.exports = StdoutSummaryReporter;
