// Reads every row of a durablite SQLite file for a copy to another store (`durablite migrate`): one
// read snapshot, the file opened read-only, and its owner lock held throughout, so that no Engine can
// open the file and run its workflows while they are being copied elsewhere.
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { openFailure, openReadOnlyDatabase, type SqliteDatabase } from './database';
import { lockExclusively, lockFileOf, type OwnershipLock } from './ownership';

/** A table a migration copies: the columns both stores have, the key it is read in order of, its id sequence. */
export interface CopiedTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** The primary key, read in its order in batches (keyset pagination). */
  readonly key: readonly string[];
  /** The column a sequence fills on insert (ids handed out in insertion order), if any. */
  readonly serial?: string;
}

/**
 * Every table that holds a database's workflows and what they recorded, with the columns the two
 * schemas share (SQLite's `owner` and PostgreSQL's `executors` describe processes, not workflows:
 * they are not copied, and neither is a workflow's `executor_id`, which the copy leaves unclaimed).
 * Ids are copied as they are: `events.messages_before` names message ids, and every order the
 * engine keeps (a queue's FIFO, a select's event-or-message, a stream's rows) is an order of ids.
 */
export const COPIED_TABLES: readonly CopiedTable[] = [
  {
    name: 'workflows',
    columns: ['workflow_id', 'workflow_uuid', 'name', 'status', 'inputs', 'output', 'error', 'parent_uuid', 'recovery_attempts', 'created_at', 'updated_at', 'deadline_ms'],
    key: ['workflow_id'],
    serial: 'workflow_id',
  },
  {
    name: 'operations',
    columns: ['workflow_uuid', 'operation_index', 'kind', 'name', 'output', 'error', 'deadline_ms', 'wait_detail', 'started_at', 'completed_at'],
    key: ['workflow_uuid', 'operation_index'],
  },
  {
    name: 'events',
    columns: ['event_id', 'workflow_uuid', 'key', 'value', 'created_at', 'messages_before', 'operation_index'],
    key: ['event_id'],
    serial: 'event_id',
  },
  {
    name: 'messages',
    columns: ['message_id', 'destination_uuid', 'topic', 'message', 'idempotency_key', 'consumed_at', 'consumed_by', 'created_at'],
    key: ['message_id'],
    serial: 'message_id',
  },
  {
    name: 'streams',
    columns: ['entry_id', 'workflow_uuid', 'key', 'position', 'value', 'created_at', 'operation_index'],
    key: ['entry_id'],
    serial: 'entry_id',
  },
  {
    name: 'workflow_controls',
    columns: ['control_id', 'workflow_uuid', 'action', 'created_at'],
    key: ['control_id'],
    serial: 'control_id',
  },
  {
    name: 'deleted_workflows',
    columns: ['workflow_uuid', 'cancelled_at'],
    key: ['workflow_uuid'],
  },
];

/** One row as read: its values in the order of its table's `columns`. */
export type CopiedRow = unknown[];

/**
 * Holds the owner lock of `database` (`<database>-owner.lock`, see ownership.ts) without recording
 * an owner, so that no Engine opens the file until release(). Throws DatabaseOwnedError, naming the
 * owner as it recorded itself in `db`, when an Engine holds it now.
 */
function holdOwnerLock(database: string, db: SqliteDatabase): OwnershipLock {
  const file = lockFileOf(database);
  let lock: SqliteDatabase;
  try {
    lock = new Database(file);
  } catch (error) {
    // No lock file and none can be made (a read-only folder): no Engine can own this file either,
    // as it would have to make that same file first.
    if (!fs.existsSync(file)) return { release: () => {} };
    throw openFailure(database, error);
  }
  lockExclusively(database, db, lock);
  return {
    release: () => {
      if (lock.open) lock.close();
    },
  };
}

/**
 * A durablite SQLite file opened to be copied: read-only (nothing is written to it), its owner lock
 * held (no Engine can open it meanwhile), and, from {@link SqliteExport.begin} to close, one read
 * snapshot, so that every table is read as of one moment even if a Client writes to the file.
 *
 * @example
 * const source = SqliteExport.open('app.db');
 * try {
 *   source.begin();
 *   for (const table of COPIED_TABLES) for (const rows of source.batches(table, 500)) copy(table, rows);
 * } finally {
 *   source.close();
 * }
 */
export class SqliteExport {
  readonly file: string;
  readonly #db: SqliteDatabase;
  readonly #lock: OwnershipLock;
  #reading = false;

  private constructor(file: string, db: SqliteDatabase, lock: OwnershipLock) {
    this.file = file;
    this.#db = db;
    this.#lock = lock;
  }

  /**
   * Opens `file` read-only and takes its owner lock.
   *
   * @throws DatabaseOpenError when the file is missing, not SQLite, not a durablite database, or of
   *   an older schema (which only an Engine's open upgrades).
   * @throws SchemaVersionError when a newer durablite wrote the file.
   * @throws DatabaseOwnedError when an Engine owns the file now.
   */
  static open(file: string): SqliteExport {
    const db = openReadOnlyDatabase(file);
    try {
      return new SqliteExport(file, db, holdOwnerLock(file, db));
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /**
   * Starts the read snapshot every later read sees. It stays open across the caller's awaits (on
   * this private read-only connection, where it blocks nobody's writes) until close().
   */
  begin(): void {
    if (this.#reading) return;
    this.#db.exec('BEGIN');
    // A deferred transaction takes its snapshot at its first read: take it now.
    this.#db.prepare('SELECT count(*) FROM sqlite_schema').get();
    this.#reading = true;
  }

  /** The rows of `table`, in key order, `size` at a time. Each batch is read when the previous one was consumed. */
  *batches(table: CopiedTable, size: number): Generator<CopiedRow[]> {
    const columns = table.columns.join(', ');
    const key = table.key.join(', ');
    const first = this.#db.prepare<[number]>(`SELECT ${columns} FROM ${table.name} ORDER BY ${key} LIMIT ?`).raw();
    const next = this.#db.prepare<unknown[]>(
      `SELECT ${columns} FROM ${table.name} WHERE (${key}) > (${table.key.map(() => '?').join(', ')}) ORDER BY ${key} LIMIT ?`,
    ).raw();
    const keyAt = table.key.map((column) => table.columns.indexOf(column));
    let rows = first.all(size) as CopiedRow[];
    while (rows.length > 0) {
      yield rows;
      if (rows.length < size) return;
      const last = rows[rows.length - 1]!;
      rows = next.all(...keyAt.map((index) => last[index]), size) as CopiedRow[];
    }
  }

  /**
   * The least value the next id of `table` may take so that no id it ever handed out, nor any id
   * another row refers to, is handed out again: above its highest row, above the highest id SQLite
   * ever gave it (sqlite_sequence keeps the ids of deleted rows too), and, for messages, above every
   * event's messages_before (a message given a lower id would count as sent before that event).
   */
  nextId(table: CopiedTable): number {
    if (table.serial === undefined) throw new RangeError(`Expected a table with an id sequence, got \`${table.name}\``);
    const highest = this.#db.prepare<[], { id: number | null }>(`SELECT max(${table.serial}) AS id FROM ${table.name}`).get()?.id ?? 0;
    const handedOut = this.#db.prepare<[string], { seq: number }>('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table.name)?.seq ?? 0;
    const referred = table.name === 'messages'
      ? this.#db.prepare<[], { id: number | null }>('SELECT max(messages_before) AS id FROM events').get()?.id ?? 0
      : 0;
    return Math.max(highest, handedOut, referred) + 1;
  }

  /** Ends the snapshot, closes the file and releases the owner lock. Idempotent. */
  close(): void {
    if (this.#db.open) this.#db.close();
    this.#reading = false;
    void this.#lock.release();
  }
}
