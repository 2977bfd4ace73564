// The messages table: per-(destination, topic) FIFO queues ordered by message_id. Consumed messages
// stay in the table (marked with consumed_at) so they can be inspected; they are never delivered again.
import type { SqliteDatabase } from './database';
import type { MessageRecord } from '../types';

/** Topic as stored: users' topics are non-empty, so '' stands for "no topic". */
const NO_TOPIC = '';

export function toStoredTopic(topic: string | null): string {
  return topic ?? NO_TOPIC;
}

export interface MessageRow {
  message_id: number;
  destination_uuid: string;
  topic: string;
  message: string;
  idempotency_key: string | null;
  consumed_at: number | null;
  created_at: number;
}

export function toMessageRecord(row: MessageRow): MessageRecord {
  return {
    messageId: row.message_id,
    destinationUUID: row.destination_uuid,
    topic: row.topic === NO_TOPIC ? null : row.topic,
    message: row.message,
    idempotencyKey: row.idempotency_key,
    consumed: row.consumed_at !== null,
    createdAt: row.created_at,
    consumedAt: row.consumed_at,
  };
}

export class MessageTable {
  readonly #insert;
  readonly #selectOldest;
  readonly #markConsumed;
  readonly #selectForDestination;
  readonly #selectForTopic;
  readonly #copyForFork;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare<[string, string, string, string | null, number]>(
      `INSERT INTO messages (destination_uuid, topic, message, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (destination_uuid, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`,
    );
    this.#selectOldest = db.prepare<[string, string], { message_id: number; message: string }>(
      `SELECT message_id, message FROM messages
       WHERE destination_uuid = ? AND topic = ? AND consumed_at IS NULL
       ORDER BY message_id LIMIT 1`,
    );
    this.#markConsumed = db.prepare<[number, number, number]>('UPDATE messages SET consumed_at = ?, consumed_by = ? WHERE message_id = ?');
    // Consumed rows of the fork, in their original queue order; unconsumed messages stay with the original.
    this.#copyForFork = db.prepare<{ fork: string; original: string }>(
      `INSERT INTO messages (destination_uuid, topic, message, idempotency_key, consumed_at, consumed_by, created_at)
       SELECT :fork, topic, message, idempotency_key, consumed_at, consumed_by, created_at
       FROM messages WHERE destination_uuid = :original
         AND consumed_by IN (SELECT operation_index FROM operations WHERE workflow_uuid = :fork)
       ORDER BY message_id`,
    );
    this.#selectForDestination = db.prepare<[string], MessageRow>(
      'SELECT * FROM messages WHERE destination_uuid = ? ORDER BY message_id',
    );
    this.#selectForTopic = db.prepare<[string, string], MessageRow>(
      'SELECT * FROM messages WHERE destination_uuid = ? AND topic = ? ORDER BY message_id',
    );
  }

  /** Appends a message; returns false when its idempotency key was already used for this destination. */
  insert(destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): boolean {
    return this.#insert.run(destinationUUID, toStoredTopic(topic), message, idempotencyKey, nowMs).changes === 1;
  }

  /**
   * Marks the oldest unconsumed message of the queue consumed by operation `operationIndex` of its
   * destination, and returns its payload, or undefined.
   */
  consumeOldest(destinationUUID: string, topic: string | null, operationIndex: number, nowMs: number): string | undefined {
    const oldest = this.#selectOldest.get(destinationUUID, toStoredTopic(topic));
    if (oldest === undefined) return undefined;
    this.#markConsumed.run(nowMs, operationIndex, oldest.message_id);
    return oldest.message;
  }

  /** The oldest unconsumed message of the queue, not consumed, or undefined. */
  peekOldest(destinationUUID: string, topic: string | null): { messageId: number; message: string } | undefined {
    const oldest = this.#selectOldest.get(destinationUUID, toStoredTopic(topic));
    return oldest === undefined ? undefined : { messageId: oldest.message_id, message: oldest.message };
  }

  /** Marks a message consumed by operation `operationIndex` (one a peek found, in the same transaction). */
  markConsumed(messageId: number, operationIndex: number, nowMs: number): void {
    this.#markConsumed.run(nowMs, operationIndex, messageId);
  }

  /** Copies to workflow `fork` the messages of `original` consumed by the operations `fork` has recorded, as consumed. */
  copyForFork(original: string, fork: string): number {
    return this.#copyForFork.run({ fork, original }).changes;
  }

  /** Whether the queue has an unconsumed message (a cheap check for waking waiters). */
  hasPending(destinationUUID: string, topic: string | null): boolean {
    return this.#selectOldest.get(destinationUUID, toStoredTopic(topic)) !== undefined;
  }

  /** All messages of a destination (or of one of its topics; `null` = no topic), in queue order. */
  list(destinationUUID: string, topic?: string | null): MessageRecord[] {
    const rows = topic === undefined
      ? this.#selectForDestination.all(destinationUUID)
      : this.#selectForTopic.all(destinationUUID, toStoredTopic(topic));
    return rows.map(toMessageRecord);
  }
}
