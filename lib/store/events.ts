// The events table: immutable (workflow uuid, key) -> value. A key, once written, is never changed.
import type { SqliteDatabase } from './database';
import type { EventRecord } from '../types';

interface EventRow {
  workflow_uuid: string;
  key: string;
  value: string;
  created_at: number;
}

function toEventRecord(row: EventRow): EventRecord {
  return { workflowUUID: row.workflow_uuid, key: row.key, value: row.value, createdAt: row.created_at };
}

export class EventTable {
  readonly #insert;
  readonly #selectValue;
  readonly #selectForWorkflow;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare<[string, string, string, number]>(
      `INSERT INTO events (workflow_uuid, key, value, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (workflow_uuid, key) DO NOTHING`,
    );
    this.#selectValue = db.prepare<[string, string], { value: string }>(
      'SELECT value FROM events WHERE workflow_uuid = ? AND key = ?',
    );
    this.#selectForWorkflow = db.prepare<[string], EventRow>(
      'SELECT * FROM events WHERE workflow_uuid = ? ORDER BY event_id',
    );
  }

  /** Inserts the event; returns false (keeping the first value) when the key is already set. */
  insert(workflowUUID: string, key: string, value: string, nowMs: number): boolean {
    return this.#insert.run(workflowUUID, key, value, nowMs).changes === 1;
  }

  /** The serialized value, or undefined when the key is not set. */
  getValue(workflowUUID: string, key: string): string | undefined {
    return this.#selectValue.get(workflowUUID, key)?.value;
  }

  listForWorkflow(workflowUUID: string): EventRecord[] {
    return this.#selectForWorkflow.all(workflowUUID).map(toEventRecord);
  }
}
