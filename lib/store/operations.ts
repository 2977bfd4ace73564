// The operations table: every durable operation of a workflow under (workflow uuid, operation index).
// A row with completed_at NULL is a wait under way; its deadline_ms is what recovery re-arms.
import type { SqliteDatabase } from './database';
import type { OperationKind, OperationPosition, OperationRecord } from '../types';
import type { WaitRecord, WaitStart } from './store';

export interface OperationRow {
  workflow_uuid: string;
  operation_index: number;
  kind: OperationKind;
  name: string;
  output: string | null;
  error: string | null;
  deadline_ms: number | null;
  wait_detail: string | null;
  started_at: number;
  completed_at: number | null;
}

export function toOperationRecord(row: OperationRow): OperationRecord {
  return {
    workflowUUID: row.workflow_uuid,
    operationIndex: row.operation_index,
    kind: row.kind,
    name: row.name,
    output: row.output,
    error: row.error,
    deadlineMs: row.deadline_ms,
    waitDetail: row.wait_detail,
    startedAt: row.started_at,
    completedAt: row.completed_at,
  };
}

/** One operation to record; `output`/`error` are already serialized. */
export type OperationOutcome = OperationPosition & Pick<OperationRecord, 'output' | 'error'>;

export class OperationTable {
  readonly #insertCompleted;
  readonly #insertStarted;
  readonly #complete;
  readonly #continueWait;
  readonly #selectForWorkflow;
  readonly #selectWaiting;
  readonly #selectForPendingWorkflows;
  readonly #selectWaits;
  readonly #selectWaitsOfWorkflow;
  readonly #selectCount;
  readonly #copyForFork;

  constructor(db: SqliteDatabase) {
    this.#selectCount = db.prepare<[string], { count: number }>(
      'SELECT coalesce(max(operation_index) + 1, 0) AS count FROM operations WHERE workflow_uuid = ?',
    );
    // Completed operations only: one under way (a wait, a step between retries) runs anew in the fork.
    this.#copyForFork = db.prepare<{ fork: string; original: string; end: number }>(
      `INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, deadline_ms, wait_detail, started_at, completed_at)
       SELECT :fork, operation_index, kind, name, output, error, deadline_ms, wait_detail, started_at, completed_at
       FROM operations WHERE workflow_uuid = :original AND operation_index < :end AND completed_at IS NOT NULL`,
    );
    this.#insertCompleted = db.prepare<[string, number, string, string, string | null, string | null, number, number]>(
      `INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, started_at, completed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertStarted = db.prepare<[string, number, string, string, number, string, number]>(
      `INSERT INTO operations (workflow_uuid, operation_index, kind, name, deadline_ms, wait_detail, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#complete = db.prepare<[string | null, string | null, number, string, number]>(
      `UPDATE operations SET output = ?, error = ?, completed_at = ?
       WHERE workflow_uuid = ? AND operation_index = ? AND completed_at IS NULL`,
    );
    this.#continueWait = db.prepare<[number, string, string, number]>(
      `UPDATE operations SET deadline_ms = ?, wait_detail = ?
       WHERE workflow_uuid = ? AND operation_index = ? AND completed_at IS NULL`,
    );
    this.#selectForWorkflow = db.prepare<[string], OperationRow>(
      'SELECT * FROM operations WHERE workflow_uuid = ? ORDER BY operation_index',
    );
    this.#selectForPendingWorkflows = db.prepare<[], OperationRow>(
      `SELECT o.* FROM operations o JOIN workflows w ON w.workflow_uuid = o.workflow_uuid
       WHERE w.status = 'PENDING' ORDER BY o.workflow_uuid, o.operation_index`,
    );
    // From the PENDING workflows (an index) to their open operations: the cost grows with the
    // operations of PENDING workflows, not with the whole history.
    const waits = `SELECT o.*, w.name AS workflow_name FROM workflows w
       JOIN operations o ON o.workflow_uuid = w.workflow_uuid AND o.completed_at IS NULL
       WHERE w.status = 'PENDING'`;
    const waitOrder = 'ORDER BY o.deadline_ms IS NULL, o.deadline_ms, w.created_at, o.workflow_uuid, o.operation_index';
    this.#selectWaits = db.prepare<[], OperationRow & { workflow_name: string }>(`${waits} ${waitOrder}`);
    this.#selectWaitsOfWorkflow = db.prepare<[string], OperationRow & { workflow_name: string }>(`${waits} AND w.workflow_uuid = ? ${waitOrder}`);
    this.#selectWaiting = db.prepare<[string], OperationRow>(
      'SELECT * FROM operations WHERE workflow_uuid = ? AND completed_at IS NULL ORDER BY operation_index',
    );
  }

  /** Records an operation that finished in the same transaction it started. */
  insertCompleted(outcome: OperationOutcome, nowMs: number): void {
    this.#insertCompleted.run(
      outcome.workflowUUID, outcome.operationIndex, outcome.kind, outcome.name, outcome.output, outcome.error, nowMs, nowMs,
    );
  }

  /** Records the start of a wait, with its absolute deadline. */
  insertStarted(wait: WaitStart, nowMs: number): void {
    this.#insertStarted.run(wait.workflowUUID, wait.operationIndex, wait.kind, wait.name, wait.deadlineMs, wait.waitDetail, nowMs);
  }

  /** Completes a started wait; returns false when it was already completed. */
  complete(workflowUUID: string, operationIndex: number, output: string | null, error: string | null, nowMs: number): boolean {
    return this.#complete.run(output, error, nowMs, workflowUUID, operationIndex).changes === 1;
  }

  /** Gives a started wait a new deadline and detail (a step's next attempt); false when there is none under way. */
  continueWait(wait: WaitStart): boolean {
    return this.#continueWait.run(wait.deadlineMs, wait.waitDetail, wait.workflowUUID, wait.operationIndex).changes === 1;
  }

  /** How many operations the workflow recorded: its highest operation index + 1 (0 for none). */
  countForWorkflow(workflowUUID: string): number {
    return this.#selectCount.get(workflowUUID)?.count ?? 0;
  }

  /** Copies to workflow `fork` the completed operations of `original` with an index below `end`; how many. */
  copyForFork(original: string, fork: string, end: number): number {
    return this.#copyForFork.run({ fork, original, end }).changes;
  }

  listForWorkflow(workflowUUID: string): OperationRecord[] {
    return this.#selectForWorkflow.all(workflowUUID).map(toOperationRecord);
  }

  /** The recorded operations of every PENDING workflow, by workflow, in one read (for recovery). */
  listForPendingWorkflows(): Map<string, OperationRecord[]> {
    const byWorkflow = new Map<string, OperationRecord[]>();
    for (const row of this.#selectForPendingWorkflows.iterate()) {
      const record = toOperationRecord(row);
      const list = byWorkflow.get(record.workflowUUID);
      if (list === undefined) byWorkflow.set(record.workflowUUID, [record]);
      else list.push(record);
    }
    return byWorkflow;
  }

  /**
   * Every wait under way of a PENDING workflow (or of one workflow), soonest deadline first: the
   * operations started and not completed. A finished workflow's leftover rows are not waits.
   */
  listWaits(workflowUUID?: string): WaitRecord[] {
    const rows = workflowUUID === undefined ? this.#selectWaits.all() : this.#selectWaitsOfWorkflow.all(workflowUUID);
    return rows.map((row) => ({ ...toOperationRecord(row), workflowName: row.workflow_name }));
  }

  /** The waits a workflow has under way (normally zero or one; more with Promise.all). */
  listWaiting(workflowUUID: string): OperationRecord[] {
    return this.#selectWaiting.all(workflowUUID).map(toOperationRecord);
  }
}
