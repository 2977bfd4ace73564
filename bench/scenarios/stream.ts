// stream: a workflow's stream, written and read. Three results, each beside its floor:
//
//   stream-write           values/s: one workflow writing values to its stream, awaiting each
//                          writeStream (one commit a value). Floor: per value the engine's writeStream
//                          transaction (the writer's status, the stream's last row, the new row, the
//                          operation's record) run directly, one commit each, with one await between.
//   stream-latency         µs from a workflow calling writeStream to a reader in the same process,
//                          already waiting in next(), getting the value. The workflow is a loop: recv
//                          a number, write it. Floor: the same transaction run directly, then one
//                          promise resolution to an awaiting reader.
//   stream-cross-process   µs from a workflow in an owner process (bench/lib/stream-peer.ts) calling
//                          writeStream to a Client in this process, already waiting in next(), getting
//                          the value. Both ends stamp CLOCK_MONOTONIC (shared by every process of the
//                          machine) and the stamp travels in the value. Floor: a peer process commits
//                          the same transaction directly and rings a doorbell (one byte down a named
//                          pipe) right after COMMIT; this process, asleep in a blocking read, wakes and
//                          reads the row as the engine's reader does.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Client, Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { Doorbell, sharedClockUs } from '../lib/cross-process-peer';
import { FloorStatements, openFloorDatabase, StreamFloorStatements } from '../lib/floor';
import { alternate, collectGarbage, figureResult, latencyResult, nodeArgumentsFor, nowUs, round, runScenario, type Mode } from '../lib/harness';
import { alternateCountingCommits, countCommits } from '../lib/probe';
import { TICKER_UUID, type Tick } from '../lib/stream-peer';

const writer = registerWorkflow('bench.stream.writer', async (ctxt: WorkflowContext, count: number) => {
  for (let value = 0; value < count; value++) await ctxt.writeStream('values', { value });
  return count;
});

/** When the workflow called writeStream: the workflow writes it, the reader reads it. */
const marks = { writtenAtUs: 0 };

const relay = registerWorkflow('bench.stream.relay', async (ctxt: WorkflowContext) => {
  for (;;) {
    const value = await ctxt.recv<number>(null, 86_400);
    marks.writtenAtUs = nowUs();
    await ctxt.writeStream('relayed', value);
  }
});

/** A spawned stream-peer process, one command and one answer per line. */
class Peer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  readonly #waiting: ((line: string) => void)[] = [];
  #stderr = '';

  static async spawn(role: 'owner' | 'floor', database: string, mode: Mode, extra: string[] = []): Promise<Peer> {
    const file = path.join(__dirname, '..', 'lib', `stream-peer${path.extname(__filename)}`);
    const peer = new Peer(spawn(process.execPath, [...nodeArgumentsFor(file), role, database, mode, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await peer.next('ready');
    return peer;
  }

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const waiting = this.#waiting.shift();
      if (waiting === undefined) this.#lines.push(line);
      else waiting(line);
    });
    const killPeer = (): void => void child.kill();
    process.on('exit', killPeer);
    child.on('exit', () => process.off('exit', killPeer));
  }

  async next(expected: string): Promise<string> {
    const line = this.#lines.shift() ?? (await new Promise<string>((resolve) => this.#waiting.push(resolve)));
    if (!line.startsWith(expected)) throw new Error(`Expected "${expected}" from the stream peer, got "${line}".\n${this.#stderr}`);
    return line;
  }

  request(command: string, answer: string): Promise<string> {
    this.#child.stdin.write(`${command}\n`);
    return this.next(answer);
  }

  async exit(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end('exit\n');
    await exited;
  }
}

runScenario('stream', async (context) => {
  const values = context.size('values', 20_000, 500);
  const samples = context.size('samples', 5_000, 200);
  const crossSamples = context.size('cross-samples', 1_000, 50);
  const warmup = context.size('warmup', 500, 20);
  const rounds = context.quick ? 2 : 4;

  // ---- values/s written ----
  const engine = await Engine.open({ database: context.databasePath('engine'), synchronous: context.mode });
  let engineRuns = 0;
  const engineWrite = async (count: number): Promise<number> => {
    const startMs = performance.now();
    await (await engine.startWorkflow(writer, { workflowUUID: `writer-${engineRuns++}` }, count)).getResult();
    return performance.now() - startMs;
  };
  const floor = new FloorStatements(openFloorDatabase(context.databasePath('floor'), context.mode));
  const streams = new StreamFloorStatements(floor);
  let floorRuns = 0;
  const floorWrite = async (count: number): Promise<number> => {
    const startMs = performance.now();
    const workflowUUID = `writer-${floorRuns++}`;
    floor.insertWorkflow.run(workflowUUID, 'bench.stream.writer', JSON.stringify([count]), null, Date.now(), Date.now());
    for (let value = 0; value < count; value++) {
      streams.append.immediate(workflowUUID, 'values', JSON.stringify({ value }), value);
      await null;
    }
    return performance.now() - startMs;
  };
  await engineWrite(warmup);
  await floorWrite(warmup);
  const writeCommits = countCommits(engine);
  let engineMs = 0;
  let floorMs = 0;
  for (let index = 0; index < rounds; index++) {
    const count = Math.floor(values / rounds) + (index < values % rounds ? 1 : 0);
    collectGarbage();
    engineMs += await engineWrite(count);
    collectGarbage();
    floorMs += await floorWrite(count);
  }
  const writeResult = figureResult(
    context,
    { unit: 'values/s', engine: Math.round((values / engineMs) * 1000), floor: Math.round((values / floorMs) * 1000) },
    { values, engineMs: round(engineMs, 0), floorMs: round(floorMs, 0), engineCommitsPerValue: round(writeCommits() / values, 2), floorCommitsPerValue: 1 },
  );

  // ---- write → read, in process ----
  const relayHandle = await engine.startWorkflow(relay, { workflowUUID: 'relay' });
  const reader = engine.readStream<number>(relayHandle.getWorkflowUUID(), 'relayed', { timeoutSeconds: 60 });
  let nextEngineValue = 0;
  const engineLatency = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      let readAtUs = 0;
      // Already waiting (next() looks, then subscribes) before the send below reaches the workflow.
      const waiting = reader.next().then(() => {
        readAtUs = nowUs();
      });
      await engine.send('relay', nextEngineValue++);
      await waiting;
      latencies.push(readAtUs - marks.writtenAtUs);
    }
    return latencies;
  };
  floor.insertWorkflow.run('relay', 'bench.stream.relay', '[]', null, Date.now(), Date.now());
  let nextFloorValue = 0;
  const floorLatency = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      let resolve!: (value: string) => void;
      let readAtUs = 0;
      const waiting = new Promise<string>((settle) => (resolve = settle)).then(() => {
        readAtUs = nowUs();
      });
      const startUs = nowUs();
      const value = nextFloorValue++;
      streams.append.immediate('relay', 'relayed', JSON.stringify(value), value);
      resolve(JSON.stringify(value));
      await waiting;
      latencies.push(readAtUs - startUs);
    }
    return latencies;
  };
  const inProcess = await alternateCountingCommits(engine, { samples, warmup, engine: engineLatency, floor: floorLatency });
  const latency = latencyResult(context, inProcess.engine, inProcess.floor, {
    span: 'writeStream → next() in the same process',
    engineCommitsPerSample: inProcess.engineCommitsPerSample,
    floorCommitsPerSample: 1,
  });
  await reader.return?.();
  await engine.close();
  floor.db.close();

  // ---- write → read, across processes ----
  const database = context.databasePath('cross');
  const owner = await Peer.spawn('owner', database, context.mode);
  const client = await Client.open({ database, synchronous: context.mode });
  const ticks = client.readStream<Tick>(TICKER_UUID, 'ticks', { timeoutSeconds: 60 });
  let nextTick = 0;
  const engineCross = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const waiting = ticks.next();
      await client.send(TICKER_UUID, nextTick++);
      const { value } = await waiting;
      latencies.push(sharedClockUs() - (value as Tick).writtenAtUs);
    }
    return latencies;
  };
  const floorFolder = path.join(context.dir, 'floor-cross');
  fs.mkdirSync(floorFolder);
  const floorFile = path.join(floorFolder, 'floor.db');
  const crossFloor = new StreamFloorStatements(new FloorStatements(openFloorDatabase(floorFile, context.mode)));
  const toPeerFile = path.join(floorFolder, 'to-peer');
  const toScenarioFile = path.join(floorFolder, 'to-scenario');
  Doorbell.create(toPeerFile);
  Doorbell.create(toScenarioFile);
  const toPeer = new Doorbell(toPeerFile);
  const fromPeer = new Doorbell(toScenarioFile);
  const floorPeer = await Peer.spawn('floor', floorFile, context.mode, [toPeerFile, toScenarioFile]);
  let nextFloorTick = 0;
  const floorCross = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    await floorPeer.request(`run ${iterations}`, 'go');
    for (let iteration = 0; iteration < iterations; iteration++) {
      toPeer.ring('w');
      fromPeer.wait('v');
      const [row] = crossFloor.read(TICKER_UUID, 'ticks', nextFloorTick++);
      const gotAtUs = sharedClockUs();
      if (row?.value == null) throw new Error('The floor peer\'s value is missing.');
      latencies.push(gotAtUs - (JSON.parse(row.value) as Tick).writtenAtUs);
    }
    await floorPeer.next('done');
    return latencies;
  };
  const crossProcess = await alternate({ samples: crossSamples, warmup: Math.min(warmup, 100), engine: engineCross, floor: floorCross });
  await client.send(TICKER_UUID, -1);
  await ticks.return?.();
  await client.close();
  toPeer.close();
  fromPeer.close();
  await Promise.all([owner.exit(), floorPeer.exit()]);
  const cross = latencyResult(context, crossProcess.engine, crossProcess.floor, { span: 'owner writeStream → client next()' });

  return [
    { ...writeResult, scenario: 'stream-write' },
    { ...latency, scenario: 'stream-latency' },
    { ...cross, scenario: 'stream-cross-process' },
  ];
});
