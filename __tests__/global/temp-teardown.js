// Jest globalTeardown: removes the run's temporary folder (see temp-setup.js) and everything in it.
const fs = require('node:fs');

module.exports = async function removeTemporaryFolder() {
  const runFolder = process.env.DURABLITE_TEST_RUN_TMPDIR;
  if (runFolder !== undefined) fs.rmSync(runFolder, { recursive: true, force: true, maxRetries: 3 });
  const original = process.env.DURABLITE_TEST_ORIGINAL_TMPDIR;
  if (original !== undefined) process.env.TMPDIR = original;
};
