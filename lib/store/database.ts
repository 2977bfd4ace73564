// Opens the SQLite file, sets every pragma in one place, and brings the schema up to date.
// A database from a newer schema is refused before anything is written to it.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseOpenError, SchemaVersionError } from '../errors';
import { migrations, SCHEMA_VERSION } from './migrations';

/** How hard each commit is pushed to disk. See docs/guarantees.md for the trade-off. */
export type SynchronousMode = 'FULL' | 'NORMAL';

export type SqliteDatabase = Database.Database;

export function isInMemory(file: string): boolean {
  return file === ':memory:' || file === '';
}

function applyPragmas(db: SqliteDatabase, synchronous: SynchronousMode): void {
  // WAL lets readers in other processes (clients, the CLI) read while the owner writes, and makes a
  // commit one sequential append instead of a rollback-journal dance.
  withBusyRetry(() => db.pragma('journal_mode = WAL'));
  // FULL syncs the WAL on every commit, so a resolved promise survives power loss. NORMAL syncs only
  // at checkpoints: a process crash loses nothing, a power cut may roll back the latest commits.
  // better-sqlite3 would otherwise leave SQLite's compile-time default; we always choose explicitly.
  db.pragma(`synchronous = ${synchronous}`);
}

/**
 * Runs `action`, retrying for up to five seconds while another connection holds the lock it needs.
 * Switching the journal mode can report SQLITE_BUSY without consulting the busy timeout, which
 * happens when several processes open a new file at the same moment.
 */
function withBusyRetry<T>(action: () => T): T {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; ; attempt++) {
    try {
      return action();
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || attempt >= 500) throw error;
      Atomics.wait(pause, 0, 0, 10); // a synchronous 10 ms pause: opening is synchronous
    }
  }
}

/** Returns the file's schema version, refusing a newer one. Reads only: runs before any pragma. */
function checkSchemaVersion(db: SqliteDatabase, file: string): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > SCHEMA_VERSION) throw new SchemaVersionError(file, found, SCHEMA_VERSION);
  return found;
}

function migrate(db: SqliteDatabase, file: string): void {
  const found = checkSchemaVersion(db, file);
  for (let version = found; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      // Another process opening the file at the same moment may have migrated it since the read
      // above: re-read under the write lock.
      if (checkSchemaVersion(db, file) > version) return;
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

/**
 * Opens (creating if needed) and prepares a durablite database.
 *
 * @throws DatabaseOpenError when the folder is missing, the file is not SQLite, or it cannot be opened.
 * @throws SchemaVersionError when the file was written by a newer durablite.
 */
export function openDatabase(file: string, synchronous: SynchronousMode): SqliteDatabase {
  if (!isInMemory(file)) {
    const folder = path.dirname(path.resolve(file));
    if (!fs.existsSync(folder)) {
      throw new DatabaseOpenError(file, `the folder "${folder}" does not exist. Create it first.`);
    }
  }
  let db: SqliteDatabase;
  try {
    db = new Database(file);
  } catch (error) {
    throw new DatabaseOpenError(file, (error as Error).message, error);
  }
  try {
    // Other processes briefly hold locks (one may be creating this very file); wait for them instead
    // of failing with SQLITE_BUSY. Set first: the version check and the WAL switch below need it.
    db.pragma('busy_timeout = 5000');
    // A newer file is refused before the pragmas: switching it to WAL would already rewrite its header.
    checkSchemaVersion(db, file);
    applyPragmas(db, synchronous);
    migrate(db, file);
  } catch (error) {
    db.close();
    if (error instanceof SchemaVersionError) throw error;
    throw openFailure(file, error);
  }
  return db;
}

/** Explains why SQLite could not open (or first write to) `file`. */
export function openFailure(file: string, error: unknown): DatabaseOpenError {
  // A read-only file or folder shows as SQLITE_READONLY or one of its extended codes
  // (SQLITE_READONLY_DIRECTORY...), or as SQLITE_CANTOPEN when the -wal/-shm files cannot be made.
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB') return new DatabaseOpenError(file, 'the file is not a SQLite database.', error);
  if (code.startsWith('SQLITE_BUSY')) {
    return new DatabaseOpenError(file, 'another process held its write lock longer than the busy timeout (5 s). Open it again once that process has finished writing.', error);
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN') {
    return new DatabaseOpenError(file, 'the file or its folder is read-only; durablite needs to write to it.', error);
  }
  return new DatabaseOpenError(file, (error as Error).message, error);
}

/** The tables every durablite schema has: a file without them is some other application's database. */
const DURABLITE_TABLES = ['workflows', 'operations', 'events', 'messages'];

/**
 * Opens an existing durablite database for reading only, for tools that only look (the CLI's read
 * commands). Nothing is written to the file: no pragma that changes it (the journal mode stays as it
 * is), no migration, no table created. Another process may own and write the file meanwhile.
 *
 * @throws DatabaseOpenError when the file does not exist, is not SQLite, is not a durablite database,
 *   or has an older schema (which only a writer can upgrade).
 * @throws SchemaVersionError when the file was written by a newer durablite.
 */
export function openReadOnlyDatabase(file: string): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    const missing = !fs.existsSync(file);
    throw new DatabaseOpenError(file, missing ? 'the file does not exist.' : (error as Error).message, error);
  }
  try {
    // The owner briefly holds locks while it commits; a reader waits for it rather than failing.
    db.pragma('busy_timeout = 5000');
    const version = checkSchemaVersion(db, file);
    const tables = new Set(
      db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((row) => row.name),
    );
    if (version === 0 || !DURABLITE_TABLES.every((table) => tables.has(table))) {
      throw new DatabaseOpenError(file, 'the file is a SQLite database but not a durablite database (it has no durablite tables). Check the path; nothing was changed.');
    }
    if (version < SCHEMA_VERSION) {
      throw new DatabaseOpenError(file, `the file has schema version ${version}, older than this durablite's ${SCHEMA_VERSION}. Open it once with Engine.open to upgrade it.`);
    }
  } catch (error) {
    db.close();
    if (error instanceof SchemaVersionError || error instanceof DatabaseOpenError) throw error;
    throw openFailure(file, error);
  }
  return db;
}
