// roundtrip: handler send → workflow recv → workflow setEvent (a new key) → handler getEvent, p50/p99 µs.
// Floor: the same statements and commits the engine runs for one round trip, in the same order,
// directly with better-sqlite3, with a promise hand-off where the engine hands over between sides.
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, NO_TOPIC, openFloorDatabase } from '../lib/floor';
import { latencyResult, nowUs, runScenario } from '../lib/harness';
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

runScenario('roundtrip', async (context) => {
  const samples = context.size('samples', 10_000, 300);
  const warmup = context.size('warmup', 1_000, 50);

  const engine = await Engine.open({ database: context.databasePath('engine'), synchronous: context.mode });
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
});
