// load: 100,000 workflows running at once in 50,000 pairs (A sends B a message, B receives it and
// publishes an event, A waits for that event), started together and awaited together; workflows/s
// from the first start to the last result, with the process's peak memory. Every message is checked
// to have arrived exactly once. Floor: the same rows written by the engine's statements directly,
// each phase (start, send, recv, setEvent, getEvent, finish) one transaction for all pairs.
import Database from 'better-sqlite3';
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, openFloorDatabase } from '../lib/floor';
import { collectGarbage, figureResult, peakRssMebibytes, round, rssMebibytes, runScenario } from '../lib/harness';
import { countCommits } from '../lib/probe';

interface Greeting {
  from: string;
  pair: number;
}

const INITIATOR = 'bench.load.initiator';
const RESPONDER = 'bench.load.responder';

const initiator = registerWorkflow(INITIATOR, async (ctxt: WorkflowContext, partnerUUID: string, pair: number) => {
  await ctxt.send<Greeting>(partnerUUID, { from: ctxt.workflowUUID, pair }, 'greeting');
  return ctxt.getEvent<string>(partnerUUID, 'reply', 3_600);
});

const responder = registerWorkflow(RESPONDER, async (ctxt: WorkflowContext) => {
  const greeting = await ctxt.recv<Greeting>('greeting', 3_600);
  await ctxt.setEvent('reply', `hello ${greeting?.from}`);
  return greeting;
});

/** Throws unless every responder got exactly one message, consumed once, and every initiator its reply. */
function checkExactlyOnce(database: string, pairs: number, results: unknown[]): void {
  // A connection of the scenario's own: the engine's commits, as any reader of the file sees them.
  const db = new Database(database, { readonly: true });
  const counts = db
    .prepare(
      `SELECT count(DISTINCT destination_uuid) AS destinations, count(*) AS messages, sum(consumed_at IS NOT NULL) AS consumed FROM messages`,
    )
    .get() as { destinations: number; messages: number; consumed: number };
  db.close();
  if (counts.destinations !== pairs || counts.messages !== pairs || counts.consumed !== pairs) {
    throw new Error(`Expected ${pairs} messages, one per responder, each consumed once; found ${JSON.stringify(counts)}.`);
  }
  for (let pair = 0; pair < pairs; pair++) {
    const greeting = results[pair] as Greeting | null;
    if (greeting?.pair !== pair || results[pairs + pair] !== `hello a-${pair}`) {
      throw new Error(`Pair ${pair} did not exchange its message and reply: ${JSON.stringify([results[pair], results[pairs + pair]])}.`);
    }
  }
}

runScenario('load', async (context) => {
  const workflows = 2 * Math.ceil(context.size('workflows', 100_000, 2_000) / 2);
  const pairs = workflows / 2;
  const rssBeforeMiB = rssMebibytes();

  const database = context.databasePath('engine');
  const engine = await Engine.open({ database, synchronous: context.mode });
  const commits = countCommits(engine);
  collectGarbage();
  const engineStartMs = performance.now();
  const handles = await Promise.all([
    ...Array.from({ length: pairs }, (_, pair) => engine.startWorkflow(responder, { workflowUUID: `b-${pair}` })),
    ...Array.from({ length: pairs }, (_, pair) => engine.startWorkflow(initiator, { workflowUUID: `a-${pair}` }, `b-${pair}`, pair)),
  ]);
  const results = await Promise.all(handles.map((handle) => handle.getResult()));
  const engineMs = performance.now() - engineStartMs;
  const peakEngineRssMiB = peakRssMebibytes();
  const engineCommits = commits();
  checkExactlyOnce(database, pairs, results);
  await engine.close();

  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  // lib/store/workflows.ts, verbatim.
  const finishWorkflow = floor.db.prepare<[string, string | null, string | null, number, string]>(
    `UPDATE workflows SET status = ?, output = ?, error = ?, updated_at = ?
       WHERE workflow_uuid = ? AND status = 'PENDING'`,
  );
  const phase = (body: (pair: number, nowMs: number) => void) => floor.db.transaction(() => {
    const nowMs = Date.now();
    for (let pair = 0; pair < pairs; pair++) body(pair, nowMs);
  });
  const phases = [
    phase((pair, nowMs) => {
      floor.insertWorkflow.run(`b-${pair}`, RESPONDER, '[]', null, nowMs, nowMs);
      floor.insertWorkflow.run(`a-${pair}`, INITIATOR, JSON.stringify([`b-${pair}`, pair]), null, nowMs, nowMs);
    }),
    phase((pair, nowMs) => {
      floor.workflowExists.get(`b-${pair}`);
      floor.insertMessage.run(`b-${pair}`, 'greeting', JSON.stringify({ from: `a-${pair}`, pair }), null, nowMs);
      floor.insertCompletedOperation.run(`a-${pair}`, 0, 'send', 'send', null, null, nowMs, nowMs);
    }),
    phase((pair, nowMs) => {
      const oldest = floor.selectOldestMessage.get(`b-${pair}`, 'greeting')!;
      floor.markMessageConsumed.run(nowMs, oldest.message_id);
      floor.insertCompletedOperation.run(`b-${pair}`, 0, 'recv', 'recv', oldest.message, null, nowMs, nowMs);
    }),
    phase((pair, nowMs) => {
      floor.insertEvent.run(`b-${pair}`, 'reply', JSON.stringify(`hello a-${pair}`), nowMs);
      floor.insertCompletedOperation.run(`b-${pair}`, 1, 'setEvent', 'setEvent', null, null, nowMs, nowMs);
    }),
    phase((pair, nowMs) => {
      const value = floor.selectEventValue.get(`b-${pair}`, 'reply')!.value;
      floor.insertCompletedOperation.run(`a-${pair}`, 1, 'getEvent', 'getEvent', value, null, nowMs, nowMs);
    }),
    phase((pair, nowMs) => {
      finishWorkflow.run('SUCCESS', JSON.stringify({ from: `a-${pair}`, pair }), null, nowMs, `b-${pair}`);
      finishWorkflow.run('SUCCESS', JSON.stringify(`hello a-${pair}`), null, nowMs, `a-${pair}`);
    }),
  ];
  collectGarbage();
  const floorStartMs = performance.now();
  for (const run of phases) {
    run.immediate();
    await null;
  }
  const floorMs = performance.now() - floorStartMs;
  floor.db.close();

  return figureResult(
    context,
    { unit: 'workflows/s', engine: Math.round((workflows / engineMs) * 1000), floor: Math.round((workflows / floorMs) * 1000) },
    {
      workflows,
      pairs,
      engineMs: round(engineMs, 0),
      floorMs: round(floorMs, 0),
      engineCommits,
      floorCommits: phases.length,
      rssBeforeMiB,
      peakRssMiB: peakEngineRssMiB,
    },
  );
});
