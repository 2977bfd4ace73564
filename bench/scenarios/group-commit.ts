// group-commit: messages/s end to end with 100 concurrent senders (each awaiting its `send` in a
// loop) to one workflow that recv()s every message, timed from the first send to the workflow's
// result. Group commit lets every write made in one turn share one transaction and one COMMIT (one
// fsync in FULL mode), and each caller's promise still resolves only after its own commit.
//
// Floor: the same workload with one commit per operation, run directly with better-sqlite3: 100
// concurrent async senders each committing one transaction per send (workflow exists? + insert
// message) and one async receiver committing one consume-and-record transaction per message (oldest
// message, mark it consumed, record the operation): two commits per message, the engine's own
// statements, no engine code around them. This is the fastest "one commit per operation" there is
// (a raw connection with nothing to dispatch, wake or encode), so `speedup` = engine / floor is a
// lower bound of what group commit buys; the engine with one sender awaiting each send (no
// concurrency to group, as in send-throughput) is measured beside both as `serialEngine`.
//
// Why end to end cannot reach 2× the floor's commit rate: the workflow's recvs are sequential, and
// each recv returns only after its consume-and-record is durable, so the receiver makes at least one
// commit per message however many senders there are; the 100 senders' sends ride along in those
// commits. One commit per message against the floor's two bounds the end-to-end speed-up near 2×.
// The senders' side alone (`sendsPerSecond`, time until every send resolved) is where group commit
// shows in full: about 100 sends share each commit. Both are reported.
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, openFloorDatabase } from '../lib/floor';
import { collectGarbage, figureResult, round, runScenario } from '../lib/harness';
import { countCommits } from '../lib/probe';

const WORKFLOW_NAME = 'bench.group-commit.drain';

const drain = registerWorkflow(WORKFLOW_NAME, async (ctxt: WorkflowContext, count: number) => {
  for (let received = 0; received < count; received++) await ctxt.recv<number>(null, 86_400);
  return count;
});

interface Run {
  /** From the first send to the last message received, ms. */
  totalMs: number;
  /** From the first send to the last send resolved, ms. */
  sendsMs: number;
  commits: number;
}

runScenario('group-commit', async (context) => {
  const senders = context.size('senders', 100, 100);
  // Whole messages per sender and per round.
  const rounds = context.quick ? 2 : 4;
  const perSender = Math.max(1, Math.round(context.size('messages', 10_000, 1_000) / senders / rounds));
  const perRound = perSender * senders;
  const messages = perRound * rounds;
  const warmupPerSender = context.quick ? 2 : 10;

  const engine = await Engine.open({ database: context.databasePath('engine'), synchronous: context.mode });
  let engineRuns = 0;
  /** `senders` concurrent senders, each awaiting `perSenderCount` sends, to one drain workflow. */
  const engineRun = async (sendersCount: number, perSenderCount: number): Promise<Run> => {
    const count = sendersCount * perSenderCount;
    const handle = await engine.startWorkflow(drain, { workflowUUID: `drain-${engineRuns++}` }, count);
    const workflowUUID = handle.getWorkflowUUID();
    const commits = countCommits(engine);
    const startMs = performance.now();
    let sendsMs = 0;
    const sending = Array.from({ length: sendersCount }, async (_, sender) => {
      for (let message = 0; message < perSenderCount; message++) await engine.send(workflowUUID, sender * perSenderCount + message);
      sendsMs = Math.max(sendsMs, performance.now() - startMs);
    });
    await handle.getResult();
    await Promise.all(sending);
    return { totalMs: performance.now() - startMs, sendsMs, commits: commits() };
  };

  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  const send = floor.sendTransaction();
  const consumeAndRecord = floor.consumeAndRecordTransaction();
  let floorRuns = 0;
  /** The same workload, one transaction per send and one per receive; the receiver is woken by the senders. */
  const floorRun = async (sendersCount: number, perSenderCount: number): Promise<Run> => {
    const count = sendersCount * perSenderCount;
    const workflowUUID = `drain-${floorRuns++}`;
    floor.insertWorkflow.run(workflowUUID, WORKFLOW_NAME, JSON.stringify([count]), null, Date.now(), Date.now());
    const startMs = performance.now();
    let sendsMs = 0;
    let available = 0;
    let wake: (() => void) | null = null;
    const sending = Array.from({ length: sendersCount }, async (_, sender) => {
      for (let message = 0; message < perSenderCount; message++) {
        send.immediate(workflowUUID, JSON.stringify(sender * perSenderCount + message));
        available++;
        const waking = wake;
        wake = null;
        waking?.();
        await null; // an async caller's continuation after its awaited send
      }
      sendsMs = Math.max(sendsMs, performance.now() - startMs);
    });
    for (let received = 0; received < count; received++) {
      while (available === 0) await new Promise<void>((resolve) => (wake = resolve));
      available--;
      consumeAndRecord.immediate(workflowUUID, received);
      await null; // the workflow's continuation after its awaited recv
    }
    await Promise.all(sending);
    return { totalMs: performance.now() - startMs, sendsMs, commits: 2 * count };
  };

  /** The engine with one sender awaiting each send: nothing concurrent to group. */
  const serialRun = (count: number): Promise<Run> => engineRun(1, count);

  await engineRun(senders, warmupPerSender);
  await serialRun(senders * warmupPerSender);
  await floorRun(senders, warmupPerSender);
  const totals = { engine: zero(), serial: zero(), floor: zero() };
  for (let index = 0; index < rounds; index++) {
    collectGarbage();
    add(totals.engine, await engineRun(senders, perSender));
    collectGarbage();
    add(totals.serial, await serialRun(perRound));
    collectGarbage();
    add(totals.floor, await floorRun(senders, perSender));
  }
  await engine.close();
  floor.db.close();

  const rate = (ms: number): number => Math.round((messages / ms) * 1000);
  const engineRate = rate(totals.engine.totalMs);
  const floorRate = rate(totals.floor.totalMs);
  const serialRate = rate(totals.serial.totalMs);
  return figureResult(
    context,
    { unit: 'messages/s', engine: engineRate, floor: floorRate },
    {
      senders,
      messages,
      speedup: round(engineRate / floorRate, 2),
      engineCommitsPerMessage: round(totals.engine.commits / messages, 3),
      floorCommitsPerMessage: 2,
      sendsPerSecond: rate(totals.engine.sendsMs),
      floorSendsPerSecond: rate(totals.floor.sendsMs),
      sendSpeedup: round(totals.floor.sendsMs / totals.engine.sendsMs, 2),
      serialEngine: serialRate,
      serialEngineCommitsPerMessage: round(totals.serial.commits / messages, 3),
      speedupOverSerialEngine: round(engineRate / serialRate, 2),
      engineMs: round(totals.engine.totalMs, 0),
      floorMs: round(totals.floor.totalMs, 0),
      serialEngineMs: round(totals.serial.totalMs, 0),
    },
  );
});

function zero(): Run {
  return { totalMs: 0, sendsMs: 0, commits: 0 };
}

function add(total: Run, run: Run): void {
  total.totalMs += run.totalMs;
  total.sendsMs += run.sendsMs;
  total.commits += run.commits;
}
