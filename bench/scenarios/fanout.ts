// fanout: µs from a workflow calling setEvent until every one of 10,000 handler getEvent calls
// waiting on that key has resolved (one sample per round, a new key each round). Floor: 10,000
// promise resolutions reaching 10,000 awaiting callers, with no SQLite at all.
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { collectGarbage, latencyResult, nowUs, runScenario, yieldToEventLoop } from '../lib/harness';

const marks = { setEventAtUs: 0 };

const publisher = registerWorkflow('bench.fanout.publisher', async (ctxt: WorkflowContext) => {
  for (;;) {
    const round = await ctxt.recv<number>(null, 86_400);
    marks.setEventAtUs = nowUs();
    await ctxt.setEvent(`announcement-${round}`, round);
  }
});

runScenario('fanout', async (context) => {
  const waiters = context.size('waiters', 10_000, 2_000);
  const rounds = context.size('rounds', 30, 5);
  const warmupRounds = context.quick ? 1 : 3;

  const engine = await Engine.open({ database: context.databasePath('engine'), synchronous: context.mode });
  const handle = await engine.startWorkflow(publisher, { workflowUUID: 'fanout-publisher' });
  const workflowUUID = handle.getWorkflowUUID();
  let nextRound = 0;
  const engineRound = async (): Promise<number> => {
    const round = nextRound++;
    let resolved = 0;
    let lastAtUs = 0;
    const all: Promise<void>[] = [];
    for (let index = 0; index < waiters; index++) {
      all.push(
        engine.getEvent<number>(workflowUUID, `announcement-${round}`, 600).then(() => {
          if (++resolved === waiters) lastAtUs = nowUs();
        }),
      );
    }
    await yieldToEventLoop();
    await engine.send(workflowUUID, round);
    await Promise.all(all);
    return lastAtUs - marks.setEventAtUs;
  };

  const floorRound = async (): Promise<number> => {
    let resolved = 0;
    let lastAtUs = 0;
    const resolvers: ((value: number) => void)[] = [];
    const all: Promise<void>[] = [];
    for (let index = 0; index < waiters; index++) {
      all.push(
        new Promise<number>((resolve) => resolvers.push(resolve)).then(() => {
          if (++resolved === waiters) lastAtUs = nowUs();
        }),
      );
    }
    await yieldToEventLoop();
    const startUs = nowUs();
    for (const resolve of resolvers) resolve(1);
    await Promise.all(all);
    return lastAtUs - startUs;
  };

  const engineSamples: number[] = [];
  const floorSamples: number[] = [];
  for (let round = 0; round < warmupRounds + rounds; round++) {
    collectGarbage();
    const engineUs = await engineRound();
    collectGarbage();
    const floorUs = await floorRound();
    if (round < warmupRounds) continue;
    engineSamples.push(engineUs);
    floorSamples.push(floorUs);
  }
  await engine.close();
  return latencyResult(context, engineSamples, floorSamples, { waiters, rounds });
});
