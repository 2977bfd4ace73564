// Shared test tools: temp databases, tracked engines (a test that leaves one open fails), the store
// the behavioural suites run on (SQLite, or PostgreSQL in the `postgresql` jest project), and a
// child-process harness for tests that kill a real process with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Engine, type EngineOptions } from '../lib';
import { DEFAULT_SCHEMA } from '../lib/postgres/database';
import * as database from '../lib/store/database';
import { TestEngine, type TestEngineOptions } from '../lib/testing';
import { beforeDroppingDatabases, createTestDatabase, withClient } from './postgres-helpers';
import { trackWaits } from './wait-helpers';

/**
 * Whether this run's behavioural suites run on PostgreSQL: the `postgresql` jest project sets
 * DURABLITE_TEST_STORE=postgres (global/on-postgres.js), and every engine a test opens on the default
 * database (`openTestEngine()`, `openTestKit()`) then opens on a fresh PostgreSQL database of its own.
 */
export const onPostgres = process.env.DURABLITE_TEST_STORE === 'postgres';

/**
 * A test that is about SQLite itself (its file, its rows, its locks), skipped on PostgreSQL. `why`
 * says in one line what makes it SQLite's; docs/testing.md lists them all.
 *
 * @example
 * testOnSqlite('reads the file with better-sqlite3', 'an event is stored once', async () => { ... });
 */
export function testOnSqlite(why: string, name: string, fn: jest.ProvidesCallback, timeoutMs?: number): void {
  if (why.trim() === '') throw new Error(`testOnSqlite("${name}") needs a reason.`);
  (onPostgres ? test.skip : test)(name, fn, timeoutMs);
}

/** {@link testOnSqlite} for a whole `describe` block. */
export function describeOnSqlite(why: string, name: string, fn: () => void): void {
  if (why.trim() === '') throw new Error(`describeOnSqlite("${name}") needs a reason.`);
  (onPostgres ? describe.skip : describe)(name, fn);
}

/**
 * A database the test may open, close and open again (recovery, a second engine): a new SQLite file
 * (see {@link tempDatabasePath}), or a fresh PostgreSQL database on the `postgresql` project.
 */
export async function testDatabase(name = 'test'): Promise<string> {
  return onPostgres ? (await createTestDatabase()).url : tempDatabasePath(name);
}

/**
 * Runs `sql` on a database of {@link testDatabase} behind its engines' backs, and returns the rows it
 * reads: on a SQLite file through a connection of its own, on PostgreSQL in durablite's schema. The
 * tables and columns are the same on both; write `?` for each of `params`.
 *
 * @example
 * const rows = await queryDatabase(database, 'SELECT * FROM events WHERE workflow_uuid = ?', ['w-1']);
 */
export async function queryDatabase(file: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (onPostgres) {
    let placeholder = 0;
    const numbered = sql.replace(/\?/g, () => `$${++placeholder}`);
    return withClient(file, async (client) => {
      await client.query(`SET search_path TO ${DEFAULT_SCHEMA}`);
      return (await client.query(numbered, params)).rows as Record<string, unknown>[];
    });
  }
  const db = new Database(file);
  try {
    const statement = db.prepare(sql);
    if (!statement.reader) {
      statement.run(...params);
      return [];
    }
    return statement.all(...params) as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** The database of an engine a test opens on the default one: `:memory:`, or a fresh PostgreSQL database on the `postgresql` project. */
async function defaultDatabase(database: string | undefined): Promise<string> {
  if (database !== undefined && database !== ':memory:') return database;
  return onPostgres ? (await createTestDatabase()).url : ':memory:';
}

const openedEngines: Engine[] = [];
const openedKits: TestEngine[] = [];
const temporaryFolders: string[] = [];

/** A new temporary folder, removed after the test file's tests (with whatever is in it). */
export function tempFolder(prefix = 'durablite-test-'): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaryFolders.push(folder);
  return folder;
}

/** Removes the temporary folder of a path made by {@link tempDatabasePath}, with everything in it. */
export function removeTempFolder(database: string): void {
  const folder = path.dirname(database);
  if (!path.basename(folder).startsWith('durablite-test-')) throw new Error(`Not a folder made by tempDatabasePath: ${folder}`);
  fs.rmSync(folder, { recursive: true, force: true });
}

/** A path for a new database file in a fresh temporary folder (removed after the file's tests). */
export function tempDatabasePath(name = 'test'): string {
  return path.join(tempFolder(), `${name}.db`);
}

afterAll(() => {
  for (const folder of temporaryFolders.splice(0)) {
    // A test may have made it read-only (the read-only database tests): give it back first.
    try {
      fs.chmodSync(folder, 0o700);
    } catch {
      // already gone
    }
    fs.rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
  }
});

/**
 * Opens an engine (default: in memory) that the test must close; `afterEach` fails if it did not.
 * Its waits are tracked from its events (see wait-helpers.ts).
 */
export async function openTestEngine(options: Partial<EngineOptions> = {}): Promise<Engine> {
  const engine = await Engine.open({ onWarning: () => {}, ...options, database: await defaultDatabase(options.database) });
  openedEngines.push(engine);
  trackWaits(engine);
  return engine;
}

/**
 * `TestEngine.open(options)`, on a fresh PostgreSQL database of the test on the `postgresql` project
 * when `database` is left to its default. Closed after the test if the test did not close it.
 */
export async function openTestKit(options: TestEngineOptions = {}): Promise<TestEngine> {
  const kit = await TestEngine.open({ ...options, database: await defaultDatabase(options.database) });
  openedKits.push(kit);
  return kit;
}

// Before the test's PostgreSQL databases are dropped (see postgres-helpers.ts), on either store.
beforeDroppingDatabases(async () => {
  for (const kit of openedKits.splice(0)) await kit.close();
  const leftOpen = openedEngines.filter((engine) => engine.isOpen);
  openedEngines.length = 0;
  for (const engine of leftOpen) await engine.close();
  if (leftOpen.length > 0) throw new Error(`The test left ${leftOpen.length} engine(s) open; close every engine it opens.`);
});

const connectionSpies: jest.SpyInstance[] = [];

/**
 * The SQLite connections the store opens from now on (Store.open), for a test that must read or set
 * a pragma of an engine's own connection (synchronous, max_page_count): such a pragma belongs to one
 * connection, and no other can see or change it. Watched until the end of the test.
 */
export function watchOpenedConnections(): database.SqliteDatabase[] {
  const opened: database.SqliteDatabase[] = [];
  const actual = database.openDatabase;
  connectionSpies.push(jest.spyOn(database, 'openDatabase').mockImplementation((file, synchronous) => {
    const connection = actual(file, synchronous);
    opened.push(connection);
    return connection;
  }));
  return opened;
}

afterEach(() => {
  for (const spy of connectionSpies.splice(0)) spy.mockRestore();
});

/** A fixture script running in its own Node process, whose stdout lines the test can wait for. */
export interface Child {
  readonly process: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with the first line (already printed or to come) that matches. */
  waitForLine(match: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** SIGKILL: no cleanup code runs in the child. */
  kill(): Promise<void>;
}

/** Options of {@link spawnFixture}. */
export interface SpawnFixtureOptions {
  /**
   * Runs the fixture under `ulimit -f` (RLIMIT_FSIZE) of this many KiB: a write that would grow any
   * file past it fails with EFBIG, as on a file system that refuses to grow a file.
   */
  fileSizeLimitKiB?: number;
}

/**
 * tsx's loader for `node --import`, as an absolute file URL: a bare `--import tsx` is resolved from
 * the child's working folder, and fails from any folder outside this checkout.
 */
export const tsxLoader = pathToFileURL(require.resolve('tsx')).href;

/** Runs `__tests__/fixtures/<name>.ts` in a new Node process (TypeScript through tsx). */
export function spawnFixture(name: string, args: string[] = [], options: SpawnFixtureOptions = {}): Child {
  const file = path.join(__dirname, 'fixtures', `${name}.ts`);
  const command = [process.execPath, '--import', tsxLoader, file, ...args];
  // bash sets the limit, then `exec` puts Node in its place: the child's pid is Node's.
  const [program, ...programArgs] = options.fileSizeLimitKiB === undefined
    ? command
    : ['bash', '-c', 'ulimit -f "$1" && shift && exec "$@"', 'bash', String(options.fileSizeLimitKiB), ...command];
  const child = spawn(program!, programArgs, {
    cwd: path.join(__dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiting = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiting]) {
      if (waiter.test(line)) {
        waiting.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => setImmediate(() => resolve({ code, signal, stderr })));
  });
  const matches = (match: string | RegExp) => (line: string) => (typeof match === 'string' ? line === match : match.test(line));
  return {
    process: child,
    lines,
    exited,
    waitForLine(match, timeoutMs = 20_000) {
      const test = matches(match);
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const waiter = {
          test,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiting.delete(waiter);
          reject(new Error(`Fixture ${name} did not print ${String(match)} within ${timeoutMs} ms. stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        waiting.add(waiter);
        exited.then(() => {
          if (!waiting.has(waiter)) return;
          waiting.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`Fixture ${name} exited before printing ${String(match)}. stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        });
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Lines appended to a side-effect log file (one per real execution of a step). */
export function readLog(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.length > 0);
}

/** Resolves after `ms` real milliseconds. Only for measuring real elapsed time in kill tests. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
