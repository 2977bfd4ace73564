// Many engines on one PostgreSQL schema. Each Engine is an executor: a row of `executors` whose
// heartbeat it renews every second or so. A PENDING workflow is held by one executor (workflows.
// executor_id) and run only by it; it is abandoned, and any engine may claim it, when it was never
// claimed (a Client started, resumed or forked it), when its executor closed (its row is gone), or
// when its executor's heartbeat is older than the lease (the engine died, or lost the database for
// that long). Times are the server's (`clock_timestamp()`), never an engine's own clock, so engines
// whose clocks disagree still agree on whose lease lapsed.
//
// A claim is an UPDATE of the workflow's row under its row lock (SKIP LOCKED for the scan), so two
// engines never both win it. An engine that was declared dead and comes back finds that its
// recording transactions are refused (PostgresStore fences each one on executor_id), and that its
// heartbeat finds no row: it stops.
import os from 'node:os';
import { toWorkflowRecord, type WorkflowRow } from '../store/workflows';
import type { WorkflowRecord } from '../types';
import { changes, rowsOf, type Sql } from './sql';

/** The server's time in epoch ms, as SQL. */
export const SERVER_NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** How often an engine beats, and looks for abandoned workflows to take over. */
export const HEARTBEAT_INTERVAL_MS = 1_000;

/** An executor id for an engine that was given none: the host, the process, and a random part. */
export function defaultExecutorId(random: string): string {
  return `${os.hostname()}:${process.pid}:${random}`;
}

/** Adds this engine's row (or renews it, when an engine of this id opens again), as alive now. */
export async function registerExecutor(sql: Sql, executorId: string): Promise<void> {
  await sql.query(
    `INSERT INTO executors (executor_id, hostname, pid, started_at, heartbeat_at)
     VALUES ($1, $2, $3, ${SERVER_NOW_MS}, ${SERVER_NOW_MS})
     ON CONFLICT (executor_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
       started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
    [executorId, os.hostname(), process.pid],
  );
}

/** Renews the executor's lease on every workflow it holds; false when its row is gone (declared dead, or closed). */
export async function heartbeat(sql: Sql, executorId: string): Promise<boolean> {
  return (await changes(sql, `UPDATE executors SET heartbeat_at = ${SERVER_NOW_MS} WHERE executor_id = $1`, [executorId])) === 1;
}

/** Removes the executor's row: what it held is abandoned at once, for the other engines to claim. */
export async function retireExecutor(sql: Sql, executorId: string): Promise<void> {
  await sql.query('DELETE FROM executors WHERE executor_id = $1', [executorId]);
}

/** SQL: whether the workflow row `w` may be claimed by $1 (never claimed, held by $1, or its executor gone or lapsed past $2 ms). */
const CLAIMABLE = `(w.executor_id IS NULL OR w.executor_id = $1 OR NOT EXISTS (
  SELECT 1 FROM executors e WHERE e.executor_id = w.executor_id AND e.heartbeat_at >= ${SERVER_NOW_MS} - $2::bigint))`;

/**
 * Claims one PENDING workflow for `executorId` if it is claimable (see CLAIMABLE), under its row
 * lock; true when `executorId` holds it now. A workflow another live executor holds stays its.
 */
export async function claimWorkflow(sql: Sql, workflowUUID: string, executorId: string, leaseMs: number): Promise<boolean> {
  return (await changes(
    sql,
    `UPDATE workflows w SET executor_id = $1 WHERE w.workflow_uuid = $3 AND w.status = 'PENDING' AND ${CLAIMABLE}`,
    [executorId, leaseMs, workflowUUID],
  )) === 1;
}

/**
 * Claims up to `limit` abandoned PENDING workflows for `executorId`, oldest first, skipping rows
 * another transaction holds locked, and returns them. At open (`atOpen`), its own are claimed too
 * (a restarted engine of a stable id takes them back), and no attempt is counted (the recovery pass
 * counts its own); later (a beat), only others' are, and one taken from another executor counts a
 * recovery attempt (it may be what killed that engine), a never-claimed one does not. Then forgets
 * the dead executors that hold nothing more.
 */
export async function claimAbandoned(sql: Sql, executorId: string, leaseMs: number, limit: number, atOpen: boolean): Promise<WorkflowRecord[]> {
  const rows = await rowsOf<WorkflowRow>(
    sql,
    `WITH taken AS (
       SELECT w.workflow_uuid, w.executor_id AS previous FROM workflows w
       WHERE w.status = 'PENDING' AND ${CLAIMABLE} AND ($4 OR w.executor_id IS DISTINCT FROM $1)
       ORDER BY w.created_at, w.workflow_uuid LIMIT $3 FOR NO KEY UPDATE SKIP LOCKED
     )
     UPDATE workflows w SET executor_id = $1,
       recovery_attempts = CASE WHEN NOT $4 AND taken.previous IS NOT NULL AND taken.previous <> $1 THEN w.recovery_attempts + 1 ELSE w.recovery_attempts END
     FROM taken WHERE w.workflow_uuid = taken.workflow_uuid
     RETURNING w.*`,
    [executorId, leaseMs, limit, atOpen],
  );
  await sql.query(
    `DELETE FROM executors e WHERE e.heartbeat_at < ${SERVER_NOW_MS} - $1::bigint
       AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.executor_id = e.executor_id AND w.status = 'PENDING')`,
    [leaseMs],
  );
  return rows.map(toWorkflowRecord).sort((a, b) => a.createdAt - b.createdAt || (a.workflowUUID < b.workflowUUID ? -1 : 1));
}
