// The events table: immutable (workflow uuid, key) -> value. A key, once written, is never changed.
import type { SqliteDatabase } from './database';
import type { EventRecord } from '../types';

export interface EventRow {
  workflow_uuid: string;
  key: string;
  value: string;
  created_at: number;
}

export function toEventRecord(row: EventRow): EventRecord {
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
  readonly #copyForFork;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare<[string, string, string, number, number]>(
      `INSERT INTO events (workflow_uuid, key, value, created_at, operation_index, messages_before)
       VALUES (?, ?, ?, ?, ?, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0))
       ON CONFLICT (workflow_uuid, key) DO NOTHING`,
    );
    // A fork's copies count as written now among messages (messages_before), in their original order.
    this.#copyForFork = db.prepare<{ fork: string; original: string }>(
      `INSERT INTO events (workflow_uuid, key, value, created_at, operation_index, messages_before)
       SELECT :fork, key, value, created_at, operation_index, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)
       FROM events WHERE workflow_uuid = :original
         AND operation_index IN (SELECT operation_index FROM operations WHERE workflow_uuid = :fork)
       ORDER BY event_id`,
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

  /**
   * Inserts the event set by operation `operationIndex` of its workflow; returns false (keeping the
   * first value) when the key is already set.
   */
  insert(workflowUUID: string, key: string, value: string, operationIndex: number, nowMs: number): boolean {
    return this.#insert.run(workflowUUID, key, value, nowMs, operationIndex).changes === 1;
  }

  /** Copies to workflow `fork` the events of `original` set by the operations `fork` has recorded. */
  copyForFork(original: string, fork: string): number {
    return this.#copyForFork.run({ fork, original }).changes;
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
