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

/** An event as a select sees it: its value, and where it falls among events and messages. */
export interface EventPlacement {
  /** Orders events by commit. */
  eventId: number;
  /** The highest message id when the event was written: messages up to it committed first. */
  messagesBefore: number;
  value: string;
}

export class EventTable {
  readonly #insert;
  readonly #selectValue;
  readonly #selectPlacement;
  readonly #selectForWorkflow;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare<[string, string, string, number]>(
      `INSERT INTO events (workflow_uuid, key, value, created_at, messages_before)
       VALUES (?, ?, ?, ?, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0))
       ON CONFLICT (workflow_uuid, key) DO NOTHING`,
    );
    this.#selectValue = db.prepare<[string, string], { value: string }>(
      'SELECT value FROM events WHERE workflow_uuid = ? AND key = ?',
    );
    this.#selectPlacement = db.prepare<[string, string], { event_id: number; messages_before: number; value: string }>(
      'SELECT event_id, messages_before, value FROM events WHERE workflow_uuid = ? AND key = ?',
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

  /** The event with where it falls among events and messages, or undefined when the key is not set. */
  getPlacement(workflowUUID: string, key: string): EventPlacement | undefined {
    const row = this.#selectPlacement.get(workflowUUID, key);
    return row === undefined ? undefined : { eventId: row.event_id, messagesBefore: row.messages_before, value: row.value };
  }

  listForWorkflow(workflowUUID: string): EventRecord[] {
    return this.#selectForWorkflow.all(workflowUUID).map(toEventRecord);
  }
}
