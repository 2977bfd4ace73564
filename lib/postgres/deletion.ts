// Deleting workflows on PostgreSQL (see store/deletion.ts): a workflow's row, operations, events,
// stream rows, the messages addressed to it and its controls go together in the caller's transaction;
// a workflow deleted while CANCELLED leaves its UUID in deleted_workflows, taken for good.
import { noDeletedRows } from '../store/deletion';
import type { DeletionReads } from '../store/store';
import type { DeletedRows, WorkflowStatusName } from '../types';
import { changes, firstRow, rowsOf, type Sql } from './sql';

const OWN_ROWS = [
  ['operations', 'operations', 'workflow_uuid'],
  ['events', 'events', 'workflow_uuid'],
  ['streamEntries', 'streams', 'workflow_uuid'],
  ['messages', 'messages', 'destination_uuid'],
] as const;

/** Deletes the workflows and all their rows; the controls of `keepControlsOf` stay. Call inside a transaction. */
export async function deleteAll(sql: Sql, workflowUUIDs: readonly string[], keepControlsOf: ReadonlySet<string> = new Set()): Promise<DeletedRows> {
  const list = [...workflowUUIDs];
  const rows = noDeletedRows();
  if (list.length === 0) return rows;
  await sql.query(
    `INSERT INTO deleted_workflows (workflow_uuid, cancelled_at)
     SELECT workflow_uuid, updated_at FROM workflows WHERE workflow_uuid = ANY($1::text[]) AND status = 'CANCELLED'
     ON CONFLICT (workflow_uuid) DO NOTHING`,
    [list],
  );
  for (const [field, table, column] of OWN_ROWS) rows[field] = await changes(sql, `DELETE FROM ${table} WHERE ${column} = ANY($1::text[])`, [list]);
  rows.controls = await changes(sql, 'DELETE FROM workflow_controls WHERE workflow_uuid = ANY($1::text[])', [list.filter((uuid) => !keepControlsOf.has(uuid))]);
  rows.workflows = await changes(sql, 'DELETE FROM workflows WHERE workflow_uuid = ANY($1::text[])', [list]);
  return rows;
}

/** Up to `limit` workflows with one of `statuses` last changed before `beforeMs`, locked for the delete that follows. */
export async function lockFinishedBefore(sql: Sql, statuses: readonly WorkflowStatusName[], beforeMs: number, limit: number): Promise<string[]> {
  const rows = await rowsOf<{ workflow_uuid: string }>(
    sql,
    `SELECT workflow_uuid FROM workflows WHERE status = ANY($1::text[]) AND updated_at < $2 ORDER BY workflow_uuid LIMIT $3 FOR UPDATE`,
    [[...statuses], beforeMs, limit],
  );
  return rows.map((row) => row.workflow_uuid);
}

/** Deletes the controls older than `beforeMs` whose workflow no longer exists; how many. */
export function deleteStrayControls(sql: Sql, beforeMs: number): Promise<number> {
  return changes(
    sql,
    `DELETE FROM workflow_controls c WHERE c.created_at < $1 AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.workflow_uuid = c.workflow_uuid)`,
    [beforeMs],
  );
}

/** The read view of deletions, on the pool. */
export class PostgresDeletionReads implements DeletionReads {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** The rows deleteAll would delete now, in one statement (one snapshot). */
  async countAll(workflowUUIDs: readonly string[], keepControlsOf: ReadonlySet<string> = new Set()): Promise<DeletedRows> {
    const count = (table: string, column: string, parameter: string): string => `(SELECT count(*) FROM ${table} WHERE ${column} = ANY(${parameter}::text[]))`;
    const row = await firstRow<DeletedRows>(
      this.#sql,
      `SELECT ${count('workflows', 'workflow_uuid', '$1')} AS "workflows", ${count('operations', 'workflow_uuid', '$1')} AS "operations",
              ${count('events', 'workflow_uuid', '$1')} AS "events", ${count('streams', 'workflow_uuid', '$1')} AS "streamEntries",
              ${count('messages', 'destination_uuid', '$1')} AS "messages", ${count('workflow_controls', 'workflow_uuid', '$2')} AS "controls"`,
      [[...workflowUUIDs], workflowUUIDs.filter((uuid) => !keepControlsOf.has(uuid))],
    );
    return { ...row! };
  }

  async countFinishedBefore(statuses: readonly WorkflowStatusName[], beforeMs: number): Promise<number> {
    const row = await firstRow<{ count: number }>(this.#sql, 'SELECT count(*) AS count FROM workflows WHERE status = ANY($1::text[]) AND updated_at < $2', [[...statuses], beforeMs]);
    return row!.count;
  }
}
