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
import { EXECUTOR_LOCK_KEY } from './recording-functions';
import { changes, firstRow, rowsOf, type Sql } from './sql';

/** The server's time in epoch ms, as SQL. */
export const SERVER_NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** How often an engine beats, and looks for abandoned workflows to take over. */
export const HEARTBEAT_INTERVAL_MS = 1_000;

/** An executor id for an engine that was given none: the host, the process, and a random part. */
export function defaultExecutorId(random: string): string {
  return `${os.hostname()}:${process.pid}:${random}`;
}

/** Who holds an executor id now, as its row tells (see registerExecutor). */
export interface ExecutorHolder {
  hostname: string;
  pid: number;
  incarnation: string | null;
  /** How long ago (by the server's clock) it last beat, in ms. */
  heartbeatAgeMs: number;
}

/**
 * Registers `incarnation` (this engine process) under `executorId`, as alive now: adds the row, or
 * takes it over when it is free to take (its incarnation is this one, or unknown, or its heartbeat is
 * older than the lease; `replacing`: the incarnation the caller found dead). Otherwise changes nothing
 * and returns the live holder, which the caller may wait out (see PostgresStore.registerExecutor).
 */
export async function registerExecutor(sql: Sql, executorId: string, incarnation: string, leaseMs: number, replacing: string | null = null): Promise<ExecutorHolder | null> {
  // Waits for every write under way that checked the id (holds_executor): what they make the id's
  // is committed before this registration is, so the recovery that follows it sees them.
  await sql.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [EXECUTOR_LOCK_KEY, executorId]);
  const taken = await changes(
    sql,
    `INSERT INTO executors (executor_id, hostname, pid, started_at, heartbeat_at, incarnation)
     VALUES ($1, $2, $3, ${SERVER_NOW_MS}, ${SERVER_NOW_MS}, $4)
     ON CONFLICT (executor_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
       started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, incarnation = excluded.incarnation
     WHERE executors.incarnation IS NULL OR executors.incarnation = excluded.incarnation OR executors.incarnation = $6
       OR executors.heartbeat_at < ${SERVER_NOW_MS} - $5::bigint`,
    [executorId, os.hostname(), process.pid, incarnation, leaseMs, replacing],
  );
  if (taken === 1) return null;
  const holder = await firstRow<{ hostname: string; pid: number; incarnation: string | null; age_ms: number }>(
    sql,
    `SELECT hostname, pid, incarnation, ${SERVER_NOW_MS} - heartbeat_at AS age_ms FROM executors WHERE executor_id = $1`,
    [executorId],
  );
  // Gone since (the holder closed): free now.
  if (holder === undefined) return registerExecutor(sql, executorId, incarnation, leaseMs, replacing);
  return { hostname: holder.hostname, pid: holder.pid, incarnation: holder.incarnation, heartbeatAgeMs: Number(holder.age_ms) };
}

/**
 * What a heartbeat found: `renewed`; `gone` (the others declared this executor dead after a pause
 * longer than the lease, or it closed); `superseded` (another engine process registered under the
 * same executor id since: this one must write nothing more).
 */
export type HeartbeatResult = 'renewed' | 'gone' | 'superseded';

/** Renews the executor's lease on every workflow it holds, if `incarnation` still holds the id. One statement. */
export async function heartbeat(sql: Sql, executorId: string, incarnation: string): Promise<HeartbeatResult> {
  const row = await firstRow<{ renewed: boolean; present: boolean }>(
    sql,
    `WITH renewed AS (
       UPDATE executors SET heartbeat_at = ${SERVER_NOW_MS} WHERE executor_id = $1 AND incarnation = $2 RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM renewed) AS renewed, EXISTS (SELECT 1 FROM executors WHERE executor_id = $1) AS present`,
    [executorId, incarnation],
  );
  return row?.renewed ? 'renewed' : row?.present ? 'superseded' : 'gone';
}

/** Removes the executor's row if `incarnation` still holds it: what it held is abandoned at once, for the other engines to claim. */
export async function retireExecutor(sql: Sql, executorId: string, incarnation: string): Promise<void> {
  await sql.query('DELETE FROM executors WHERE executor_id = $1 AND incarnation = $2', [executorId, incarnation]);
}

/**
 * The incarnations registered by this process, true while their engine is open. An executor row held
 * by one of them that ended (a testing kit's crash, then a reopen under the same id) is known dead
 * without waiting for its lease; any other holder's liveness only its heartbeat can tell.
 */
const incarnationsHere = new Map<string, boolean>();

/** Notes that `incarnation` (registered by this process) is open, or ended. */
export function noteIncarnation(incarnation: string, open: boolean): void {
  incarnationsHere.set(incarnation, open);
}

/** Whether `incarnation` is known to have ended: registered by this process, and closed or halted since. */
export function endedHere(incarnation: string | null): boolean {
  return incarnation !== null && incarnationsHere.get(incarnation) === false;
}

/** Whether `incarnation` is an engine of this process that is still open. */
export function openHere(incarnation: string | null): boolean {
  return incarnation !== null && incarnationsHere.get(incarnation) === true;
}

/** SQL: whether the workflow row `w` may be claimed by $1 (never claimed, held by $1, or its executor gone or lapsed past $2 ms). */
const CLAIMABLE = `(w.executor_id IS NULL OR w.executor_id = $1 OR NOT EXISTS (
  SELECT 1 FROM executors e WHERE e.executor_id = w.executor_id AND e.heartbeat_at >= ${SERVER_NOW_MS} - $2::bigint))`;

/**
 * Claims one PENDING workflow for `executorId` if it is claimable (see CLAIMABLE), under its row
 * lock, and `incarnation` still holds the id; true when `executorId` holds it now. A workflow another
 * live executor holds stays its.
 */
export async function claimWorkflow(sql: Sql, workflowUUID: string, executorId: string, incarnation: string, leaseMs: number): Promise<boolean> {
  return (await changes(
    sql,
    `UPDATE workflows w SET executor_id = $1 WHERE w.workflow_uuid = $3 AND w.status = 'PENDING' AND ${CLAIMABLE}
       AND holds_executor($1, $4)`,
    [executorId, leaseMs, workflowUUID, incarnation],
  )) === 1;
}

/**
 * Whether `incarnation` (or no process) holds `executorId` now, the id's advisory lock held shared
 * until the transaction ends (see holds_executor in recording-functions.ts): a write that makes a
 * workflow this executor's checks it first.
 */
export async function holdsExecutor(sql: Sql, executorId: string, incarnation: string): Promise<boolean> {
  return (await firstRow<{ holds: boolean }>(sql, 'SELECT holds_executor($1, $2) AS holds', [executorId, incarnation]))?.holds === true;
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
