// event-latency: µs from a workflow calling setEvent to a handler's already-waiting getEvent
// resolving (its promise's reactions running). The workflow is a loop: recv a number, set its event.
// Floor: the engine's setEvent transaction (insert event + record the operation) run directly, then
// one promise resolution to an awaiting caller.
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, openFloorDatabase } from '../lib/floor';
import { latencyResult, nowUs, runScenario } from '../lib/harness';
import { alternateCountingCommits } from '../lib/probe';

/** When the workflow called setEvent: the workflow writes it, the caller reads it. */
const marks = { setEventAtUs: 0 };

const publisher = registerWorkflow('bench.event-latency.publisher', async (ctxt: WorkflowContext) => {
  for (;;) {
    const message = await ctxt.recv<number>(null, 86_400);
    marks.setEventAtUs = nowUs();
    await ctxt.setEvent(`event-${message}`, message);
  }
});

runScenario('event-latency', async (context) => {
  const samples = context.size('samples', 10_000, 300);
  const warmup = context.size('warmup', 1_000, 50);

  const engine = await Engine.open({ database: context.databasePath('engine'), synchronous: context.mode });
  const handle = await engine.startWorkflow(publisher, { workflowUUID: 'event-latency-publisher' });
  const workflowUUID = handle.getWorkflowUUID();
  let nextEngineMessage = 0;
  const engineRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const message = nextEngineMessage++;
      let resolvedAtUs = 0;
      // getEvent subscribes synchronously: it is waiting before the send below reaches the workflow.
      const waiting = engine.getEvent<number>(workflowUUID, `event-${message}`, 60).then(() => {
        resolvedAtUs = nowUs();
      });
      await engine.send(workflowUUID, message);
      await waiting;
      latencies.push(resolvedAtUs - marks.setEventAtUs);
    }
    return latencies;
  };

  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  const floorUUID = 'event-latency-publisher';
  floor.insertWorkflow.run(floorUUID, 'bench.event-latency.publisher', '[]', null, Date.now(), Date.now());
  const setEvent = floor.db.transaction((operationIndex: number, key: string, value: string) => {
    floor.insertEvent.run(floorUUID, key, value, Date.now());
    floor.insertCompletedOperation.run(floorUUID, operationIndex, 'setEvent', 'setEvent', null, null, Date.now(), Date.now());
  });
  let nextFloorMessage = 0;
  const floorRun = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const message = nextFloorMessage++;
      let resolve!: (value: string) => void;
      let resolvedAtUs = 0;
      const waiting = new Promise<string>((settle) => (resolve = settle)).then(() => {
        resolvedAtUs = nowUs();
      });
      const startUs = nowUs();
      const value = JSON.stringify(message);
      setEvent.immediate(message, `event-${message}`, value);
      resolve(value);
      await waiting;
      latencies.push(resolvedAtUs - startUs);
    }
    return latencies;
  };

  const measured = await alternateCountingCommits(engine, { samples, warmup, engine: engineRun, floor: floorRun });
  // Per sample the engine also commits the send and the recv that trigger the workflow, outside
  // the measured span: 4 commits a sample, of which the span holds setEvent's (and, see the docs,
  // the workflow's next recv).
  const engineCommitsPerSample = measured.engineCommitsPerSample;
  await engine.close();
  floor.db.close();
  return latencyResult(context, measured.engine, measured.floor, { engineCommitsPerSample, floorCommitsPerSample: 1 });
});
