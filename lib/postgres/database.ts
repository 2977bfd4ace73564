// Opens a PostgreSQL database for durablite: a pool whose connections work in durablite's schema, and
// the schema brought up to date, once, however many engines open it at the same moment. A schema
// from a newer durablite is refused before anything is written; no message ever shows the password.
import pg from 'pg';
import { DatabaseOpenError, SchemaVersionError } from '../errors';
import { positiveInteger, typeError } from '../validate';
import { migrations, SCHEMA_VERSION } from './migrations';

/** The schema durablite's tables live in when none is given. */
export const DEFAULT_SCHEMA = 'durablite';
/** How long a connection may take before the open fails: long enough for a server across a network. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How long an Engine's heartbeat holds its workflows, in seconds (see PostgresOptions.leaseSeconds). */
export const DEFAULT_LEASE_SECONDS = 5;
/** The most connections one pool opens (pg's own default). */
export const DEFAULT_MAX_CONNECTIONS = 10;

/**
 * The key of the advisory lock a migration holds, with `hashtext(schema)` as the second key: openers
 * of one schema migrate one after the other, and the first one's work is the others' no-op.
 */
export const MIGRATION_LOCK_KEY = 0x64757261; // "dura"

/** Options of {@link openPostgresDatabase}. */
export interface PostgresOptions {
  /**
   * The schema that holds durablite's tables, created on first open: a plain lowercase identifier,
   * so that it reads the same unquoted in psql. Several schemas keep several durablite databases
   * apart in one PostgreSQL database.
   * @default 'durablite'
   */
  schema?: string;
  /** How long to wait for the server to accept a connection, in ms. @default 10000 */
  connectTimeoutMs?: number;
  /** The most connections the pool opens. @default 10 */
  maxConnections?: number;
  /**
   * An Engine's name among the engines sharing the schema (its row of `executors`; the CLI and
   * error messages show it). Give a stable one per deployment slot (e.g. the pod's name) so that a
   * restarted engine takes its own workflows back at once, without waiting for their lease.
   * @default `<hostname>:<pid>:<random>`
   */
  executorId?: string;
  /**
   * How long an Engine's heartbeat (every second) holds its workflows: once it is older, another
   * engine takes them over. Shorter: a dead engine's workflows move sooner; longer: a stalled (not
   * dead) engine keeps them through a longer pause.
   * @default 5
   */
  leaseSeconds?: number;
}

/** The options, checked and with their defaults. */
export interface ResolvedPostgresOptions {
  readonly schema: string;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** undefined: the engine makes one (see PostgresOptions.executorId). */
  readonly executorId: string | undefined;
  readonly leaseMs: number;
}

/** Whether `database` names a PostgreSQL database (a postgres:// or postgresql:// URL) rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(database);
}

/**
 * A letter or underscore, then letters, digits or underscores, 63 in all at most (PostgreSQL's limit),
 * all lowercase (an unquoted name folds to lowercase). pg_ starts the system's schemas only.
 */
const PLAIN_IDENTIFIER = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/;

/** Checks the options and fills in the defaults. Throws TypeError/RangeError naming a bad option. */
export function resolvePostgresOptions(options: PostgresOptions = {}): ResolvedPostgresOptions {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  const schema = options.schema === undefined ? DEFAULT_SCHEMA : options.schema;
  if (typeof schema !== 'string' || !PLAIN_IDENTIFIER.test(schema)) {
    throw typeError('schema', 'a plain lowercase identifier (a letter or _, then letters, digits or _, at most 63 characters, not starting with pg_)', schema);
  }
  const { executorId, leaseSeconds } = options;
  if (executorId !== undefined && (typeof executorId !== 'string' || executorId.length === 0 || executorId.length > 200 || executorId.includes('\u0000'))) {
    throw typeError('executorId', 'a non-empty string of at most 200 characters, without NUL', executorId);
  }
  if (leaseSeconds !== undefined && (typeof leaseSeconds !== 'number' || !Number.isFinite(leaseSeconds) || leaseSeconds < 2 || leaseSeconds > 3600)) {
    throw typeError('leaseSeconds', 'a number of seconds from 2 to 3600 (the heartbeat beats every second)', leaseSeconds);
  }
  return Object.freeze({
    schema,
    connectTimeoutMs: options.connectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : positiveInteger('connectTimeoutMs', options.connectTimeoutMs),
    maxConnections: options.maxConnections === undefined ? DEFAULT_MAX_CONNECTIONS : positiveInteger('maxConnections', options.maxConnections),
    executorId,
    leaseMs: leaseSeconds === undefined ? DEFAULT_LEASE_SECONDS * 1000 : Math.round(leaseSeconds * 1000),
  });
}

/** `name` quoted for SQL. Only checked identifiers come here; the quotes keep reserved words usable. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The URL as messages show it: scheme, user, host, port and database, without the password or the
 * query (which may carry one too). Works on any string, a URL too broken to parse included.
 */
export function describeUrl(url: string): string {
  const [withoutQuery = ''] = url.split(/[?#]/, 1);
  const [, scheme = '', rest = ''] = /^([a-z][a-z0-9+.-]*:\/\/)?(.*)$/is.exec(withoutQuery)!;
  // The credentials end at the last @: a password may hold @ or / that was not percent-encoded.
  const at = rest.lastIndexOf('@');
  if (at === -1) return withoutQuery;
  const [user = ''] = rest.slice(0, at).split(':', 1);
  return `${scheme}${user === '' ? '' : `${user}@`}${rest.slice(at + 1)}`;
}

/**
 * BIGINT as a JavaScript number rather than pg's default string: durablite's BIGINTs are epoch
 * milliseconds, ids and counts, all far below 2^53.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** An open PostgreSQL database: the pool, whose every connection works in `schema`. */
export class PostgresDatabase {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** The URL without its password, for messages (see {@link describeUrl}). */
  readonly name: string;
  readonly #url: string;
  readonly #connectTimeoutMs: number;
  #closing: Promise<void> | undefined;

  constructor(pool: pg.Pool, schema: string, name: string, url: string, connectTimeoutMs: number) {
    this.pool = pool;
    this.schema = schema;
    this.name = name;
    this.#url = url;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  /**
   * A connection of its own, outside the pool, working in the schema: for what must not queue behind
   * the pool's writes (an engine's heartbeat). Unref'd: it keeps no process alive. The caller ends it.
   * `queryTimeoutMs`: each query rejects once it waited that long for its answer.
   * @throws what pg's connect or the server throws.
   */
  async connectAlone(applicationName: string, queryTimeoutMs?: number): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: this.#connectTimeoutMs,
      application_name: applicationName,
      types,
      keepAlive: true,
      // A query that gets no answer in time (a connection gone half-open, a lock that is not let go)
      // rejects instead of hanging, and the caller drops the connection.
      ...(queryTimeoutMs === undefined ? {} : { query_timeout: queryTimeoutMs }),
    }) as pg.Client & { unref(): void };
    // An 'error' event with no listener would end the process; the next query rejects instead.
    client.on('error', () => {});
    // pg's Client has unref() (for its socket) since 8.x; its type declarations lag behind.
    client.unref();
    try {
      await client.connect();
      await client.query(`SET search_path TO ${quoteIdentifier(this.schema)}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return client;
  }

  /** Closes every connection of the pool once its clients are released. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.pool.end();
    return this.#closing;
  }
}

function createPool(url: string, options: ResolvedPostgresOptions, readOnly: boolean): pg.Pool {
  // A read-only open's connections refuse every write on the server too, whatever the code above them asks.
  const searchPath = `SET search_path TO ${quoteIdentifier(options.schema)}${readOnly ? '; SET default_transaction_read_only = on' : ''}`;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections,
    connectionTimeoutMillis: options.connectTimeoutMs,
    application_name: 'durablite',
    types,
    // Set on each new connection, before its first query: a search_path in the URL's options could
    // otherwise point the store at another schema's tables.
    onConnect: async (client) => {
      await client.query(searchPath);
    },
  });
  // An idle connection that breaks (the server restarts, a network cut) is dropped from the pool,
  // and the next query opens a new one. Without a listener, the pool's 'error' event would crash the process.
  pool.on('error', () => {});
  // Each connection keeps a listener of its own for good: the pool hands an idle connection to a
  // waiting caller from inside another connection's event, before that caller can add its listener,
  // and an 'error' the server sends just then (it ended the connection) must not crash the process.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/** Explains why `name` could not be opened, from pg's or the server's error. */
function openFailure(name: string, options: ResolvedPostgresOptions, error: unknown): DatabaseOpenError {
  const { code, message = String(error) } = error as { code?: string; message?: string };
  switch (code) {
    case 'ECONNREFUSED':
      return new DatabaseOpenError(name, `no server accepts connections there (${message}). Start PostgreSQL, or check the host and port.`, error);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new DatabaseOpenError(name, `the host cannot be found (${message}). Check the host in the URL.`, error);
    case '28P01':
    case '28000':
      return new DatabaseOpenError(name, `the server refused the credentials (${message}). Check the user and password.`, error);
    case '3D000':
      return new DatabaseOpenError(name, `${message}. Create it first (CREATE DATABASE), or check the URL.`, error);
    case '42501':
      return new DatabaseOpenError(name, `${message}. The first open creates the schema "${options.schema}" and its tables: grant the user CREATE on the database, or create the schema for it.`, error);
    case '42P07':
      return new DatabaseOpenError(name, `${message}: the schema "${options.schema}" holds tables durablite did not create. Choose another schema (the \`schema\` option).`, error);
  }
  if (/timeout/i.test(message)) {
    return new DatabaseOpenError(name, `the server did not answer within ${options.connectTimeoutMs} ms (${message}). Check that the host and port are PostgreSQL's and that it is up.`, error);
  }
  return new DatabaseOpenError(name, message, error);
}

/**
 * The schema's version: 0 when it has no durablite tables yet. Reads only. The catalog is read with
 * SQL, whose snapshot is the statement's, rather than with to_regclass, whose cached lookups may still
 * miss a schema another session created while this one waited for the lock.
 */
async function readSchemaVersion(client: pg.PoolClient, schema: string): Promise<number> {
  const { rows: [found] } = await client.query<{ present: boolean }>(
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'schema_version') AS present",
    [schema],
  );
  if (!found?.present) return 0;
  const { rows: [row] } = await client.query<{ version: number }>(`SELECT version FROM ${quoteIdentifier(schema)}.schema_version WHERE id = 1`);
  return row?.version ?? 0;
}

/**
 * Brings the schema to SCHEMA_VERSION in one transaction under the migration lock, re-reading the
 * version once the lock is held (another opener may have migrated meanwhile). A schema at the current
 * version costs two reads and no lock; a newer one is refused before any write.
 */
async function migrate(client: pg.PoolClient, schema: string, description: string): Promise<void> {
  const refuseNewer = (version: number): void => {
    if (version > SCHEMA_VERSION) throw new SchemaVersionError(description, version, SCHEMA_VERSION);
  };
  const before = await readSchemaVersion(client, schema);
  refuseNewer(before);
  if (before === SCHEMA_VERSION) return;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_KEY, schema]);
    const found = await readSchemaVersion(client, schema);
    refuseNewer(found);
    if (found < SCHEMA_VERSION) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
      await client.query(`SET LOCAL search_path TO ${quoteIdentifier(schema)}`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)');
      for (let version = found; version < SCHEMA_VERSION; version++) await client.query(migrations[version]!);
      await client.query(
        'INSERT INTO schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version',
        [SCHEMA_VERSION],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * Connects to the PostgreSQL database of `url` and brings durablite's schema up to date; with
 * `readOnly`, only checks that the schema is durablite's at this version, and every connection
 * refuses writes (default_transaction_read_only).
 *
 * @throws TypeError/RangeError for a bad option, before connecting.
 * @throws DatabaseOpenError when the server cannot be reached in time, refuses the credentials, has
 *   no such database, or the schema cannot be created; with `readOnly`, when the schema holds no
 *   durablite tables or an older version of them. The message names the URL without its password.
 * @throws SchemaVersionError when the schema was written by a newer durablite; it is left unmodified.
 * @example
 * const database = await openPostgresDatabase('postgres://app@db.internal/app', { schema: 'billing' });
 * await database.pool.query('SELECT count(*) FROM workflows');
 * await database.close();
 */
export async function openPostgresDatabase(url: string, options: PostgresOptions = {}, readOnly = false): Promise<PostgresDatabase> {
  if (typeof url !== 'string' || !isPostgresUrl(url)) throw typeError('database', 'a postgres:// or postgresql:// URL', typeof url === 'string' ? describeUrl(url) : url);
  const resolved = resolvePostgresOptions(options);
  const name = describeUrl(url);
  const pool = createPool(url, resolved, readOnly);
  try {
    const client = await pool.connect();
    try {
      const description = `${name}, schema ${resolved.schema}`;
      if (readOnly) await checkSchema(client, resolved.schema, description);
      else await migrate(client, resolved.schema, description);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    if (error instanceof SchemaVersionError || error instanceof DatabaseOpenError) throw error;
    throw openFailure(name, resolved, error);
  }
  return new PostgresDatabase(pool, resolved.schema, name, url, resolved.connectTimeoutMs);
}

/** A read-only open's check: the schema holds durablite's tables at this version (it writes nothing to make it so). */
async function checkSchema(client: pg.PoolClient, schema: string, description: string): Promise<void> {
  const version = await readSchemaVersion(client, schema);
  if (version > SCHEMA_VERSION) throw new SchemaVersionError(description, version, SCHEMA_VERSION);
  if (version === 0) {
    throw new DatabaseOpenError(description, `the schema "${schema}" holds no durablite tables. A read-only open creates nothing: check the URL and the \`schema\` option, or open an Engine on it first.`);
  }
  if (version < SCHEMA_VERSION) {
    throw new DatabaseOpenError(description, `the schema "${schema}" is at durablite's version ${version}, older than this durablite's ${SCHEMA_VERSION}. A read-only open upgrades nothing: open an Engine (or a Client that may write) of this version on it first.`);
  }
}
