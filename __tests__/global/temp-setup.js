// Jest globalSetup: the whole run gets one temporary folder, and TMPDIR points into it, so every
// temporary file the tests, their child processes and the tools they run (tsx's cache) make lands
// there. temp-teardown.js removes it, leaving the system's temporary folder as the run found it.
// Then the run's PostgreSQL server starts (postgres-server.js), unless DURABLITE_TEST_POSTGRES_URL
// names one already; its URL reaches the test workers in that variable.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startRunPostgres } = require('./postgres-server');

module.exports = async function setUpTemporaryFolder() {
  const original = os.tmpdir();
  const runFolder = fs.mkdtempSync(path.join(original, 'durablite-test-run-'));
  // Traversable by all: the read-only database tests reach their files as the user "nobody".
  fs.chmodSync(runFolder, 0o755);
  process.env.DURABLITE_TEST_ORIGINAL_TMPDIR = original;
  process.env.DURABLITE_TEST_RUN_TMPDIR = runFolder;
  process.env.TMPDIR = runFolder;
  try {
    await startRunPostgres();
  } catch (error) {
    // jest runs no teardown after a failed setup: leave the temporary folder as it was found.
    fs.rmSync(runFolder, { recursive: true, force: true, maxRetries: 3 });
    process.env.TMPDIR = original;
    throw error;
  }
};
