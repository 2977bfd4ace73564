// Jest globalTeardown: stops the run's PostgreSQL server (see postgres-server.js), then removes the
// run's temporary folder (see temp-setup.js) and everything in it, whether or not the server stopped cleanly.
const fs = require('node:fs');
const { stopRunPostgres } = require('./postgres-server');

module.exports = async function removeTemporaryFolder() {
  try {
    await stopRunPostgres();
  } finally {
    const runFolder = process.env.DURABLITE_TEST_RUN_TMPDIR;
    if (runFolder !== undefined) fs.rmSync(runFolder, { recursive: true, force: true, maxRetries: 3 });
    const original = process.env.DURABLITE_TEST_ORIGINAL_TMPDIR;
    if (original !== undefined) process.env.TMPDIR = original;
  }
};
