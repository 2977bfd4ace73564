// PostgreSQL's events table (see store/events.ts): immutable (workflow uuid, key) -> value.
//
// messages_before is the highest message id this transaction's statement can see: every message
// committed before the event's insert is at or below it, and every message sent after the event
// committed gets a higher id. A message still in flight while the event committed may land on either
// side: between an event and such a message no order was observable, so either answer is one the
// two writes could have had (see the header of postgres-store.ts).
import { toEventRecord, type EventRow } from '../store/events';
import type { EventReads } from '../store/store';
import type { EventRecord } from '../types';
import { firstRow, rowsOf, type Sql } from './sql';

/** An event as a select sees it (see store/events.ts EventPlacement). */
export interface EventPlacement {
  eventId: number;
  messagesBefore: number;
  value: string;
}

const MESSAGES_BEFORE = '(SELECT coalesce(max(message_id), 0) FROM messages)';

/** Copies to workflow `fork` the events of `original` set by the operations `fork` has recorded (as written now among messages). */
export async function copyEventsForFork(sql: Sql, original: string, fork: string): Promise<void> {
  await sql.query(
    `INSERT INTO events (workflow_uuid, key, value, created_at, operation_index, messages_before)
     SELECT $1::text, key, value, created_at, operation_index, ${MESSAGES_BEFORE}
     FROM events WHERE workflow_uuid = $2
       AND operation_index IN (SELECT operation_index FROM operations WHERE workflow_uuid = $1::text)
     ORDER BY event_id`,
    [fork, original],
  );
}

export async function getEventValue(sql: Sql, workflowUUID: string, key: string): Promise<string | undefined> {
  return (await firstRow<{ value: string }>(sql, 'SELECT value FROM events WHERE workflow_uuid = $1 AND key = $2', [workflowUUID, key], 'durablite.event-value'))?.value;
}

export async function getEventPlacement(sql: Sql, workflowUUID: string, key: string): Promise<EventPlacement | undefined> {
  const row = await firstRow<{ event_id: number; messages_before: number; value: string }>(
    sql,
    'SELECT event_id, messages_before, value FROM events WHERE workflow_uuid = $1 AND key = $2',
    [workflowUUID, key],
  );
  return row === undefined ? undefined : { eventId: row.event_id, messagesBefore: row.messages_before, value: row.value };
}

/** The read view of events, on the pool. */
export class PostgresEventReads implements EventReads {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  getValue(workflowUUID: string, key: string): Promise<string | undefined> {
    return getEventValue(this.#sql, workflowUUID, key);
  }

  async listForWorkflow(workflowUUID: string): Promise<EventRecord[]> {
    return (await rowsOf<EventRow>(this.#sql, 'SELECT * FROM events WHERE workflow_uuid = $1 ORDER BY event_id', [workflowUUID])).map(toEventRecord);
  }
}
