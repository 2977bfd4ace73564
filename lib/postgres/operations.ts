// PostgreSQL's operations table (see store/operations.ts): every durable operation of a workflow under
// (workflow uuid, operation index); a row with completed_at NULL is a wait under way.
import { toOperationRecord, type OperationOutcome, type OperationRow } from '../store/operations';
import type { OperationReads, WaitRecord, WaitStart } from '../store/store';
import type { OperationRecord } from '../types';
import { changes, firstRow, rowsOf, type Sql } from './sql';

/** Records an operation that finished in the transaction it started in. */
export async function insertCompleted(sql: Sql, outcome: OperationOutcome, nowMs: number): Promise<void> {
  await sql.query(
    `INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, started_at, completed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
    [outcome.workflowUUID, outcome.operationIndex, outcome.kind, outcome.name, outcome.output, outcome.error, nowMs],
  );
}

/** Records the start of a wait, with its absolute deadline. */
export async function insertStarted(sql: Sql, wait: WaitStart, nowMs: number): Promise<void> {
  await sql.query(
    `INSERT INTO operations (workflow_uuid, operation_index, kind, name, deadline_ms, wait_detail, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [wait.workflowUUID, wait.operationIndex, wait.kind, wait.name, wait.deadlineMs, wait.waitDetail, nowMs],
  );
}

/** Completes a started wait; false when there was none under way. */
export async function completeOperation(sql: Sql, workflowUUID: string, operationIndex: number, output: string | null, error: string | null, nowMs: number): Promise<boolean> {
  return (await changes(
    sql,
    'UPDATE operations SET output = $1, error = $2, completed_at = $3 WHERE workflow_uuid = $4 AND operation_index = $5 AND completed_at IS NULL',
    [output, error, nowMs, workflowUUID, operationIndex],
  )) === 1;
}

/** How many operations the workflow recorded: its highest operation index + 1 (0 for none). */
export async function countOperations(sql: Sql, workflowUUID: string): Promise<number> {
  const row = await firstRow<{ count: number }>(sql, 'SELECT coalesce(max(operation_index) + 1, 0) AS count FROM operations WHERE workflow_uuid = $1', [workflowUUID]);
  return row?.count ?? 0;
}

/** Copies to workflow `fork` the completed operations of `original` with an index below `end`. */
export async function copyOperationsForFork(sql: Sql, original: string, fork: string, end: number): Promise<void> {
  await sql.query(
    `INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, deadline_ms, wait_detail, started_at, completed_at)
     SELECT $1::text, operation_index, kind, name, output, error, deadline_ms, wait_detail, started_at, completed_at
     FROM operations WHERE workflow_uuid = $2 AND operation_index < $3 AND completed_at IS NOT NULL`,
    [fork, original, end],
  );
}

export async function listOperations(sql: Sql, workflowUUID: string): Promise<OperationRecord[]> {
  return (await rowsOf<OperationRow>(sql, 'SELECT * FROM operations WHERE workflow_uuid = $1 ORDER BY operation_index', [workflowUUID])).map(toOperationRecord);
}

/** The recorded operations of every PENDING workflow, by workflow, in one read (for recovery). */
export async function listForPendingWorkflows(sql: Sql): Promise<Map<string, OperationRecord[]>> {
  const rows = await rowsOf<OperationRow>(
    sql,
    `SELECT o.* FROM operations o JOIN workflows w ON w.workflow_uuid = o.workflow_uuid
     WHERE w.status = 'PENDING' ORDER BY o.workflow_uuid, o.operation_index`,
  );
  const byWorkflow = new Map<string, OperationRecord[]>();
  for (const row of rows) {
    const record = toOperationRecord(row);
    const list = byWorkflow.get(record.workflowUUID);
    if (list === undefined) byWorkflow.set(record.workflowUUID, [record]);
    else list.push(record);
  }
  return byWorkflow;
}

/** The read view of operations, on the pool. */
export class PostgresOperationReads implements OperationReads {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  listForWorkflow(workflowUUID: string): Promise<OperationRecord[]> {
    return listOperations(this.#sql, workflowUUID);
  }

  /** Every wait under way of a PENDING workflow (or of one workflow), soonest deadline first; no deadline last. */
  async listWaits(workflowUUID?: string): Promise<WaitRecord[]> {
    const rows = await rowsOf<OperationRow & { workflow_name: string }>(
      this.#sql,
      `SELECT o.*, w.name AS workflow_name FROM workflows w
       JOIN operations o ON o.workflow_uuid = w.workflow_uuid AND o.completed_at IS NULL
       WHERE w.status = 'PENDING' AND ($1::text IS NULL OR w.workflow_uuid = $1::text)
       ORDER BY o.deadline_ms IS NULL, o.deadline_ms, w.created_at, o.workflow_uuid, o.operation_index`,
      [workflowUUID ?? null],
    );
    return rows.map((row) => ({ ...toOperationRecord(row), workflowName: row.workflow_name }));
  }
}
