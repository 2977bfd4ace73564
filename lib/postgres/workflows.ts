// PostgreSQL's workflows and workflow_controls (see store/workflows.ts for what each row means). A
// transaction that records for a workflow, or sends to one, first locks the workflow's row
// (lockWorkflows): that one lock orders whatever touches a workflow (its operations, the messages
// addressed to it, its streams, a cancel or a delete of it) as SQLite's single writer does.
import { toWorkflowRecord, type WorkflowRow } from '../store/workflows';
import type { ControlAction, ControlState, WorkflowFilter, WorkflowReads } from '../store/store';
import type { WorkflowRecord, WorkflowStatusName } from '../types';
import { changes, firstRow, rowsOf, type Sql } from './sql';

type ControlRow = {
  workflow_uuid: string; status: WorkflowStatusName; error: string | null; deadline_ms: number | null; executor_id: string | null; incarnation: string | null;
};

/**
 * What a recording transaction checks of a workflow: which executor holds it (null: none claimed it),
 * and the incarnation (the open engine process) registered under that executor's id now (null: no
 * such row, see executors.ts).
 */
export type HeldState = ControlState & { executorId: string | null; holderIncarnation: string | null };

function toControlState(row: ControlRow): HeldState {
  return { status: row.status, error: row.error, deadlineMs: row.deadline_ms, executorId: row.executor_id, holderIncarnation: row.incarnation };
}

/** The columns of ControlRow, from workflows `w` and its holder's row of executors `e`. */
const CONTROL_COLUMNS = `w.workflow_uuid, w.status, w.error, w.deadline_ms, w.executor_id, e.incarnation
  FROM workflows w LEFT JOIN executors e ON e.executor_id = w.executor_id`;

/**
 * Locks the rows of the workflows that exist among `workflowUUIDs` until the transaction ends, and
 * returns what an operation's check needs of each. FOR NO KEY UPDATE: one holder at a time per row
 * (a cancel's or finish's UPDATE takes the same lock). Rows are locked in UUID order, so two
 * transactions that lock several rows wait for each other rather than deadlock.
 */
export async function lockWorkflows(sql: Sql, workflowUUIDs: readonly string[]): Promise<Map<string, HeldState>> {
  const rows = await rowsOf<ControlRow>(
    sql,
    `SELECT ${CONTROL_COLUMNS} WHERE w.workflow_uuid = ANY($1::text[]) ORDER BY w.workflow_uuid FOR NO KEY UPDATE OF w`,
    [[...new Set(workflowUUIDs)]],
  );
  return new Map(rows.map((row) => [row.workflow_uuid, toControlState(row)]));
}

/** Locks one workflow's row (see lockWorkflows); undefined when there is no such workflow. */
export async function lockWorkflow(sql: Sql, workflowUUID: string): Promise<HeldState | undefined> {
  return (await lockWorkflows(sql, [workflowUUID])).get(workflowUUID);
}

/**
 * Inserts a PENDING workflow, held by `executorId` (the engine that runs it at once; null: for any
 * engine to claim); false (nothing changed) when the UUID exists or belonged to a workflow deleted
 * while CANCELLED.
 */
export async function insertWorkflow(
  sql: Sql, workflowUUID: string, workflowName: string, inputs: string, parentUUID: string | null, deadlineMs: number | null, nowMs: number, executorId: string | null = null,
): Promise<boolean> {
  return (await changes(
    sql,
    `INSERT INTO workflows (workflow_uuid, name, status, inputs, parent_uuid, deadline_ms, created_at, updated_at, executor_id)
     SELECT $1::text, $2::text, 'PENDING', $3::text, $4::text, $5::bigint, $6::bigint, $6::bigint, $7::text
     WHERE NOT EXISTS (SELECT 1 FROM deleted_workflows WHERE workflow_uuid = $1::text)
     ON CONFLICT (workflow_uuid) DO NOTHING`,
    [workflowUUID, workflowName, inputs, parentUUID, deadlineMs, nowMs, executorId],
  )) === 1;
}

/** Records the outcome of a PENDING workflow; false when it was not PENDING. */
export async function finishWorkflow(sql: Sql, workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): Promise<boolean> {
  return (await changes(
    sql,
    `UPDATE workflows SET status = $1, output = $2, error = $3, updated_at = $4 WHERE workflow_uuid = $5 AND status = 'PENDING'`,
    [status, output, error, nowMs, workflowUUID],
  )) === 1;
}

/** Marks a PENDING workflow CANCELLED with `error` as its outcome; false when it was not PENDING. */
export async function cancelWorkflow(sql: Sql, workflowUUID: string, error: string, nowMs: number): Promise<boolean> {
  return (await changes(
    sql,
    `UPDATE workflows SET status = 'CANCELLED', output = NULL, error = $1, updated_at = $2 WHERE workflow_uuid = $3 AND status = 'PENDING'`,
    [error, nowMs, workflowUUID],
  )) === 1;
}

/** Returns a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow to PENDING (outcome, count and deadline cleared); false otherwise. */
export async function resumeWorkflow(sql: Sql, workflowUUID: string, nowMs: number): Promise<boolean> {
  return (await changes(
    sql,
    `UPDATE workflows SET status = 'PENDING', output = NULL, error = NULL, recovery_attempts = 0, deadline_ms = NULL, updated_at = $1
     WHERE workflow_uuid = $2 AND status IN ('CANCELLED', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')`,
    [nowMs, workflowUUID],
  )) === 1;
}

/** Appends a cancel or resume to the log other engines follow. */
export async function insertControl(sql: Sql, workflowUUID: string, action: ControlAction, nowMs: number): Promise<void> {
  await sql.query('INSERT INTO workflow_controls (workflow_uuid, action, created_at) VALUES ($1, $2, $3)', [workflowUUID, action, nowMs]);
}

/** Every descendant (children, their children...), nearest first, with its status. */
export async function descendantsOf(sql: Sql, workflowUUID: string): Promise<{ workflowUUID: string; status: WorkflowStatusName }[]> {
  const rows = await rowsOf<{ workflow_uuid: string; status: WorkflowStatusName }>(
    sql,
    `WITH RECURSIVE tree (workflow_uuid, status, depth) AS (
       SELECT workflow_uuid, status, 1 FROM workflows WHERE parent_uuid = $1
       UNION ALL
       SELECT w.workflow_uuid, w.status, tree.depth + 1 FROM workflows w JOIN tree ON w.parent_uuid = tree.workflow_uuid
     )
     SELECT workflow_uuid, status FROM tree ORDER BY depth, workflow_uuid`,
    [workflowUUID],
  );
  return rows.map((row) => ({ workflowUUID: row.workflow_uuid, status: row.status }));
}

/** Every PENDING workflow, oldest first, each row locked (see lockWorkflows) until the transaction ends. */
export async function lockPendingWorkflows(sql: Sql): Promise<WorkflowRecord[]> {
  const rows = await rowsOf<WorkflowRow>(sql, `SELECT * FROM workflows WHERE status = 'PENDING' ORDER BY created_at, workflow_uuid FOR NO KEY UPDATE`);
  return rows.map(toWorkflowRecord);
}

export async function setRecoveryAttempts(sql: Sql, workflowUUID: string, attempts: number, nowMs: number): Promise<void> {
  await sql.query('UPDATE workflows SET recovery_attempts = $1, updated_at = $2 WHERE workflow_uuid = $3', [attempts, nowMs, workflowUUID]);
}

/** Sets the recovery attempt count of every listed workflow back to zero, in one statement. */
export async function resetRecoveryAttempts(sql: Sql, workflowUUIDs: readonly string[], nowMs: number): Promise<void> {
  await sql.query(
    'UPDATE workflows SET recovery_attempts = 0, updated_at = $1 WHERE workflow_uuid = ANY($2::text[]) AND recovery_attempts <> 0',
    [nowMs, [...workflowUUIDs]],
  );
}

export async function giveUp(sql: Sql, workflowUUID: string, error: string, nowMs: number): Promise<void> {
  await sql.query(
    `UPDATE workflows SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', error = $1, updated_at = $2 WHERE workflow_uuid = $3 AND status = 'PENDING'`,
    [error, nowMs, workflowUUID],
  );
}

export async function getWorkflow(sql: Sql, workflowUUID: string): Promise<WorkflowRecord | undefined> {
  const row = await firstRow<WorkflowRow>(sql, 'SELECT * FROM workflows WHERE workflow_uuid = $1', [workflowUUID]);
  return row === undefined ? undefined : toWorkflowRecord(row);
}

export async function controlStateOf(sql: Sql, workflowUUID: string): Promise<HeldState | undefined> {
  const row = await firstRow<ControlRow>(sql, `SELECT ${CONTROL_COLUMNS} WHERE w.workflow_uuid = $1`, [workflowUUID], 'durablite.control-state');
  return row === undefined ? undefined : toControlState(row);
}

/** The read view of workflows, on the pool: committed rows only. */
export class PostgresWorkflowReads implements WorkflowReads {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  get(workflowUUID: string): Promise<WorkflowRecord | undefined> {
    return getWorkflow(this.#sql, workflowUUID);
  }

  /** In the order they were created (as SqliteStore lists them). */
  async list(filter: WorkflowFilter = {}): Promise<WorkflowRecord[]> {
    const rows = await rowsOf<WorkflowRow>(
      this.#sql,
      `SELECT * FROM workflows WHERE ($1::text IS NULL OR status = $1::text) AND ($2::text IS NULL OR name = $2::text)
       ORDER BY created_at, workflow_uuid LIMIT $3::bigint`,
      [filter.status ?? null, filter.workflowName ?? null, filter.limit ?? null],
    );
    return rows.map(toWorkflowRecord);
  }

  async controlState(workflowUUID: string): Promise<ControlState | undefined> {
    const state = await controlStateOf(this.#sql, workflowUUID);
    return state === undefined ? undefined : { status: state.status, error: state.error, deadlineMs: state.deadlineMs };
  }

  async wasDeletedCancelled(workflowUUID: string): Promise<boolean> {
    return (await firstRow(this.#sql, 'SELECT 1 FROM deleted_workflows WHERE workflow_uuid = $1', [workflowUUID])) !== undefined;
  }

  async deletionTargets(workflowUUID: string, withDescendants: boolean): Promise<{ workflowUUID: string; status: WorkflowStatusName }[] | undefined> {
    return deletionTargets(this.#sql, workflowUUID, withDescendants);
  }
}

/** The workflow with its status and, with `withDescendants`, every descendant's; undefined when there is no such workflow. */
export async function deletionTargets(sql: Sql, workflowUUID: string, withDescendants: boolean): Promise<{ workflowUUID: string; status: WorkflowStatusName }[] | undefined> {
  const state = await controlStateOf(sql, workflowUUID);
  if (state === undefined) return undefined;
  const self = { workflowUUID, status: state.status };
  return withDescendants ? [self, ...(await descendantsOf(sql, workflowUUID))] : [self];
}
