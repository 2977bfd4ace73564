// roundtrip: handler send → workflow recv → workflow setEvent (a new key) → handler getEvent, p50/p99 µs.
// Floor: the same statements and commits the engine runs for one round trip, in the same order,
// directly with better-sqlite3, with a promise hand-off where the engine hands over between sides.
// On PostgreSQL (`--store postgres`): the engine on a fresh database, and as floor the same number of
// commits, each a plain single-row INSERT on one connection, then a read by primary key.
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, NO_TOPIC, openFloorDatabase } from '../lib/floor';
import { engineOptions, latencyResult, nowUs, runScenario, type ScenarioContext } from '../lib/harness';
import { PostgresFloor } from '../lib/postgres-floor';
import { alternateCountingCommits } from '../lib/probe';

const RECV_TIMEOUT_SECONDS = 86_400;

const echo = registerWorkflow('bench.roundtrip.echo', async (ctxt: WorkflowContext) => {
  for (;;) {
    const message = await ctxt.recv<number>(null, RECV_TIMEOUT_SECONDS);
    await ctxt.setEvent(`reply-${message}`, message);
  }
});

function handOff(): Promise<void> {
  return new Promise((resolve) => resolve());
}

/** The engine's side: one round trip per iteration, µs each. */
async function openEngineSide(context: ScenarioContext<'FULL' | 'NORMAL' | 'POSTGRES'>): Promise<{ engine: Engine; run: (iterations: number) => Promise<number[]> }> {
  const engine = await Engine.open(engineOptions(context, 'engine'));
  const handle = await engine.startWorkflow(echo, { workflowUUID: 'roundtrip-echo' });
  const workflowUUID = handle.getWorkflowUUID();
  let nextEngineMessage = 0;
  const engineRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const message = nextEngineMessage++;
      const startUs = nowUs();
      await engine.send(workflowUUID, message);
      await engine.getEvent<number>(workflowUUID, `reply-${message}`, 60);
      latencies.push(nowUs() - startUs);
    }
    return latencies;
  };
  return { engine, run: engineRun };
}

runScenario(
  'roundtrip',
  async (context) => {
    const samples = context.size('samples', 10_000, 300);
    const warmup = context.size('warmup', 1_000, 50);
    if (context.mode === 'POSTGRES') return onPostgres(context as ScenarioContext<'POSTGRES'>, samples, warmup);
    return onSqlite(context as ScenarioContext<'FULL' | 'NORMAL'>, samples, warmup);
  },
  { modes: ['FULL', 'NORMAL', 'POSTGRES'] },
);

/** The round trip on a SQLite file, beside the engine's own statements in the engine's commits. */
async function onSqlite(context: ScenarioContext<'FULL' | 'NORMAL'>, samples: number, warmup: number) {
  const { engine, run: engineRun } = await openEngineSide(context);

  // Per round trip the engine commits three times, and the floor does the same statements in the
  // same three commits (traced from lib/store with group commit): (1) the workflow's recv starting its
  // wait (look for a message, record the started wait) shares a commit with the handler's send
  // (workflow exists? + insert message); (2) the woken recv's consume-and-record; (3) setEvent
  // (insert event + record the operation); then the handler's getEvent reads the value.
  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  const floorUUID = 'roundtrip-echo';
  const waitDetail = JSON.stringify({ topic: null });
  const deadlineMs = Date.now() + RECV_TIMEOUT_SECONDS * 1000;
  floor.insertWorkflow.run(floorUUID, 'bench.roundtrip.echo', '[]', null, Date.now(), Date.now());
  const startRecvAndSend = floor.db.transaction((operationIndex: number, message: string) => {
    floor.selectOldestMessage.get(floorUUID, NO_TOPIC);
    floor.insertStartedOperation.run(floorUUID, operationIndex, 'recv', 'recv', deadlineMs, waitDetail, Date.now());
    floor.workflowExists.get(floorUUID);
    floor.insertMessage.run(floorUUID, NO_TOPIC, message, null, Date.now());
  });
  const consume = floor.db.transaction((operationIndex: number) => {
    const oldest = floor.selectOldestMessage.get(floorUUID, NO_TOPIC)!;
    floor.markMessageConsumed.run(Date.now(), oldest.message_id);
    floor.completeOperation.run(oldest.message, null, Date.now(), floorUUID, operationIndex);
    return oldest.message;
  });
  const setEvent = floor.db.transaction((operationIndex: number, key: string, value: string) => {
    floor.insertEvent.run(floorUUID, key, value, Date.now());
    floor.insertCompletedOperation.run(floorUUID, operationIndex, 'setEvent', 'setEvent', null, null, Date.now(), Date.now());
  });
  let floorOperationIndex = 0;
  let nextFloorMessage = 0;
  const floorRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const message = nextFloorMessage++;
      const key = `reply-${message}`;
      const startUs = nowUs();
      startRecvAndSend.immediate(floorOperationIndex, JSON.stringify(message));
      await handOff();
      const received = consume.immediate(floorOperationIndex);
      await handOff();
      setEvent.immediate(floorOperationIndex + 1, key, received);
      await handOff();
      floor.selectEventValue.get(floorUUID, key);
      latencies.push(nowUs() - startUs);
      floorOperationIndex += 2;
    }
    return latencies;
  };

  const measured = await alternateCountingCommits(engine, { samples, warmup, engine: engineRun, floor: floorRun });
  const engineCommitsPerOperation = measured.engineCommitsPerSample;
  await engine.close();
  floor.db.close();
  return latencyResult(context, measured.engine, measured.floor, { engineCommitsPerOperation, floorCommitsPerOperation: 3 });
}

/** The round trip on PostgreSQL, beside three single-row INSERT commits and a read on one connection. */
async function onPostgres(context: ScenarioContext<'POSTGRES'>, samples: number, warmup: number) {
  const { engine, run: engineRun } = await openEngineSide(context);
  const floor = await PostgresFloor.open(context.postgresUrl);
  let nextFloorMessage = 0;
  const floorRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const message = String(nextFloorMessage++);
      const startUs = nowUs();
      await floor.commit('message', message); // the send (and the recv's wait)
      await handOff();
      await floor.commit('consumed', message); // the recv's consume-and-record
      await handOff();
      const id = await floor.commit(`reply-${message}`, message); // the setEvent
      await handOff();
      await floor.read(id); // the getEvent
      latencies.push(nowUs() - startUs);
    }
    return latencies;
  };
  const measured = await alternateCountingCommits(engine, { samples, warmup, engine: engineRun, floor: floorRun });
  await engine.close();
  await floor.close();
  return latencyResult(context, measured.engine, measured.floor, { engineCommitsPerOperation: measured.engineCommitsPerSample, floorCommitsPerOperation: 3 });
}
