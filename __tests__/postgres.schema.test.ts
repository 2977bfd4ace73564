// The PostgreSQL store's schema and how a database is opened: migrations applied once, in one
// transaction, however many openers race; a newer schema refused untouched; schemas kept apart; and
// every way of failing to connect a DatabaseOpenError that never shows the password.
import net from 'node:net';
import type pg from 'pg';
import { DatabaseOpenError, DurabliteError, SchemaVersionError } from '../lib';
import { describeUrl, isPostgresUrl, MIGRATION_LOCK_KEY, openPostgresDatabase } from '../lib/postgres/database';
import { SCHEMA_VERSION } from '../lib/postgres/migrations';
import { createTestDatabase, openTestPostgres, testPostgresServerUrl, withClient, withDatabase } from './postgres-helpers';

/**
 * What a review should see change: each table's columns, constraints and indexes, from the catalog.
 * NOT NULL shows in the columns (PostgreSQL 18 also lists it as a constraint; older servers do not).
 */
async function schemaSnapshot(client: pg.Client, schema: string): Promise<Record<string, { columns: string[]; constraints: string[]; indexes: string[] }>> {
  const snapshot: Record<string, { columns: string[]; constraints: string[]; indexes: string[] }> = {};
  const tables = await client.query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' ORDER BY c.relname",
    [schema],
  );
  for (const { name } of tables.rows) {
    const table = `${schema}.${name}`;
    const columns = await client.query<{ line: string }>(
      `SELECT concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod),
                        CASE WHEN a.attcollation <> t.typcollation THEN 'COLLATE ' || quote_ident(co.collname) END,
                        CASE WHEN a.attnotnull THEN 'NOT NULL' END,
                        'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)) AS line
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_collation co ON co.oid = a.attcollation
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
      [table],
    );
    const constraints = await client.query<{ line: string }>(
      "SELECT conname || ': ' || pg_get_constraintdef(oid) AS line FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'n' ORDER BY conname",
      [table],
    );
    const indexes = await client.query<{ line: string }>(
      'SELECT indexdef AS line FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname',
      [schema, name],
    );
    const lines = (result: pg.QueryResult<{ line: string }>): string[] => result.rows.map((row) => row.line);
    snapshot[name] = { columns: lines(columns), constraints: lines(constraints), indexes: lines(indexes) };
  }
  return snapshot;
}

/**
 * The schema's functions (the recording functions of migration 4), each as its signature and an MD5
 * of its body: a body edited in place, rather than by a new migration, shows in review.
 */
async function functionsOf(client: pg.Client, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ line: string }>(
    `SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') -> ' || pg_get_function_result(p.oid) || ' [' || md5(p.prosrc) || ']' AS line
     FROM pg_proc p WHERE p.pronamespace = $1::regnamespace ORDER BY p.proname`,
    [schema],
  );
  return rows.map((row) => row.line);
}

/** The version row and the transaction that last wrote it: a write changes its xmin. */
async function versionRow(client: pg.Client, schema: string): Promise<{ version: number; writtenBy: string }> {
  const { rows: [row] } = await client.query<{ version: number; writtenBy: string }>(
    `SELECT version, xmin::text AS "writtenBy" FROM ${schema}.schema_version`,
  );
  return row!;
}

async function schemasOf(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    "SELECT nspname AS name FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public') ORDER BY nspname",
  );
  return rows.map((row) => row.name);
}

async function openFailure(url: string, options: Parameters<typeof openPostgresDatabase>[1] = {}): Promise<unknown> {
  return openPostgresDatabase(url, options).then(
    async (database) => {
      await database.close();
      throw new Error('Expected openPostgresDatabase to fail');
    },
    (error: unknown) => error,
  );
}

/** Everything an error shows: its message, its fields and its cause's, as text. */
function shownBy(error: unknown): string {
  const { cause, ...fields } = error as Error & Record<string, unknown>;
  return JSON.stringify({ message: (error as Error).message, fields, cause: String(cause), causeFields: { ...(cause as object) } });
}

/** Resolves once `count` sessions wait for the migration lock of `schema`. */
async function lockWaiters(client: pg.Client, schema: string, count: number): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const { rows: [row] } = await client.query<{ waiting: number }>(
      `SELECT count(*) AS waiting FROM pg_locks
       WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = hashtext($2)::oid AND objsubid = 2`,
      [MIGRATION_LOCK_KEY, schema],
    );
    if (Number(row!.waiting) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${count} openers never waited on the migration lock`);
}

/** A TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const PASSWORD = 'Sw0rdf1sh-only-in-the-url';

describe('the schema', () => {
  test('a new database gets the latest schema in the schema "durablite", and nothing elsewhere', async () => {
    const { url } = await createTestDatabase();
    const database = await openTestPostgres(url);
    expect(database.schema).toBe('durablite');
    await withClient(url, async (client) => {
      expect(await schemaSnapshot(client, 'durablite')).toMatchSnapshot();
      expect(await functionsOf(client, 'durablite')).toMatchSnapshot('functions');
      expect(await functionsOf(client, 'public')).toEqual([]);
      expect((await versionRow(client, 'durablite')).version).toBe(SCHEMA_VERSION);
      expect(await schemasOf(client)).toEqual(['durablite']);
      expect(await schemaSnapshot(client, 'public')).toEqual({});
    });
    expect(SCHEMA_VERSION).toMatchSnapshot('SCHEMA_VERSION');
  });

  test('the whole schema is created in one transaction', async () => {
    const { url } = await createTestDatabase();
    await openTestPostgres(url);
    await withClient(url, async (client) => {
      const { rows } = await client.query(
        "SELECT DISTINCT xmin::text FROM pg_class WHERE relnamespace = 'durablite'::regnamespace",
      );
      expect(rows).toHaveLength(1);
    });
  });

  test("the pool's connections work in the schema and read BIGINT as numbers", async () => {
    const { url } = await createTestDatabase();
    const database = await openTestPostgres(url);
    await database.pool.query(
      `INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('w', 'x', 'PENDING', '[]', $1, $1)`,
      [1_767_225_600_123],
    );
    const { rows: [row] } = await database.pool.query('SELECT current_schema() AS schema, created_at, workflow_id, count(*) OVER () AS count FROM workflows');
    expect(row).toEqual({ schema: 'durablite', created_at: 1_767_225_600_123, workflow_id: 1, count: 1 });
  });

  test('opening it again migrates nothing and keeps its data', async () => {
    const { url } = await createTestDatabase();
    await (await openPostgresDatabase(url)).close();
    const before = await withClient(url, async (client) => {
      await client.query(`INSERT INTO durablite.workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('kept', 'x', 'SUCCESS', '[]', 1, 1)`);
      return { version: await versionRow(client, 'durablite'), schema: await schemaSnapshot(client, 'durablite') };
    });

    const database = await openTestPostgres(url);
    const { rows } = await database.pool.query('SELECT workflow_uuid, status FROM workflows');
    expect(rows).toEqual([{ workflow_uuid: 'kept', status: 'SUCCESS' }]);
    await withClient(url, async (client) => {
      expect(await versionRow(client, 'durablite')).toEqual(before.version);
      expect(await schemaSnapshot(client, 'durablite')).toEqual(before.schema);
    });
  });

  test('several openers of a new database at once all succeed, and the first one migrates it for all', async () => {
    const { url } = await createTestDatabase();
    await withClient(url, async (holder) => {
      // Every opener reads version 0, then queues on the lock this transaction holds.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_KEY, 'durablite']);
      const openers = Array.from({ length: 4 }, () => openTestPostgres(url));
      await lockWaiters(holder, 'durablite', 4);
      await holder.query('COMMIT');
      await Promise.all(openers);

      expect((await versionRow(holder, 'durablite')).version).toBe(SCHEMA_VERSION);
      const { rows } = await holder.query("SELECT DISTINCT xmin::text FROM pg_class WHERE relnamespace = 'durablite'::regnamespace");
      expect(rows).toHaveLength(1);
    });
  });

  test('a custom schema holds its own tables, apart from another schema in the same database', async () => {
    const { url } = await createTestDatabase();
    const billing = await openTestPostgres(url, { schema: 'billing' });
    const shipping = await openTestPostgres(url, { schema: 'shipping' });
    await billing.pool.query(`INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('invoice', 'x', 'PENDING', '[]', 1, 1)`);

    expect((await billing.pool.query('SELECT workflow_uuid FROM workflows')).rows).toEqual([{ workflow_uuid: 'invoice' }]);
    expect((await shipping.pool.query('SELECT workflow_uuid FROM workflows')).rows).toEqual([]);
    await withClient(url, async (client) => {
      expect(await schemasOf(client)).toEqual(['billing', 'shipping']);
      const rename = (snapshot: object, from: string): string => JSON.stringify(snapshot).replaceAll(`${from}.`, 'durablite.');
      expect(rename(await schemaSnapshot(client, 'billing'), 'billing')).toEqual(rename(await schemaSnapshot(client, 'shipping'), 'shipping'));
    });
  });

  test('a reserved word is a schema name like any other', async () => {
    const { url } = await createTestDatabase();
    const database = await openTestPostgres(url, { schema: 'order' });
    expect((await database.pool.query('SELECT current_schema() AS schema')).rows).toEqual([{ schema: 'order' }]);
  });
});

describe('a newer schema', () => {
  test('is refused with SchemaVersionError and left unmodified', async () => {
    const { url } = await createTestDatabase();
    await (await openPostgresDatabase(url)).close();
    const before = await withClient(url, async (client) => {
      await client.query('UPDATE durablite.schema_version SET version = $1', [SCHEMA_VERSION + 1]);
      return { version: await versionRow(client, 'durablite'), schema: await schemaSnapshot(client, 'durablite') };
    });

    const error = await openFailure(url);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error).toBeInstanceOf(DurabliteError);
    expect(error).toMatchObject({ code: 'SCHEMA_TOO_NEW', foundVersion: SCHEMA_VERSION + 1, supportedVersion: SCHEMA_VERSION });
    expect((error as Error).message).toContain(`${describeUrl(url)}, schema durablite`);
    await withClient(url, async (client) => {
      expect(await versionRow(client, 'durablite')).toEqual(before.version);
      expect(await schemaSnapshot(client, 'durablite')).toEqual(before.schema);
    });
  });

  test('written by a newer durablite while an opener waited for the lock is refused too, and left unmodified', async () => {
    const { url } = await createTestDatabase();
    await withClient(url, async (newer) => {
      await newer.query('BEGIN');
      await newer.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_KEY, 'durablite']);
      const opening = openFailure(url);
      await lockWaiters(newer, 'durablite', 1);
      await newer.query('CREATE SCHEMA durablite');
      await newer.query('CREATE TABLE durablite.schema_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)');
      await newer.query('INSERT INTO durablite.schema_version VALUES (1, $1)', [SCHEMA_VERSION + 5]);
      await newer.query('COMMIT');
      const before = await versionRow(newer, 'durablite');

      expect(await opening).toMatchObject({ code: 'SCHEMA_TOO_NEW', foundVersion: SCHEMA_VERSION + 5 });
      expect(await versionRow(newer, 'durablite')).toEqual(before);
      expect(Object.keys(await schemaSnapshot(newer, 'durablite'))).toEqual(['schema_version']);
    });
  });
});

describe('a schema of the same name that durablite did not create', () => {
  test('is refused with DatabaseOpenError naming the schema option, and left as it was', async () => {
    const { url } = await createTestDatabase();
    const before = await withClient(url, async (client) => {
      await client.query('CREATE SCHEMA durablite');
      await client.query('CREATE TABLE durablite.workflows (id INTEGER)');
      return schemaSnapshot(client, 'durablite');
    });

    const error = await openFailure(url);
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect((error as Error).message).toMatch(/relation "workflows" already exists: the schema "durablite" holds tables durablite did not create\. Choose another schema \(the `schema` option\)/);
    await withClient(url, async (client) => expect(await schemaSnapshot(client, 'durablite')).toEqual(before));
  });
});

describe('options and URLs', () => {
  test.each([
    ['Billing'], ['my-schema'], ['two words'], ['1st'], [''], ['x'.repeat(64)], ['pg_durablite'],
    ['durablite; DROP TABLE workflows'], ['"quoted"'], [42], [null],
  ])('the schema %p is refused with a TypeError naming the option, before connecting', async (schema) => {
    const unreachable = `postgres://app:${PASSWORD}@127.0.0.1:${await closedPort()}/app`;
    const error = await openFailure(unreachable, { schema: schema as string });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^Expected `schema` to be a plain lowercase identifier/);
  });

  test('the longest schema name PostgreSQL allows (63 characters) is accepted', async () => {
    const { url } = await createTestDatabase();
    const schema = `s${'x'.repeat(62)}`;
    expect((await openTestPostgres(url, { schema })).schema).toBe(schema);
  });

  test.each([
    ['postgres://app@db/app', true], ['postgresql://db/app', true], ['POSTGRES://db/app', true],
    ['app.db', false], [':memory:', false], ['postgres.db', false], ['./postgres://x', false], ['mysql://db/app', false],
  ])('isPostgresUrl(%p) is %p', (database, expected) => {
    expect(isPostgresUrl(database)).toBe(expected);
  });

  test.each([
    ['postgres://app:secret@db.internal:5432/app', 'postgres://app@db.internal:5432/app'],
    ['postgres://app:se@c/ret@db/app?sslmode=require', 'postgres://app@db/app'],
    ['postgres://app@db/app?password=secret', 'postgres://app@db/app'],
    ['postgresql://:secret@db/app', 'postgresql://db/app'],
    ['postgres://db/app', 'postgres://db/app'],
  ])('describeUrl(%p) shows %p, never a password', (url, shown) => {
    expect(describeUrl(url)).toBe(shown);
  });
});

describe('failing to connect', () => {
  test('an unreachable server fails at once with DatabaseOpenError, without the password', async () => {
    const port = await closedPort();
    const url = `postgres://app:${PASSWORD}@127.0.0.1:${port}/app`;
    const started = performance.now();
    const error = await openFailure(url);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect(error).toMatchObject({ code: 'DATABASE_OPEN_FAILED', database: `postgres://app@127.0.0.1:${port}/app` });
    expect((error as Error).message).toMatch(/no server accepts connections there .*ECONNREFUSED.*Start PostgreSQL/);
    expect(shownBy(error)).not.toContain(PASSWORD);
  });

  test('a server that never answers fails with DatabaseOpenError once connectTimeoutMs has passed', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket)); // accepts, then says nothing
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const started = performance.now();
      const error = await openFailure(`postgres://app:${PASSWORD}@127.0.0.1:${port}/app`, { connectTimeoutMs: 300 });
      const elapsedMs = performance.now() - started;
      expect(elapsedMs).toBeGreaterThanOrEqual(250);
      expect(elapsedMs).toBeLessThan(3_000);
      expect(error).toBeInstanceOf(DatabaseOpenError);
      expect((error as Error).message).toMatch(/did not answer within 300 ms/);
      expect(shownBy(error)).not.toContain(PASSWORD);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a wrong password fails with DatabaseOpenError, without the password', async () => {
    const { url } = await createTestDatabase();
    const wrong = new URL(url);
    wrong.password = PASSWORD;
    const error = await openFailure(wrong.toString());
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect((error as Error).message).toMatch(/refused the credentials \(password authentication failed for user "postgres"\)/);
    expect(shownBy(error)).not.toContain(PASSWORD);
    expect(shownBy(error)).not.toContain(new URL(url).password);
  });

  test('a database that does not exist fails with DatabaseOpenError saying so', async () => {
    const url = withDatabase(testPostgresServerUrl(), 'durablite_test_missing');
    const error = await openFailure(url);
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect((error as Error).message).toMatch(/database "durablite_test_missing" does not exist\. Create it first/);
    expect(shownBy(error)).not.toContain(new URL(url).password);
  });

  test('a URL that is not a postgres:// URL is refused with a TypeError, without its password', async () => {
    const error = await openFailure(`mysql://app:${PASSWORD}@db/app`);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^Expected `database` to be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(shownBy(error)).not.toContain(PASSWORD);
  });
});
