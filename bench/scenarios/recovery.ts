// recovery: ms for Engine.open to bring back 100,000 PENDING workflows blocked in recv, until every
// one is waiting again (the engine is quiet). Floor: opening a connection and reading the same rows
// (each pending workflow with its unfinished operation) with one SELECT.
//
// The state is made the cheap way but from the engine's own rows: one workflow runs for real until it
// blocks in recv, the engine closes, and its two rows (the workflow and its started wait) are cloned
// 99,999 times under new UUIDs in one transaction.
import Database from 'better-sqlite3';
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { figureResult, round, runScenario, summarize, yieldToEventLoop } from '../lib/harness';

const blocked = registerWorkflow('bench.recovery.blocked', async (ctxt: WorkflowContext, orderId: string) => {
  const payment = await ctxt.recv<string>('payment', 86_400);
  return `${orderId}: ${payment ?? 'timed out'}`;
});

const TEMPLATE_UUID = 'recovery-template';

/** Copies the template's workflow row and operation rows to `count - 1` new UUIDs. */
function cloneTemplate(file: string, count: number): void {
  const db = new Database(file);
  const copies = count - 1;
  db.transaction(() => {
    db.prepare(
      `WITH RECURSIVE sequence(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM sequence WHERE n < ?)
       INSERT INTO workflows (workflow_uuid, name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at, updated_at)
       SELECT printf('recovery-%07d', n), name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at + n, updated_at
       FROM sequence, workflows WHERE workflow_uuid = ?`,
    ).run(copies, TEMPLATE_UUID);
    db.prepare(
      `WITH RECURSIVE sequence(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM sequence WHERE n < ?)
       INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, deadline_ms, wait_detail, started_at, completed_at)
       SELECT printf('recovery-%07d', n), operation_index, kind, name, output, error, deadline_ms, wait_detail, started_at, completed_at
       FROM sequence, operations WHERE workflow_uuid = ?`,
    ).run(copies, TEMPLATE_UUID);
  }).immediate();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** The floor: open a connection and read every pending workflow with its unfinished operations. */
function readPendingRows(file: string): { ms: number; rows: number } {
  const startMs = performance.now();
  const db = new Database(file, { readonly: true });
  const rows = db
    .prepare(
      `SELECT w.*, o.operation_index, o.kind, o.name AS operation_name, o.deadline_ms, o.wait_detail
       FROM workflows w LEFT JOIN operations o ON o.workflow_uuid = w.workflow_uuid
       WHERE w.status = 'PENDING' ORDER BY w.created_at, w.workflow_uuid, o.operation_index`,
    )
    .all();
  const ms = performance.now() - startMs;
  db.close();
  return { ms, rows: rows.length };
}

runScenario('recovery', async (context) => {
  const workflows = context.size('workflows', 100_000, 2_000);
  const file = context.databasePath('engine');

  const first = await Engine.open({ database: file, synchronous: context.mode });
  await first.startWorkflow(blocked, { workflowUUID: TEMPLATE_UUID }, 'order-template');
  await yieldToEventLoop();
  await first.close();
  cloneTemplate(file, workflows);

  // The floor first, three times on fresh connections; its median is reported.
  const floorRuns = [readPendingRows(file), readPendingRows(file), readPendingRows(file)];
  const floorMs = summarize(floorRuns.map((run) => run.ms)).p50;

  const startMs = performance.now();
  const engine = await Engine.open({ database: file, synchronous: context.mode });
  const openMs = performance.now() - startMs;
  // Resuming a workflow replays its records and re-checks its recv in microtasks, and no wait starts
  // later without a wake-up: every resumed workflow is waiting again once a turn passes with no wait
  // started (waits are reported from the first read of engine.events, so not counted one by one).
  let waitsStarted = 0;
  engine.events.on('waitStarted', () => waitsStarted++);
  for (let seen = -1; seen !== waitsStarted; ) {
    seen = waitsStarted;
    await yieldToEventLoop();
  }
  const allWaitingMs = performance.now() - startMs;
  const resumed = engine.recovery.resumed.length;
  await engine.close();
  if (resumed !== workflows) throw new Error(`Recovery resumed ${resumed} workflows, expected ${workflows}.`);

  return figureResult(
    context,
    { unit: 'ms', engine: round(allWaitingMs, 1), floor: round(floorMs, 1) },
    { workflows, openReturnedMs: round(openMs, 1), floorRows: floorRuns[0]!.rows },
  );
});
