// checkout: µs from a handler starting a workflow to its getEvent resolving with the event the
// workflow publishes first (the "start checkout, return the payment URL" pattern). The workflow then
// returns. Floor: the raw inserts of the workflow row and of the event (with setEvent's operation
// record) in one commit, as the engine's group commit writes them, then a promise hand-off.
// On PostgreSQL (`--store postgres`): the engine on a fresh database, and as floor one commit of a
// plain single-row INSERT on one connection, then a promise hand-off.
import { nanoid } from 'nanoid';
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, openFloorDatabase } from '../lib/floor';
import { engineOptions, latencyResult, nowUs, runScenario, type ScenarioContext } from '../lib/harness';
import { PostgresFloor } from '../lib/postgres-floor';
import { alternateCountingCommits } from '../lib/probe';

const WORKFLOW_NAME = 'bench.checkout.order';

function paymentUrl(orderId: string): string {
  return `https://pay.example.com/session/${orderId}`;
}

const checkout = registerWorkflow(WORKFLOW_NAME, async (ctxt: WorkflowContext, orderId: string) => {
  await ctxt.setEvent('payment_url', paymentUrl(orderId));
  return orderId;
});

/** The engine's side: one checkout per iteration, µs each. */
async function openEngineSide(context: ScenarioContext<'FULL' | 'NORMAL' | 'POSTGRES'>): Promise<{ engine: Engine; run: (iterations: number) => Promise<number[]> }> {
  const engine = await Engine.open(engineOptions(context, 'engine'));
  let nextEngineOrder = 0;
  const engineRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const orderId = `order-${nextEngineOrder++}`;
      const startUs = nowUs();
      const handle = await engine.startWorkflow(checkout, undefined, orderId);
      await engine.getEvent<string>(handle.getWorkflowUUID(), 'payment_url', 60);
      latencies.push(nowUs() - startUs);
    }
    return latencies;
  };
  return { engine, run: engineRun };
}

runScenario(
  'checkout',
  async (context) => {
    const samples = context.size('samples', 10_000, 300);
    const warmup = context.size('warmup', 1_000, 50);
    if (context.mode === 'POSTGRES') return onPostgres(context as ScenarioContext<'POSTGRES'>, samples, warmup);
    return onSqlite(context as ScenarioContext<'FULL' | 'NORMAL'>, samples, warmup);
  },
  { modes: ['FULL', 'NORMAL', 'POSTGRES'] },
);

/** The checkout on a SQLite file, beside the engine's statements in one commit. */
async function onSqlite(context: ScenarioContext<'FULL' | 'NORMAL'>, samples: number, warmup: number) {
  const { engine, run: engineRun } = await openEngineSide(context);

  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  const startAndSetEvent = floor.db.transaction((workflowUUID: string, inputs: string, value: string) => {
    floor.insertWorkflow.run(workflowUUID, WORKFLOW_NAME, inputs, null, Date.now(), Date.now());
    floor.insertEvent.run(workflowUUID, 'payment_url', value, Date.now());
    floor.insertCompletedOperation.run(workflowUUID, 0, 'setEvent', 'setEvent', null, null, Date.now(), Date.now());
  });
  let nextFloorOrder = 0;
  const floorRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const orderId = `order-${nextFloorOrder++}`;
      const startUs = nowUs();
      // The same id shape as the engine's default (nanoid), so both sides insert at random places.
      const workflowUUID = nanoid();
      startAndSetEvent.immediate(workflowUUID, JSON.stringify([orderId]), JSON.stringify(paymentUrl(orderId)));
      await new Promise<void>((resolve) => resolve());
      latencies.push(nowUs() - startUs);
    }
    return latencies;
  };

  const measured = await alternateCountingCommits(engine, { samples, warmup, engine: engineRun, floor: floorRun });
  const engineCommitsPerOperation = measured.engineCommitsPerSample;
  await engine.close();
  floor.db.close();
  return latencyResult(context, measured.engine, measured.floor, { engineCommitsPerOperation, floorCommitsPerOperation: 1 });
}

/** The checkout on PostgreSQL, beside one single-row INSERT commit on one connection. */
async function onPostgres(context: ScenarioContext<'POSTGRES'>, samples: number, warmup: number) {
  const { engine, run: engineRun } = await openEngineSide(context);
  const floor = await PostgresFloor.open(context.postgresUrl);
  let nextFloorOrder = 0;
  const floorRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const orderId = `order-${nextFloorOrder++}`;
      const startUs = nowUs();
      await floor.commit(nanoid(), JSON.stringify(paymentUrl(orderId)));
      await new Promise<void>((resolve) => resolve());
      latencies.push(nowUs() - startUs);
    }
    return latencies;
  };
  const measured = await alternateCountingCommits(engine, { samples, warmup, engine: engineRun, floor: floorRun });
  await engine.close();
  await floor.close();
  return latencyResult(context, measured.engine, measured.floor, { engineCommitsPerOperation: measured.engineCommitsPerSample, floorCommitsPerOperation: 1 });
}
