// PostgreSQL for tests: each test takes databases of its own on the run's server (started by
// global/temp-setup.js, or the server DURABLITE_TEST_POSTGRES_URL names), dropped after the test.
//
// A database per test, not a schema: LISTEN/NOTIFY channels and advisory locks belong to a database,
// so engines of tests running in parallel workers can neither hear each other's notifications nor
// wait on each other's locks, and every test can use the default schema name, as an application
// does. Creating one costs a few tens of milliseconds.
import crypto from 'node:crypto';
import pg from 'pg';
import { openPostgresDatabase, type PostgresDatabase, type PostgresOptions } from '../lib/postgres/database';

const createdDatabases: string[] = [];
const openedDatabases: PostgresDatabase[] = [];

/** A database of one test, on the run's server. */
export interface TestPostgresDatabase {
  /** Its name, e.g. `durablite_test_3f2a9c81d0e4`. */
  readonly name: string;
  /** A URL that connects to it, with the server's user and password. */
  readonly url: string;
}

/** The URL of the run's server (its `postgres` database), as the global setup exported it. */
export function testPostgresServerUrl(): string {
  const url = process.env.DURABLITE_TEST_POSTGRES_URL;
  if (url === undefined || url === '') {
    throw new Error('DURABLITE_TEST_POSTGRES_URL is not set: run the tests with jest, whose global setup (__tests__/global/temp-setup.js) starts the server.');
  }
  return url;
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs `statement` on the server's maintenance database, on a connection of its own. */
async function onServer(statement: string): Promise<void> {
  await withClient(testPostgresServerUrl(), (client) => client.query(statement));
}

/**
 * Creates an empty database for the running test and returns where it is. It is dropped after the
 * test, with any connection to it the test left open (close pools anyway: a pool whose connections
 * are cut reports errors).
 *
 * @example
 * const { url } = await createTestDatabase();
 * const database = await openTestPostgres(url);
 */
export async function createTestDatabase(): Promise<TestPostgresDatabase> {
  const name = `durablite_test_${crypto.randomBytes(6).toString('hex')}`;
  // template0: nothing that was added to template1 of a server of your own; FILE_COPY: several
  // times faster than the default strategy for a small database.
  await onServer(`CREATE DATABASE ${name} TEMPLATE template0 STRATEGY FILE_COPY`);
  createdDatabases.push(name);
  return { name, url: withDatabase(testPostgresServerUrl(), name) };
}

/** Opens durablite's PostgreSQL database at `url`, closed after the test if the test did not. */
export async function openTestPostgres(url: string, options: PostgresOptions = {}): Promise<PostgresDatabase> {
  const database = await openPostgresDatabase(url, options);
  openedDatabases.push(database);
  return database;
}

/** Runs `action` with a plain client of its own on `url` (no schema set), and closes it. */
export async function withClient<T>(url: string, action: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'durablite tests' });
  await client.connect();
  try {
    return await action(client);
  } finally {
    await client.end();
  }
}

const beforeDropping: (() => Promise<void>)[] = [];

/**
 * Runs `cleanup` after each test, before the test's databases are dropped: what still connects to
 * them (an engine the test left open) closes first, rather than have its connections cut. A failure
 * of it fails the test, once the databases are dropped.
 */
export function beforeDroppingDatabases(cleanup: () => Promise<void>): void {
  beforeDropping.push(cleanup);
}

afterEach(async () => {
  let failure: unknown;
  for (const cleanup of beforeDropping) {
    try {
      await cleanup();
    } catch (error) {
      failure ??= error;
    }
  }
  await Promise.all(openedDatabases.splice(0).map((database) => database.close()));
  for (const name of createdDatabases.splice(0)) await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  if (failure !== undefined) throw failure;
});

/** Drops a database of {@link createTestDatabase} before the end of the test (one of many the test goes through). */
export async function dropTestDatabase(database: TestPostgresDatabase): Promise<void> {
  await onServer(`DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`);
  const index = createdDatabases.indexOf(database.name);
  if (index >= 0) createdDatabases.splice(index, 1);
}
