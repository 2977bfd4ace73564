import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseOpenError, DurabliteError, Engine, SchemaVersionError } from '../lib';
import { openDatabase } from '../lib/store/database';
import { migrations, SCHEMA_VERSION } from '../lib/store/migrations';
import { openTestEngine, spawnFixture, tempDatabasePath, watchOpenedConnections } from './helpers';

/** Every file in the database's folder with its bytes, to prove a refused open changed nothing. */
function folderSnapshot(database: string): Record<string, string> {
  const folder = path.dirname(database);
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(folder).sort()) files[name] = fs.readFileSync(path.join(folder, name)).toString('base64');
  return files;
}

async function openFailure(database: string): Promise<unknown> {
  return Engine.open({ database, onWarning: () => {} }).then(
    async (engine) => {
      await engine.close();
      throw new Error('Expected Engine.open to refuse the database');
    },
    (error: unknown) => error,
  );
}

describe('the schema', () => {
  test('a fresh database has the current schema and user_version', () => {
    const database = tempDatabasePath();
    const db = openDatabase(database, 'FULL');
    try {
      const schema = db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY name').all();
      expect(schema).toMatchSnapshot();
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toMatchSnapshot('SCHEMA_VERSION');
    } finally {
      db.close();
    }
  });

  test('opening a database at the current version again migrates nothing and keeps its data', async () => {
    const database = tempDatabasePath();
    openDatabase(database, 'FULL').close();
    const writer = new Database(database);
    writer.prepare(`INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('kept', 'x', 'SUCCESS', '[]', 1, 1)`).run();
    writer.close();

    const engine = await openTestEngine({ database });
    expect(await engine.retrieveWorkflow('kept').getStatus()).toMatchObject({ status: 'SUCCESS', createdAt: 1 });
    await engine.close();
  });

  test('a database of schema version 1 is upgraded with its workflows, events and messages kept', async () => {
    const database = tempDatabasePath();
    const old = new Database(database);
    old.exec(migrations[0]!);
    old.pragma('user_version = 1');
    old.prepare(`INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('old', 'x', 'SUCCESS', '[]', 1, 1)`).run();
    old.prepare(`INSERT INTO events (workflow_uuid, key, value, created_at) VALUES ('old', 'k', '"kept"', 1)`).run();
    old.prepare(`INSERT INTO messages (destination_uuid, topic, message, created_at) VALUES ('old', 't', '"queued"', 1)`).run();
    old.close();

    const engine = await openTestEngine({ database });
    expect(await engine.listEvents('old')).toEqual({ k: 'kept' });
    expect((await engine.listMessages('old')).map((info) => [info.topic, info.message, info.consumed])).toEqual([['t', 'queued', false]]);
    await engine.close();
    const upgraded = new Database(database, { readonly: true });
    try {
      expect(upgraded.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      // An event from before the upgrade counts as older than every message.
      expect(upgraded.prepare('SELECT messages_before FROM events').pluck().get()).toBe(0);
    } finally {
      upgraded.close();
    }
  });

  test('a database of schema version 2 is upgraded to CANCELLED and deadlines with every workflow row, its rowid and its operations kept', async () => {
    const database = tempDatabasePath();
    const old = new Database(database);
    old.exec(migrations[0]!);
    old.exec(migrations[1]!);
    old.pragma('user_version = 2');
    const insert = old.prepare(`INSERT INTO workflows (rowid, workflow_uuid, name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at, updated_at)
      VALUES (?, ?, 'x', ?, '[1]', ?, NULL, ?, ?, ?, ?)`);
    insert.run(7, 'done', 'SUCCESS', '"ok"', null, 0, 1, 2);
    insert.run(42, 'child', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', null, 'done', 10, 3, 4);
    old.prepare(`INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, started_at, completed_at) VALUES ('done', 0, 'step', 's', '"r"', 1, 1)`).run();
    const before = old.prepare('SELECT rowid, * FROM workflows ORDER BY rowid').all();
    old.close();

    const engine = await openTestEngine({ database, recover: false });
    expect(await engine.retrieveWorkflow('done').getResult()).toBe('ok');
    expect((await engine.listOperations('done')).map((operation) => operation.output)).toEqual(['r']);
    await engine.close();
    const upgraded = new Database(database);
    try {
      expect(upgraded.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      // Since migration 5 the rowid is the column workflow_id (AUTOINCREMENT), with the same values.
      const after = upgraded.prepare('SELECT * FROM workflows ORDER BY workflow_id').all() as Record<string, unknown>[];
      expect(after).toEqual((before as Record<string, unknown>[]).map(({ rowid, ...row }) => ({ ...row, workflow_id: rowid, deadline_ms: null })));
      // Ids are never handed out again, even once the newest row is deleted (see changes.ts).
      upgraded.prepare(`DELETE FROM workflows WHERE workflow_id = 42`).run();
      upgraded.prepare(`INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('new', 'x', 'PENDING', '[]', 5, 5)`).run();
      expect(upgraded.prepare(`SELECT workflow_id FROM workflows WHERE workflow_uuid = 'new'`).pluck().get()).toBe(43);
      // The new status is allowed, an unknown one still is not.
      upgraded.prepare(`UPDATE workflows SET status = 'CANCELLED' WHERE workflow_uuid = 'done'`).run();
      expect(() => upgraded.prepare(`UPDATE workflows SET status = 'PAUSED' WHERE workflow_uuid = 'done'`).run()).toThrow(/CHECK/);
      expect(upgraded.prepare(`SELECT name FROM sqlite_master WHERE tbl_name = 'workflows' AND type = 'index' ORDER BY name`).pluck().all())
        .toEqual(['sqlite_autoindex_workflows_1', 'workflows_by_finish', 'workflows_by_parent', 'workflows_by_status']);
    } finally {
      upgraded.close();
    }
  });
});

describe('creating the schema', () => {
  test('several processes opening the same new file at once all succeed and create the schema once', async () => {
    for (let round = 0; round < 2; round++) {
      const database = tempDatabasePath();
      const goFile = `${database}.go`;
      const children = Array.from({ length: 4 }, () => spawnFixture('open-database', [database, goFile]));
      await Promise.all(children.map((child) => child.waitForLine('ready')));
      fs.writeFileSync(goFile, '');
      const outcomes = await Promise.all(children.map((child) => child.waitForLine(/^(opened|failed)/)));
      await Promise.all(children.map((child) => child.exited));
      expect(outcomes).toEqual(['opened', 'opened', 'opened', 'opened']);

      const db = new Database(database, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      db.close();
    }
  }, 60_000);
});

describe('refused databases', () => {
  test('a database from a newer schema version is refused with SchemaVersionError and left unmodified', async () => {
    const database = tempDatabasePath();
    openDatabase(database, 'FULL').close();
    const newer = new Database(database);
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    const before = folderSnapshot(database);

    const error = await openFailure(database);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error).toBeInstanceOf(DurabliteError);
    expect(error).toMatchObject({ code: 'SCHEMA_TOO_NEW', foundVersion: SCHEMA_VERSION + 1, supportedVersion: SCHEMA_VERSION });
    expect((error as Error).message).toContain(database);
    expect(folderSnapshot(database)).toEqual(before);
  });

  test('a newer database in rollback-journal mode is refused without switching it to WAL', async () => {
    const database = tempDatabasePath();
    const newer = new Database(database);
    newer.pragma('journal_mode = DELETE');
    newer.exec('CREATE TABLE from_the_future (id INTEGER PRIMARY KEY)');
    newer.pragma('user_version = 1000');
    newer.close();
    const before = folderSnapshot(database);

    const error = await openFailure(database);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect(error).toMatchObject({ code: 'SCHEMA_TOO_NEW', foundVersion: 1000 });
    expect(folderSnapshot(database)).toEqual(before);
    const check = new Database(database, { readonly: true });
    expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
    check.close();
  });

  test('a file that is not SQLite is refused with DatabaseOpenError and left unmodified', async () => {
    const database = tempDatabasePath();
    fs.writeFileSync(database, 'name,amount\nada,12\n'.repeat(200));
    const before = folderSnapshot(database);

    const error = await openFailure(database);
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect(error).toMatchObject({ code: 'DATABASE_OPEN_FAILED', database });
    expect((error as Error).message).toMatch(/not a SQLite database/);
    expect(folderSnapshot(database)).toEqual(before);
  });

  test('a database in a missing folder is refused with DatabaseOpenError and the folder is not created', async () => {
    const folder = path.join(path.dirname(tempDatabasePath()), 'missing', 'deeper');
    const database = path.join(folder, 'app.db');

    const error = await openFailure(database);
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect(error).toMatchObject({ code: 'DATABASE_OPEN_FAILED', database });
    expect((error as Error).message).toContain(folder);
    expect(fs.existsSync(path.dirname(folder))).toBe(false);
  });
});

describe('pragmas', () => {
  test('synchronous FULL sets PRAGMA synchronous to 2 and NORMAL to 1', () => {
    const database = tempDatabasePath();
    const full = openDatabase(database, 'FULL');
    expect(full.pragma('synchronous', { simple: true })).toBe(2);
    full.close();
    const normal = openDatabase(database, 'NORMAL');
    expect(normal.pragma('synchronous', { simple: true })).toBe(1);
    normal.close();
  });

  test('Engine.open uses synchronous FULL unless told otherwise, and NORMAL when asked', async () => {
    const database = tempDatabasePath();
    // synchronous is a setting of one connection: read on the engine's own.
    const connections = watchOpenedConnections();
    const byDefault = await openTestEngine({ database });
    expect(connections[0]!.pragma('synchronous', { simple: true })).toBe(2);
    await byDefault.close();

    const normal = await openTestEngine({ database, synchronous: 'NORMAL' });
    expect(connections[1]!.pragma('synchronous', { simple: true })).toBe(1);
    await normal.close();
  });

  test('the database file is in WAL mode, as another connection sees it', () => {
    const database = tempDatabasePath();
    openDatabase(database, 'FULL').close();
    const other = new Database(database, { readonly: true });
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
    other.close();
  });
});
