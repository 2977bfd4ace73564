// PostgreSQL's messages table (see store/messages.ts): per-(destination, topic) FIFO queues in
// message_id order. Ids come from a sequence at insert, so id order is commit order only because every
// transaction that inserts messages for a destination holds that destination's row lock
// (lockWorkflows) from before its first insert to its commit: its ids are taken after the previous
// sender's commit. The destination consumes under the same lock.
import { toMessageRecord, toStoredTopic, type MessageRow } from '../store/messages';
import type { MessageReads } from '../store/store';
import type { MessageRecord } from '../types';
import { changes, firstRow, rowsOf, type Sql } from './sql';

/** Appends a message (the caller holds the destination's row lock); false when its idempotency key was used for this destination. */
export async function insertMessage(sql: Sql, destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): Promise<boolean> {
  return (await changes(
    sql,
    `INSERT INTO messages (destination_uuid, topic, message, idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (destination_uuid, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
    [destinationUUID, toStoredTopic(topic), message, idempotencyKey, nowMs],
  )) === 1;
}

/** The oldest unconsumed message of the queue, or undefined. */
export async function peekOldest(sql: Sql, destinationUUID: string, topic: string | null): Promise<{ messageId: number; message: string } | undefined> {
  const row = await firstRow<{ message_id: number; message: string }>(
    sql,
    `SELECT message_id, message FROM messages WHERE destination_uuid = $1 AND topic = $2 AND consumed_at IS NULL
     ORDER BY message_id LIMIT 1`,
    [destinationUUID, toStoredTopic(topic)],
  );
  return row === undefined ? undefined : { messageId: row.message_id, message: row.message };
}

/** Marks a message consumed by operation `operationIndex` of its destination. */
export async function markConsumed(sql: Sql, messageId: number, operationIndex: number, nowMs: number): Promise<void> {
  await sql.query('UPDATE messages SET consumed_at = $1, consumed_by = $2 WHERE message_id = $3', [nowMs, operationIndex, messageId]);
}

/** Copies to workflow `fork` the messages of `original` consumed by the operations `fork` has recorded, as consumed, in queue order. */
export async function copyMessagesForFork(sql: Sql, original: string, fork: string): Promise<number> {
  return changes(
    sql,
    `INSERT INTO messages (destination_uuid, topic, message, idempotency_key, consumed_at, consumed_by, created_at)
     SELECT $1::text, topic, message, idempotency_key, consumed_at, consumed_by, created_at
     FROM messages WHERE destination_uuid = $2
       AND consumed_by IN (SELECT operation_index FROM operations WHERE workflow_uuid = $1::text)
     ORDER BY message_id`,
    [fork, original],
  );
}

/** The read view of messages, on the pool. */
export class PostgresMessageReads implements MessageReads {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** All messages of a destination (or of one of its topics; `null` = no topic), in queue order. */
  async list(destinationUUID: string, topic?: string | null): Promise<MessageRecord[]> {
    const rows = topic === undefined
      ? await rowsOf<MessageRow>(this.#sql, 'SELECT * FROM messages WHERE destination_uuid = $1 ORDER BY message_id', [destinationUUID])
      : await rowsOf<MessageRow>(this.#sql, 'SELECT * FROM messages WHERE destination_uuid = $1 AND topic = $2 ORDER BY message_id', [destinationUUID, toStoredTopic(topic)]);
    return rows.map(toMessageRecord);
  }
}
