// send-throughput: messages/s end to end, one handler sending (awaiting each send) to one workflow
// that recv()s every message. Floor: per message the engine's two transactions, run directly: the
// send (workflow exists? + insert message) and the recv's consume-and-record (oldest message, mark
// it consumed, record the operation), with one await per message as an async sender has.
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, openFloorDatabase } from '../lib/floor';
import { collectGarbage, figureResult, round, runScenario } from '../lib/harness';
import { countCommits } from '../lib/probe';

const drain = registerWorkflow('bench.send-throughput.drain', async (ctxt: WorkflowContext, count: number) => {
  for (let received = 0; received < count; received++) await ctxt.recv<number>(null, 86_400);
  return count;
});

runScenario('send-throughput', async (context) => {
  const messages = context.size('messages', 100_000, 2_000);
  const warmup = context.size('warmup', 2_000, 200);
  const rounds = context.quick ? 2 : 4;

  const engine = await Engine.open({ database: context.databasePath('engine'), synchronous: context.mode });
  let engineRuns = 0;
  /** Milliseconds for one drain workflow to receive `count` messages from one sender. */
  const engineRun = async (count: number): Promise<number> => {
    const startMs = performance.now();
    const handle = await engine.startWorkflow(drain, { workflowUUID: `drain-${engineRuns++}` }, count);
    const workflowUUID = handle.getWorkflowUUID();
    for (let message = 0; message < count; message++) await engine.send(workflowUUID, message);
    await handle.getResult();
    return performance.now() - startMs;
  };

  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  const send = floor.sendTransaction();
  const consumeAndRecord = floor.consumeAndRecordTransaction();
  let floorRuns = 0;
  const floorRun = async (count: number): Promise<number> => {
    const startMs = performance.now();
    const workflowUUID = `drain-${floorRuns++}`;
    floor.insertWorkflow.run(workflowUUID, 'bench.send-throughput.drain', JSON.stringify([count]), null, Date.now(), Date.now());
    for (let message = 0; message < count; message++) {
      send.immediate(workflowUUID, JSON.stringify(message));
      await null;
      consumeAndRecord.immediate(workflowUUID, message);
    }
    return performance.now() - startMs;
  };

  await engineRun(warmup);
  await floorRun(warmup);
  const engineCommits = countCommits(engine);
  let engineMs = 0;
  let floorMs = 0;
  for (let index = 0; index < rounds; index++) {
    const count = Math.floor(messages / rounds) + (index < messages % rounds ? 1 : 0);
    collectGarbage();
    engineMs += await engineRun(count);
    collectGarbage();
    floorMs += await floorRun(count);
  }
  const engineCommitsPerMessage = round(engineCommits() / messages, 2);
  await engine.close();
  floor.db.close();
  return figureResult(
    context,
    { unit: 'messages/s', engine: Math.round((messages / engineMs) * 1000), floor: Math.round((messages / floorMs) * 1000) },
    { messages, engineMs: round(engineMs, 0), floorMs: round(floorMs, 0), engineCommitsPerMessage, floorCommitsPerMessage: 2 },
  );
});
