// The workflows table: one row per workflow, its inputs, its deadline and, once finished, its outcome;
// and workflow_controls, the ordered log of cancels and resumes that other processes follow.
import type { SqliteDatabase } from './database';
import type { WorkflowRecord, WorkflowStatusName } from '../types';
import type { ControlAction, ControlState, WorkflowFilter } from './store';

export interface WorkflowRow {
  workflow_uuid: string;
  name: string;
  status: WorkflowStatusName;
  inputs: string;
  output: string | null;
  error: string | null;
  parent_uuid: string | null;
  recovery_attempts: number;
  deadline_ms: number | null;
  created_at: number;
  updated_at: number;
}

export function toWorkflowRecord(row: WorkflowRow): WorkflowRecord {
  return {
    workflowUUID: row.workflow_uuid,
    workflowName: row.name,
    status: row.status,
    inputs: row.inputs,
    output: row.output,
    error: row.error,
    parentUUID: row.parent_uuid,
    recoveryAttempts: row.recovery_attempts,
    deadlineMs: row.deadline_ms,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class WorkflowTable {
  readonly #insert;
  readonly #selectDeletedCancelled;
  readonly #selectStatus;
  readonly #cancel;
  readonly #selectDescendants;
  readonly #resume;
  readonly #insertControl;
  readonly #selectByUUID;
  readonly #exists;
  readonly #finish;
  readonly #selectPending;
  readonly #setRecoveryAttempts;
  readonly #giveUp;
  readonly #resetRecoveryAttempts;
  readonly #list;

  constructor(db: SqliteDatabase) {
    this.#selectDeletedCancelled = db.prepare<[string], { found: number }>('SELECT 1 AS found FROM deleted_workflows WHERE workflow_uuid = ?');
    this.#insert = db.prepare<[{ uuid: string; name: string; inputs: string; parent: string | null; deadline: number | null; now: number }]>(
      `INSERT INTO workflows (workflow_uuid, name, status, inputs, parent_uuid, deadline_ms, created_at, updated_at)
       SELECT @uuid, @name, 'PENDING', @inputs, @parent, @deadline, @now, @now
       WHERE NOT EXISTS (SELECT 1 FROM deleted_workflows WHERE workflow_uuid = @uuid)
       ON CONFLICT (workflow_uuid) DO NOTHING`,
    );
    this.#selectStatus = db.prepare<[string], { status: WorkflowStatusName; error: string | null; deadline_ms: number | null }>(
      'SELECT status, error, deadline_ms FROM workflows WHERE workflow_uuid = ?',
    );
    this.#cancel = db.prepare<[string, number, string]>(
      `UPDATE workflows SET status = 'CANCELLED', output = NULL, error = ?, updated_at = ?
       WHERE workflow_uuid = ? AND status = 'PENDING'`,
    );
    // Every descendant, whatever its status (a finished child may have left a child of its own
    // running), nearest first; the caller keeps the PENDING ones.
    this.#selectDescendants = db.prepare<[string], { workflow_uuid: string; status: WorkflowStatusName }>(
      `WITH RECURSIVE tree (workflow_uuid, status, depth) AS (
         SELECT workflow_uuid, status, 1 FROM workflows WHERE parent_uuid = ?
         UNION ALL
         SELECT w.workflow_uuid, w.status, tree.depth + 1 FROM workflows w JOIN tree ON w.parent_uuid = tree.workflow_uuid
       )
       SELECT workflow_uuid, status FROM tree ORDER BY depth, workflow_uuid`,
    );
    this.#resume = db.prepare<[number, string]>(
      `UPDATE workflows SET status = 'PENDING', output = NULL, error = NULL, recovery_attempts = 0, deadline_ms = NULL, updated_at = ?
       WHERE workflow_uuid = ? AND status IN ('CANCELLED', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')`,
    );
    this.#insertControl = db.prepare<[string, ControlAction, number]>(
      'INSERT INTO workflow_controls (workflow_uuid, action, created_at) VALUES (?, ?, ?)',
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
  insert(workflowUUID: string, workflowName: string, inputs: string, parentUUID: string | null, deadlineMs: number | null, nowMs: number): boolean {
    // Refused too, as taken, when the UUID belonged to a workflow deleted while CANCELLED (migration 7).
    return this.#insert.run({ uuid: workflowUUID, name: workflowName, inputs, parent: parentUUID, deadline: deadlineMs, now: nowMs }).changes === 1;
  }

  /** Whether the UUID belonged to a workflow deleted while CANCELLED: it stays taken (see migration 7). */
  wasDeletedCancelled(workflowUUID: string): boolean {
    return this.#selectDeletedCancelled.get(workflowUUID) !== undefined;
  }

  /** The workflow's status, or undefined when there is no such workflow. */
  statusOf(workflowUUID: string): WorkflowStatusName | undefined {
    return this.#selectStatus.get(workflowUUID)?.status;
  }

  /** What a cancel or an operation's check needs of the row (not its payloads), or undefined. */
  controlState(workflowUUID: string): ControlState | undefined {
    const row = this.#selectStatus.get(workflowUUID);
    return row === undefined ? undefined : { status: row.status, error: row.error, deadlineMs: row.deadline_ms };
  }

  /** Marks a PENDING workflow CANCELLED with `error` as its outcome; false when it was not PENDING. */
  cancel(workflowUUID: string, error: string, nowMs: number): boolean {
    return this.#cancel.run(error, nowMs, workflowUUID).changes === 1;
  }

  /** Every descendant of the workflow (children, their children...), nearest first, with its status. */
  descendants(workflowUUID: string): { workflowUUID: string; status: WorkflowStatusName }[] {
    return this.#selectDescendants.all(workflowUUID).map((row) => ({ workflowUUID: row.workflow_uuid, status: row.status }));
  }

  /**
   * The workflow with its status and, with `withDescendants`, every descendant's: what a delete
   * reaches. Undefined when there is no such workflow.
   */
  deletionTargets(workflowUUID: string, withDescendants: boolean): { workflowUUID: string; status: WorkflowStatusName }[] | undefined {
    const status = this.statusOf(workflowUUID);
    if (status === undefined) return undefined;
    return withDescendants ? [{ workflowUUID, status }, ...this.descendants(workflowUUID)] : [{ workflowUUID, status }];
  }

  /**
   * Returns a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow to PENDING, its outcome,
   * recovery count and deadline cleared; false for any other status.
   */
  resume(workflowUUID: string, nowMs: number): boolean {
    return this.#resume.run(nowMs, workflowUUID).changes === 1;
  }

  /** Appends a cancel or resume to the log other processes follow (see SqliteChangeFeed). */
  insertControl(workflowUUID: string, action: ControlAction, nowMs: number): void {
    this.#insertControl.run(workflowUUID, action, nowMs);
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
