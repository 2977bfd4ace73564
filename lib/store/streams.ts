// The streams table: per (workflow uuid, key), values in position order from 0, and once the stream
// is closed a last row with no value. Rows are never changed or deleted, and a stream ends with its
// workflow too, so whatever a reader saw stays true.
import type { SqliteDatabase } from './database';
import type { WorkflowStatusName } from '../types';
import type { AppendResult, StreamBatch, StreamEntry, StreamSummary } from './store';

export type { AppendResult } from './store';

export class StreamTable {
  readonly #insert;
  readonly #selectLast;
  readonly #selectFrom;
  readonly #selectSummaries;
  readonly #selectWriterStatus;
  readonly #copyForFork;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare<[string, string, number, string | null, number, number]>(
      'INSERT INTO streams (workflow_uuid, key, position, value, created_at, operation_index) VALUES (?, ?, ?, ?, ?, ?)',
    );
    // Positions are numbered again from 0 per stream, so that they run without a gap where a row
    // of an operation not copied stood between copied ones (operations run concurrently).
    this.#copyForFork = db.prepare<{ fork: string; original: string }>(
      `INSERT INTO streams (workflow_uuid, key, position, value, created_at, operation_index)
       SELECT :fork, key, row_number() OVER (PARTITION BY key ORDER BY position) - 1, value, created_at, operation_index
       FROM streams WHERE workflow_uuid = :original
         AND operation_index IN (SELECT operation_index FROM operations WHERE workflow_uuid = :fork)
       ORDER BY entry_id`,
    );
    this.#selectLast = db.prepare<[string, string], { position: number; value: string | null }>(
      'SELECT position, value FROM streams WHERE workflow_uuid = ? AND key = ? ORDER BY position DESC LIMIT 1',
    );
    this.#selectFrom = db.prepare<[string, string, number, number], StreamEntry>(
      'SELECT position, value FROM streams WHERE workflow_uuid = ? AND key = ? AND position >= ? ORDER BY position LIMIT ?',
    );
    this.#selectSummaries = db.prepare<[string], { key: string; length: number; closed: number }>(
      `SELECT key, count(value) AS length, count(*) - count(value) AS closed FROM streams
       WHERE workflow_uuid = ? GROUP BY key ORDER BY min(entry_id)`,
    );
    // A stream ends with its workflow: appends and reads both ask whether it finished.
    this.#selectWriterStatus = db.prepare<[string], { status: WorkflowStatusName }>(
      'SELECT status FROM workflows WHERE workflow_uuid = ?',
    );
  }

  /**
   * Appends a value (`value` null: closes the stream) at the next position, written by operation
   * `operationIndex` of the workflow (a writeStream or closeStream, or the step writing it). `'closed'`, writing
   * nothing, when the stream was closed or its workflow is not PENDING (finished, or unknown).
   */
  append(workflowUUID: string, key: string, value: string | null, operationIndex: number, nowMs: number): AppendResult {
    if (this.#selectWriterStatus.get(workflowUUID)?.status !== 'PENDING') return 'closed';
    const last = this.#selectLast.get(workflowUUID, key);
    if (last !== undefined && last.value === null) return 'closed';
    const position = last === undefined ? 0 : last.position + 1;
    this.#insert.run(workflowUUID, key, position, value, nowMs, operationIndex);
    return position;
  }

  /** Copies to workflow `fork` the stream rows of `original` written by the operations `fork` has recorded. */
  copyForFork(original: string, fork: string): number {
    return this.#copyForFork.run({ fork, original }).changes;
  }

  /** Whether the stream has a closing row. */
  isClosed(workflowUUID: string, key: string): boolean {
    const last = this.#selectLast.get(workflowUUID, key);
    return last !== undefined && last.value === null;
  }

  /**
   * Up to `limit` rows from `position` on, in order (the closing row included, if reached), and no
   * more once their values reach `maxBytes` (the first row is read however large it is).
   */
  readFrom(workflowUUID: string, key: string, position: number, limit: number, maxBytes = Number.POSITIVE_INFINITY): StreamEntry[] {
    const entries: StreamEntry[] = [];
    let bytes = 0;
    // Row by row, so that a batch of large values never sits in memory at once.
    for (const entry of this.#selectFrom.iterate(workflowUUID, key, position, limit)) {
      entries.push(entry);
      bytes += entry.value?.length ?? 0;
      if (bytes >= maxBytes) break;
    }
    return entries;
  }

  /** The row at `position`, if written. */
  entryAt(workflowUUID: string, key: string, position: number): StreamEntry | undefined {
    // Positions run from 0 without a gap, so the first row at or after `position` is that one, if any.
    const entry = this.#selectFrom.get(workflowUUID, key, position, 1);
    return entry?.position === position ? entry : undefined;
  }

  /**
   * Whether the workflow reached a final status, after which its streams take no more rows. Read
   * before the rows: then a stream found short of a value is known to have ended.
   */
  writerFinished(workflowUUID: string): boolean {
    const status = this.#selectWriterStatus.get(workflowUUID)?.status;
    return status !== undefined && status !== 'PENDING';
  }

  /** The workflow's streams in the order they were first written to. */
  list(workflowUUID: string): StreamSummary[] {
    return this.#selectSummaries.all(workflowUUID).map((row) => ({ key: row.key, length: row.length, closedByWriter: row.closed > 0 }));
  }

  /**
   * Up to `limit` rows (see readFrom) from `position`, and whether the stream had ended before they
   * were read. The end first, then the rows: a workflow seen finished, or a stream seen closed,
   * committed every row before, so rows missing after that never come. (Read the other way round, a
   * value and the close committed by another process between the two reads would be skipped.)
   */
  readBatch(workflowUUID: string, key: string, position: number, limit: number, maxBytes: number): StreamBatch {
    const ended = this.writerFinished(workflowUUID) || this.isClosed(workflowUUID, key);
    return { ended, entries: this.readFrom(workflowUUID, key, position, limit, maxBytes) };
  }

  /** The workflow's streams (see list), and whether it finished, which ends them all. */
  listWithEnd(workflowUUID: string): { finished: boolean; streams: StreamSummary[] } {
    return { finished: this.writerFinished(workflowUUID), streams: this.list(workflowUUID) };
  }
}
