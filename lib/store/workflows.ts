// The workflows table: one row per workflow, its inputs and, once finished, its outcome.
import type { SqliteDatabase } from './database';
import type { WorkflowRecord, WorkflowStatusName } from '../types';

interface WorkflowRow {
  workflow_uuid: string;
  name: string;
  status: WorkflowStatusName;
  inputs: string;
  output: string | null;
  error: string | null;
  parent_uuid: string | null;
  recovery_attempts: number;
  created_at: number;
  updated_at: number;
}

function toWorkflowRecord(row: WorkflowRow): WorkflowRecord {
  return {
    workflowUUID: row.workflow_uuid,
    workflowName: row.name,
    status: row.status,
    inputs: row.inputs,
    output: row.output,
    error: row.error,
    parentUUID: row.parent_uuid,
    recoveryAttempts: row.recovery_attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Filters for {@link WorkflowTable.list}. */
export interface WorkflowFilter {
  status?: WorkflowStatusName;
  workflowName?: string;
  limit?: number;
}

export class WorkflowTable {
  readonly #insert;
  readonly #selectByUUID;
  readonly #exists;
  readonly #finish;
  readonly #selectPending;
  readonly #setRecoveryAttempts;
  readonly #giveUp;
  readonly #resetRecoveryAttempts;
  readonly #list;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare<[string, string, string, string | null, number, number]>(
      `INSERT INTO workflows (workflow_uuid, name, status, inputs, parent_uuid, created_at, updated_at)
       VALUES (?, ?, 'PENDING', ?, ?, ?, ?) ON CONFLICT (workflow_uuid) DO NOTHING`,
    );
    this.#selectByUUID = db.prepare<[string], WorkflowRow>('SELECT * FROM workflows WHERE workflow_uuid = ?');
    this.#exists = db.prepare<[string], { found: number }>('SELECT 1 AS found FROM workflows WHERE workflow_uuid = ?');
    this.#finish = db.prepare<[WorkflowStatusName, string | null, string | null, number, string]>(
      `UPDATE workflows SET status = ?, output = ?, error = ?, updated_at = ?
       WHERE workflow_uuid = ? AND status = 'PENDING'`,
    );
    this.#selectPending = db.prepare<[], WorkflowRow>(
      `SELECT * FROM workflows WHERE status = 'PENDING' ORDER BY created_at, workflow_uuid`,
    );
    this.#setRecoveryAttempts = db.prepare<[number, number, string]>(
      'UPDATE workflows SET recovery_attempts = ?, updated_at = ? WHERE workflow_uuid = ?',
    );
    this.#resetRecoveryAttempts = db.prepare<[number, string]>(
      `UPDATE workflows SET recovery_attempts = 0, updated_at = ?
       WHERE workflow_uuid IN (SELECT value FROM json_each(?)) AND recovery_attempts <> 0`,
    );
    this.#giveUp = db.prepare<[string, number, string]>(
      `UPDATE workflows SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', error = ?, updated_at = ?
       WHERE workflow_uuid = ? AND status = 'PENDING'`,
    );
    this.#list = db.prepare<{ status: string | null; name: string | null; limit: number }, WorkflowRow>(
      `SELECT * FROM workflows
       WHERE (:status IS NULL OR status = :status) AND (:name IS NULL OR name = :name)
       ORDER BY created_at, workflow_uuid LIMIT :limit`,
    );
  }

  /** Inserts a PENDING workflow; returns false (and changes nothing) when the UUID already exists. */
  insert(workflowUUID: string, workflowName: string, inputs: string, parentUUID: string | null, nowMs: number): boolean {
    return this.#insert.run(workflowUUID, workflowName, inputs, parentUUID, nowMs, nowMs).changes === 1;
  }

  get(workflowUUID: string): WorkflowRecord | undefined {
    const row = this.#selectByUUID.get(workflowUUID);
    return row === undefined ? undefined : toWorkflowRecord(row);
  }

  exists(workflowUUID: string): boolean {
    return this.#exists.get(workflowUUID) !== undefined;
  }

  /** Records the outcome of a PENDING workflow; returns false when it had already finished. */
  finish(workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): boolean {
    return this.#finish.run(status, output, error, nowMs, workflowUUID).changes === 1;
  }

  listPending(): WorkflowRecord[] {
    return this.#selectPending.all().map(toWorkflowRecord);
  }

  setRecoveryAttempts(workflowUUID: string, attempts: number, nowMs: number): void {
    this.#setRecoveryAttempts.run(attempts, nowMs, workflowUUID);
  }

  /** Sets the recovery attempt count of every listed workflow back to zero, in one statement. */
  resetRecoveryAttempts(workflowUUIDs: readonly string[], nowMs: number): void {
    this.#resetRecoveryAttempts.run(nowMs, JSON.stringify(workflowUUIDs));
  }

  giveUp(workflowUUID: string, error: string, nowMs: number): void {
    this.#giveUp.run(error, nowMs, workflowUUID);
  }

  list(filter: WorkflowFilter = {}): WorkflowRecord[] {
    return this.#list
      .all({ status: filter.status ?? null, name: filter.workflowName ?? null, limit: filter.limit ?? -1 })
      .map(toWorkflowRecord);
  }
}
