// prune: engine.pruneWorkflows over 200,000 finished workflows (`--workflows 1000000` for a million)
// while a round trip (handler send → workflow recv → setEvent → handler getEvent, as in roundtrip)
// runs continuously beside it. Three rows:
//   prune-batch      µs the event loop is held per batch: each batch's transaction, timed around the
//                    store's pruneBatch (select the batch, delete its rows from every table, commit).
//                    Floor: the same statements, verbatim from lib/store/deletion.ts, in one
//                    transaction per batch on a raw better-sqlite3 connection of a copy of the same
//                    database, with a setImmediate between batches as the engine does.
//   prune-rate       workflows/s of the whole prune, engine (with the round trip beside it) and floor.
//   prune-roundtrip  µs of the concurrent round trip while the prune runs; its "floor" column is the
//                    same round trip measured just before, with no prune running.
//
// The finished workflows are made the cheap way, from the engine's own rows (as recovery does): one
// workflow runs for real (recv a message, setEvent, return), the engine closes, and its workflow,
// operation, event and message rows are cloned under new UUIDs in one transaction, so each pruned
// workflow deletes rows from four tables. The database file is then copied for the floor.
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { DEFAULT_PRUNE_BATCH_SIZE, FINISHED_STATUSES } from '../../lib/ops/deletion';
import { openDatabase } from '../../lib/store/database';
import { SqliteStore } from '../../lib/store/sqlite-store';
import { figureResult, latencyResult, nowUs, round, runScenario, summarize, yieldToEventLoop, type Mode } from '../lib/harness';

const RECV_TIMEOUT_SECONDS = 86_400;
const TEMPLATE_UUID = 'prune-template';
const ECHO_UUID = 'prune-echo';

const finished = registerWorkflow('bench.prune.finished', async (ctxt: WorkflowContext) => {
  const message = await ctxt.recv<string>(null, 60);
  await ctxt.setEvent('done', message);
  return message;
});

const echo = registerWorkflow('bench.prune.echo', async (ctxt: WorkflowContext) => {
  for (;;) {
    const message = await ctxt.recv<number>(null, RECV_TIMEOUT_SECONDS);
    await ctxt.setEvent(`reply-${message}`, message);
  }
});

/** Each table's columns, the AUTOINCREMENT id left out and the workflow's UUID column replaced. */
function cloneStatement(db: Database.Database, table: string, uuidColumn: string): string {
  const columns = (db.pragma(`table_info(${table})`) as { name: string; type: string; pk: number }[])
    .filter((column) => !(column.pk === 1 && column.type === 'INTEGER'))
    .map((column) => column.name);
  const selected = columns.map((column) => (column === uuidColumn ? `printf('prune-%07d', n)` : column));
  return `WITH RECURSIVE sequence(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM sequence WHERE n < ?)
    INSERT INTO ${table} (${columns.join(', ')}) SELECT ${selected.join(', ')} FROM sequence, ${table} WHERE ${uuidColumn} = ?`;
}

/** Copies the template's rows in workflows, operations, events and messages to `count - 1` new UUIDs. */
function cloneTemplate(file: string, count: number): void {
  const db = new Database(file);
  db.transaction(() => {
    for (const [table, column] of [
      ['workflows', 'workflow_uuid'],
      ['operations', 'workflow_uuid'],
      ['events', 'workflow_uuid'],
      ['messages', 'destination_uuid'],
    ] as const) {
      db.prepare(cloneStatement(db, table, column)).run(count - 1, TEMPLATE_UUID);
    }
  }).immediate();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/**
 * The floor: the engine's prune batches (lib/store/deletion.ts, statements verbatim) on a raw
 * connection, one transaction each, a setImmediate between them; returns each batch's time in µs.
 */
async function rawPrune(file: string, mode: Mode, batchSize: number, beforeMs: number): Promise<{ batchesUs: number[]; deleted: number; totalMs: number }> {
  const db = openDatabase(file, mode);
  const of = (table: string, column: string): Database.Statement<[string]> => db.prepare(`DELETE FROM ${table} WHERE ${column} IN (SELECT value FROM json_each(?))`);
  const deleteWorkflows = of('workflows', 'workflow_uuid');
  const deleteOperations = of('operations', 'workflow_uuid');
  const deleteEvents = of('events', 'workflow_uuid');
  const deleteStreams = of('streams', 'workflow_uuid');
  const deleteMessages = of('messages', 'destination_uuid');
  const deleteControls = of('workflow_controls', 'workflow_uuid');
  const keepCancelledUUIDs = db.prepare<[string]>(
    `INSERT OR IGNORE INTO deleted_workflows (workflow_uuid, cancelled_at)
     SELECT workflow_uuid, updated_at FROM workflows WHERE workflow_uuid IN (SELECT value FROM json_each(?)) AND status = 'CANCELLED'`,
  );
  const selectFinished = db.prepare<[string, number, number], { workflow_uuid: string }>(
    `SELECT workflow_uuid FROM workflows
     WHERE status IN (SELECT value FROM json_each(?)) AND updated_at < ? LIMIT ?`,
  );
  const statuses = JSON.stringify(FINISHED_STATUSES);
  const batch = db.transaction((): number => {
    const list = JSON.stringify(selectFinished.all(statuses, beforeMs, batchSize).map((row) => row.workflow_uuid));
    keepCancelledUUIDs.run(list);
    deleteOperations.run(list);
    deleteEvents.run(list);
    deleteStreams.run(list);
    deleteMessages.run(list);
    deleteControls.run(list);
    return deleteWorkflows.run(list).changes;
  });
  const batchesUs: number[] = [];
  let deleted = 0;
  const startMs = performance.now();
  for (;;) {
    const startUs = nowUs();
    const count = batch.immediate();
    batchesUs.push(nowUs() - startUs);
    deleted += count;
    if (count < batchSize) break;
    await yieldToEventLoop();
  }
  const totalMs = performance.now() - startMs;
  db.close();
  return { batchesUs, deleted, totalMs };
}

runScenario('prune', async (context) => {
  const workflows = context.size('workflows', 200_000, 1_000);
  const batchSize = context.size('batch', DEFAULT_PRUNE_BATCH_SIZE, DEFAULT_PRUNE_BATCH_SIZE);
  const baselineSamples = context.size('samples', 2_000, 100);
  const file = context.databasePath('engine');
  const floorFile = context.databasePath('floor');

  const first = await Engine.open({ database: file, synchronous: context.mode });
  const template = await first.startWorkflow(finished, { workflowUUID: TEMPLATE_UUID });
  await first.send(TEMPLATE_UUID, 'paid');
  await template.getResult();
  await first.close();
  const setupStartMs = performance.now();
  cloneTemplate(file, workflows);
  const setupMs = performance.now() - setupStartMs;
  fs.copyFileSync(file, floorFile);
  const beforeMs = Date.now() + 1;

  // Each batch's time, around the store's pruneBatch (its transaction and commit, synchronous).
  const batchesUs: number[] = [];
  const pruneBatch = SqliteStore.prototype.pruneBatch;
  SqliteStore.prototype.pruneBatch = function timedPruneBatch(this: SqliteStore, ...args: Parameters<SqliteStore['pruneBatch']>) {
    const startUs = nowUs();
    try {
      return pruneBatch.apply(this, args);
    } finally {
      batchesUs.push(nowUs() - startUs);
    }
  };

  const engine = await Engine.open({ database: file, synchronous: context.mode });
  await engine.startWorkflow(echo, { workflowUUID: ECHO_UUID });
  let nextMessage = 0;
  // A round trip resolves in promise jobs alone (its commits are queued as microtasks), so a loop of
  // them never lets the event loop turn: each round trip starts from a setImmediate, as a request
  // arriving from I/O would, with only the round trip itself inside the span.
  const roundTrip = async (): Promise<number> => {
    await yieldToEventLoop();
    const message = nextMessage++;
    const startUs = nowUs();
    await engine.send(ECHO_UUID, message);
    await engine.getEvent<number>(ECHO_UUID, `reply-${message}`, 60);
    return nowUs() - startUs;
  };
  for (let warmup = 0; warmup < Math.min(200, baselineSamples); warmup++) await roundTrip();
  const alone: number[] = [];
  for (let sample = 0; sample < baselineSamples; sample++) alone.push(await roundTrip());

  const during: number[] = [];
  let pruning = true;
  const driver = (async () => {
    while (pruning) during.push(await roundTrip());
  })();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const startMs = performance.now();
  const result = await engine.pruneWorkflows({ finishedBefore: beforeMs, batchSize });
  const pruneMs = performance.now() - startMs;
  loopDelay.disable();
  pruning = false;
  await driver;
  await engine.close();
  SqliteStore.prototype.pruneBatch = pruneBatch;
  if (result.deleted !== workflows) throw new Error(`The prune deleted ${result.deleted} workflows, expected ${workflows}.`);

  const floor = await rawPrune(floorFile, context.mode, batchSize, beforeMs);
  if (floor.deleted !== workflows) throw new Error(`The raw prune deleted ${floor.deleted} workflows, expected ${workflows}.`);

  const rows = Object.values(result.rows).reduce((sum, count) => sum + count, 0);
  const batch = summarize(batchesUs);
  const floorBatch = summarize(floor.batchesUs);
  const duringSummary = summarize(during);
  const aloneSummary = summarize(alone);
  return [
    latencyResult(context, batchesUs, floor.batchesUs, {
      workflows,
      batchSize,
      batches: result.batches,
      maxUs: round(batch.max, 1),
      floorMaxUs: round(floorBatch.max, 1),
      eventLoopDelayMaxMs: round(loopDelay.max / 1e6, 1),
      eventLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 1),
      setupMs: round(setupMs, 0),
    }),
    figureResult(
      { ...context, name: 'prune-rate' },
      { unit: 'workflows/s', engine: round((workflows / pruneMs) * 1000, 0), floor: round((workflows / floor.totalMs) * 1000, 0) },
      { pruneMs: round(pruneMs, 0), floorPruneMs: round(floor.totalMs, 0), rows, rowsPerSecond: round((rows / pruneMs) * 1000, 0) },
    ),
    latencyResult({ ...context, name: 'prune-roundtrip' }, during, alone, { maxUs: round(duringSummary.max, 1), floorMaxUs: round(aloneSummary.max, 1) }),
  ];
});
