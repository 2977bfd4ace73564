// PostgreSQL's streams table (see store/streams.ts): per (workflow uuid, key), values at positions from
// 0, then once closed a row with no value; a stream also ends when its workflow finishes. Every append
// (append_to_stream, a server-side function: see recording-functions.ts) runs under the workflow's row
// lock, so a step's writeStream and the workflow's own take positions one after the other, and none
// lands after the workflow's finish (whose UPDATE takes the same lock). The reads are here.
import type { StreamBatch, StreamEntry, StreamReads, StreamSummary } from '../store/store';
import type { WorkflowStatusName } from '../types';
import { firstRow, rowsOf, type Sql } from './sql';

/** Whether the stream has a closing row (its last row has no value). */
async function isStreamClosed(sql: Sql, workflowUUID: string, key: string): Promise<boolean> {
  const last = await firstRow<StreamEntry>(sql, 'SELECT position, value FROM streams WHERE workflow_uuid = $1 AND key = $2 ORDER BY position DESC LIMIT 1', [workflowUUID, key]);
  return last !== undefined && last.value === null;
}

/**
 * What a workflow's stream read finds at `position`, in one statement (one snapshot): the row there,
 * or whether the stream had ended (closed, or its workflow finished).
 */
export async function streamEntryAt(sql: Sql, workflowUUID: string, key: string, position: number): Promise<{ entry: StreamEntry | undefined; ended: boolean }> {
  const row = (await firstRow<{ status: WorkflowStatusName | null; found: boolean; value: string | null; closed: boolean }>(
    sql,
    `SELECT (SELECT status FROM workflows WHERE workflow_uuid = $1) AS status,
            EXISTS (SELECT 1 FROM streams WHERE workflow_uuid = $1 AND key = $2 AND position = $3) AS found,
            (SELECT value FROM streams WHERE workflow_uuid = $1 AND key = $2 AND position = $3) AS value,
            EXISTS (SELECT 1 FROM streams WHERE workflow_uuid = $1 AND key = $2 AND value IS NULL) AS closed`,
    [workflowUUID, key, position],
  ))!;
  const finished = row.status !== null && row.status !== 'PENDING';
  return { entry: row.found ? { position, value: row.value } : undefined, ended: finished || row.closed };
}

/** Copies to workflow `fork` the stream rows of `original` written by the operations `fork` has recorded, numbered again from 0. */
export async function copyStreamsForFork(sql: Sql, original: string, fork: string): Promise<void> {
  await sql.query(
    `INSERT INTO streams (workflow_uuid, key, position, value, created_at, operation_index)
     SELECT $1::text, key, row_number() OVER (PARTITION BY key ORDER BY position) - 1, value, created_at, operation_index
     FROM streams WHERE workflow_uuid = $2
       AND operation_index IN (SELECT operation_index FROM operations WHERE workflow_uuid = $1::text)
     ORDER BY entry_id`,
    [fork, original],
  );
}

async function writerFinished(sql: Sql, workflowUUID: string): Promise<boolean> {
  const row = await firstRow<{ status: WorkflowStatusName }>(sql, 'SELECT status FROM workflows WHERE workflow_uuid = $1', [workflowUUID]);
  return row !== undefined && row.status !== 'PENDING';
}

/** The read view of streams, on the pool. */
export class PostgresStreamReads implements StreamReads {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Up to `limit` rows from `position`, no more once their values reach `maxBytes` (the first row is
   * read however large), and whether the stream had ended before they were read. The end is read
   * first, in a statement of its own, as SqliteStore does: a stream seen ended committed every row
   * before, so the rows read after it miss none.
   */
  async readBatch(workflowUUID: string, key: string, position: number, limit: number, maxBytes: number): Promise<StreamBatch> {
    const ended = (await writerFinished(this.#sql, workflowUUID)) || (await isStreamClosed(this.#sql, workflowUUID, key));
    // The values before each row, summed by the server: a batch of large values is cut there, not in memory.
    const entries = await rowsOf<StreamEntry>(
      this.#sql,
      `SELECT position, value FROM (
         SELECT position, value, coalesce(sum(coalesce(length(value), 0)) OVER (ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
         FROM streams WHERE workflow_uuid = $1 AND key = $2 AND position >= $3 ORDER BY position LIMIT $4
       ) batch WHERE $5::bigint IS NULL OR before < $5::bigint ORDER BY position`,
      [workflowUUID, key, position, limit, Number.isFinite(maxBytes) ? maxBytes : null],
    );
    return { ended, entries };
  }

  /** The workflow's streams in the order first written, and whether it finished (read first). */
  async listWithEnd(workflowUUID: string): Promise<{ finished: boolean; streams: StreamSummary[] }> {
    const finished = await writerFinished(this.#sql, workflowUUID);
    const rows = await rowsOf<{ key: string; length: number; closed: number }>(
      this.#sql,
      `SELECT key, count(value) AS length, count(*) - count(value) AS closed FROM streams
       WHERE workflow_uuid = $1 GROUP BY key ORDER BY min(entry_id)`,
      [workflowUUID],
    );
    return { finished, streams: rows.map((row) => ({ key: row.key, length: row.length, closedByWriter: row.closed > 0 })) };
  }
}
