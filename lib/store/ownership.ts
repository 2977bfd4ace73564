// Ownership of a database file: one Engine per file runs its workflows. The owner holds an exclusive
// SQLite lock on the side file "<database>-owner.lock" for as long as it lives; the operating system
// drops the lock when the process dies, SIGKILL included, so the next Engine.open can take over.
import os from 'node:os';
import Database from 'better-sqlite3';
import { DatabaseOwnedError } from '../errors';
import { openFailure, type SqliteDatabase } from './database';

export interface OwnerRecord {
  pid: number;
  hostname: string;
  startedAt: number;
}

/** The held lock; release() is idempotent (a lock held on a server's connection resolves once that ended). */
export interface OwnershipLock {
  release(): void | Promise<void>;
}

export function lockFileOf(database: string): string {
  return `${database}-owner.lock`;
}

export function readOwner(db: SqliteDatabase): OwnerRecord | undefined {
  const row = db.prepare<[], { pid: number; hostname: string; started_at: number }>(
    'SELECT pid, hostname, started_at FROM owner WHERE id = 1',
  ).get();
  return row === undefined ? undefined : { pid: row.pid, hostname: row.hostname, startedAt: row.started_at };
}

/**
 * Takes the exclusive lock on the opened lock file `lock`, at once or not at all; closes it and
 * throws DatabaseOwnedError (naming the owner as it recorded itself in `db`) when an Engine holds it.
 */
export function lockExclusively(database: string, db: SqliteDatabase, lock: SqliteDatabase): void {
  try {
    lock.pragma('busy_timeout = 0');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new DatabaseOwnedError(database, readOwner(db));
    throw openFailure(database, error);
  }
}

/**
 * Takes ownership of `database` (whose connection is `db`) or throws DatabaseOwnedError naming the
 * live owner. Records this process as the owner.
 */
export function acquireOwnership(database: string, db: SqliteDatabase, nowMs: number): OwnershipLock {
  let lock: SqliteDatabase;
  try {
    lock = new Database(lockFileOf(database));
  } catch (error) {
    throw openFailure(database, error);
  }
  lockExclusively(database, db, lock);
  try {
    db.prepare('INSERT OR REPLACE INTO owner (id, pid, hostname, started_at) VALUES (1, ?, ?, ?)').run(process.pid, os.hostname(), nowMs);
  } catch (error) {
    // The first write to the file: a read-only file (in a writable folder) is found here.
    lock.close();
    throw openFailure(database, error);
  }
  return {
    release: () => {
      if (lock.open) lock.close();
    },
  };
}
