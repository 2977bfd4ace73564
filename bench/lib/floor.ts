// The physical floor: the SQL statements the engine runs, in transactions run directly with
// better-sqlite3, with none of the engine around them. The statement texts are copied verbatim from
// lib/store/*.ts (keep them in step when the store changes); the schema and pragmas are the engine's
// own (openDatabase), so both sides write the same tables, indexes and journal. Each scenario groups
// the statements into commits as it documents; its results show the engine's commits beside them.
import type Database from 'better-sqlite3';
import { openDatabase, type SqliteDatabase } from '../../lib/store/database';
import type { Mode } from './harness';

/** Opens a new database file with the engine's pragmas and schema, for floor measurements. */
export function openFloorDatabase(file: string, mode: Mode): SqliteDatabase {
  return openDatabase(file, mode);
}

/** The engine's statements, prepared once on a floor database. */
export class FloorStatements {
  readonly db: SqliteDatabase;
  // lib/store/workflows.ts
  readonly insertWorkflow: Database.Statement<[string, string, string, string | null, number, number]>;
  readonly workflowExists: Database.Statement<[string], { found: number }>;
  // lib/store/messages.ts
  readonly insertMessage: Database.Statement<[string, string, string, string | null, number]>;
  readonly selectOldestMessage: Database.Statement<[string, string], { message_id: number; message: string }>;
  readonly markMessageConsumed: Database.Statement<[number, number]>;
  // lib/store/events.ts
  readonly insertEvent: Database.Statement<[string, string, string, number]>;
  readonly selectEventValue: Database.Statement<[string, string], { value: string }>;
  // lib/store/operations.ts
  readonly insertCompletedOperation: Database.Statement<[string, number, string, string, string | null, string | null, number, number]>;
  readonly insertStartedOperation: Database.Statement<[string, number, string, string, number, string, number]>;
  readonly completeOperation: Database.Statement<[string | null, string | null, number, string, number]>;

  constructor(db: SqliteDatabase) {
    this.db = db;
    this.insertWorkflow = db.prepare(
      `INSERT INTO workflows (workflow_uuid, name, status, inputs, parent_uuid, created_at, updated_at)
       VALUES (?, ?, 'PENDING', ?, ?, ?, ?) ON CONFLICT (workflow_uuid) DO NOTHING`,
    );
    this.workflowExists = db.prepare('SELECT 1 AS found FROM workflows WHERE workflow_uuid = ?');
    this.insertMessage = db.prepare(
      `INSERT INTO messages (destination_uuid, topic, message, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    this.selectOldestMessage = db.prepare(
      `SELECT message_id, message FROM messages
       WHERE destination_uuid = ? AND topic = ? AND consumed_at IS NULL
       ORDER BY message_id LIMIT 1`,
    );
    this.markMessageConsumed = db.prepare('UPDATE messages SET consumed_at = ? WHERE message_id = ?');
    this.insertEvent = db.prepare(
      `INSERT INTO events (workflow_uuid, key, value, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (workflow_uuid, key) DO NOTHING`,
    );
    this.selectEventValue = db.prepare('SELECT value FROM events WHERE workflow_uuid = ? AND key = ?');
    this.insertCompletedOperation = db.prepare(
      `INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, started_at, completed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertStartedOperation = db.prepare(
      `INSERT INTO operations (workflow_uuid, operation_index, kind, name, deadline_ms, wait_detail, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.completeOperation = db.prepare(
      `UPDATE operations SET output = ?, error = ?, completed_at = ?
       WHERE workflow_uuid = ? AND operation_index = ? AND completed_at IS NULL`,
    );
  }

  /** A handler send as one transaction: the destination check and the insert. */
  sendTransaction(): Database.Transaction<(workflowUUID: string, message: string) => void> {
    return this.db.transaction((workflowUUID: string, message: string) => {
      this.workflowExists.get(workflowUUID);
      this.insertMessage.run(workflowUUID, NO_TOPIC, message, null, Date.now());
    });
  }

  /** A recv that finds its message as one transaction: consume the oldest and record it. */
  consumeAndRecordTransaction(): Database.Transaction<(workflowUUID: string, operationIndex: number) => void> {
    return this.db.transaction((workflowUUID: string, operationIndex: number) => {
      const oldest = this.selectOldestMessage.get(workflowUUID, NO_TOPIC)!;
      this.markMessageConsumed.run(Date.now(), oldest.message_id);
      this.insertCompletedOperation.run(workflowUUID, operationIndex, 'recv', 'recv', oldest.message, null, Date.now(), Date.now());
    });
  }
}

/** The topic stored for "no topic" (lib/store/messages.ts). */
export const NO_TOPIC = '';

/** The streams' statements (lib/store/streams.ts), prepared once on a floor database. */
export class StreamFloorStatements {
  readonly #insert: Database.Statement<[string, string, number, string | null, number]>;
  readonly #selectLast: Database.Statement<[string, string], { position: number; value: string | null }>;
  readonly #selectFrom: Database.Statement<[string, string, number, number], { position: number; value: string | null }>;
  readonly #selectWriterStatus: Database.Statement<[string], { status: string }>;
  readonly #insertCompletedOperation: Database.Statement<[string, number, string, string, string | null, string | null, number, number]>;
  /** A workflow's writeStream as one transaction: the checks, the row, the operation's record. */
  readonly append: Database.Transaction<(workflowUUID: string, key: string, value: string, operationIndex: number) => number>;

  constructor(floor: FloorStatements) {
    const db = floor.db;
    this.#insertCompletedOperation = floor.insertCompletedOperation;
    this.#insert = db.prepare('INSERT INTO streams (workflow_uuid, key, position, value, created_at) VALUES (?, ?, ?, ?, ?)');
    this.#selectLast = db.prepare('SELECT position, value FROM streams WHERE workflow_uuid = ? AND key = ? ORDER BY position DESC LIMIT 1');
    this.#selectFrom = db.prepare('SELECT position, value FROM streams WHERE workflow_uuid = ? AND key = ? AND position >= ? ORDER BY position LIMIT ?');
    this.#selectWriterStatus = db.prepare('SELECT status FROM workflows WHERE workflow_uuid = ?');
    this.append = db.transaction((workflowUUID: string, key: string, value: string, operationIndex: number) => {
      this.#selectWriterStatus.get(workflowUUID);
      const last = this.#selectLast.get(workflowUUID, key);
      const position = last === undefined ? 0 : last.position + 1;
      this.#insert.run(workflowUUID, key, position, value, Date.now());
      this.#insertCompletedOperation.run(workflowUUID, operationIndex, 'writeStream', 'writeStream', String(position), null, Date.now(), Date.now());
      return position;
    });
  }

  /** A reader's look: the writer's status, then the rows from `position` (as the engine's reader does). */
  read(workflowUUID: string, key: string, position: number): { position: number; value: string | null }[] {
    this.#selectWriterStatus.get(workflowUUID);
    return this.#selectFrom.all(workflowUUID, key, position, 256);
  }
}
