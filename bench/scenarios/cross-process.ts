// cross-process: wake-ups between processes sharing one database file. An owner process
// (bench/lib/cross-process-peer.ts, spawned) runs an echo workflow: recv a message, set the event
// `reply-<i>`. This process is a `Client`: it starts waiting on `reply-<i>` with getEvent, sends
// message i, and reads the reply; it sends message i + 1 only once the echo waits in recv again (its
// wait recorded, read on a separate read-only connection, outside the measured spans), so every
// message wakes a waiting recv rather than queueing behind the owner's previous commit for the
// write lock. Two latencies per round trip, p50/p99 µs, reported as two results:
//
//   cross-process-send   client `send` called → the owner's `recv` resolved in the workflow
//   cross-process-event  the owner's `setEvent` called → the client's already-waiting getEvent resolved
//
// Each end is stamped where it happens, on CLOCK_MONOTONIC (`process.hrtime`), one clock for every
// process of the machine, and the stamps travel in the payloads: the message holds its send time,
// the event value the owner's recv and setEvent times. (`performance.timeOrigin + performance.now()`
// is not comparable enough: Node reads that origin's wall-clock and monotonic parts at different
// moments of start-up, and two processes started under load disagreed by 10 ms.) A ping-pong over
// the pipe before measuring checks it: `clockOffsetUs`, the peer's clock minus ours at the fastest
// round trip, ± `clockOffsetBoundUs` (half that round trip); it is reported, not subtracted.
//
// Floors, measured beside it in the same run (alternating chunks): the same commits made directly
// with better-sqlite3, the engine's statements (bench/lib/floor.ts), on another database file, by this
// process and a spawned floor process. Per round trip: this process commits the send (workflow
// exists? + insert message); the floor process learns of it, commits the consume-and-record (oldest
// message, mark consumed, complete the started recv) and stamps its "recv", then commits setEvent
// (insert event + record the operation), then records the next recv's wait (the commits the owner
// makes); this process learns of the event and reads its value. Two ways of learning of the other's
// commit, both measured:
//
//   floor (`floor`, `floorP50`, `floorP99`): the committing process rings a doorbell (one byte down a
//     named pipe) right after its COMMIT, and the other, asleep in a blocking read, wakes. The commits
//     plus the cheapest cross-process wake-up there is, with a sleeping waiter as the engine's; it
//     holds its figure on a loaded machine.
//   poller (`pollerFloorP50`, `pollerFloorP99`): each side detects the other's commits by a tight loop
//     on PRAGMA data_version, the best a poller can do, at the price of a whole core while waiting.
//     It is the lower of the two when each spinning process has a core to itself; on a shared
//     2-core machine under load, spinners lose their core to other work and their p50 swung from
//     0.1 to 6 ms between runs, so it is reported beside, not used for `ratio`.
//
// Idle cost: process.cpuUsage over a window (`idleWindowMs`, 2 s) of the owner and of the client,
// first while waits are pending (the echo in recv, one client getEvent: `*WaitingCpuMs`), then with
// nothing waiting (`*IdleCpuMs`), next to the floor process idling in the same window, a Node process
// with an open connection and nothing to do (`baselineIdleCpuMs`). Each process collects garbage and
// lets the collection settle before its window opens.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import readline from 'node:readline';
import Database from 'better-sqlite3';
import { Client } from '../../lib';
import { Doorbell, ECHO_NAME, ECHO_UUID, RECV_TIMEOUT_SECONDS, SETTLE_MS, sharedClockUs, spinForChange, type Detection, type Ping, type Reply } from '../lib/cross-process-peer';
import { FloorStatements, NO_TOPIC, openFloorDatabase } from '../lib/floor';
import { alternate, collectGarbage, latencyResult, nodeArgumentsFor, round, runScenario, summarize, type Mode } from '../lib/harness';

/** A spawned peer process, one command and one answer per line. */
class Peer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #role: string;
  readonly #lines: string[] = [];
  #waiting: { prefix: string; resolve: (line: string) => void; reject: (error: Error) => void } | null = null;
  #stderr = '';
  #exited: Error | null = null;

  static async spawn(role: 'owner' | 'floor', database: string, mode: Mode, extra: string[] = []): Promise<Peer> {
    const file = path.join(__dirname, '..', 'lib', `cross-process-peer${path.extname(__filename)}`);
    const peer = new Peer(role, spawn(process.execPath, [...nodeArgumentsFor(file), role, database, mode, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await peer.next('ready');
    return peer;
  }

  private constructor(role: string, child: ChildProcessWithoutNullStreams) {
    this.#role = role;
    this.#child = child;
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      this.#lines.push(line);
      this.#deliver();
    });
    // A peer blocked on its doorbell never sees its stdin close: end it with this process, however it ends.
    const killPeer = (): void => void child.kill();
    process.on('exit', killPeer);
    child.on('exit', (code, signal) => {
      process.off('exit', killPeer);
      this.#exited = new Error(`The ${this.#role} peer exited (${signal ?? code}).\n${this.#stderr.trim()}`);
      this.#waiting?.reject(this.#exited);
      this.#waiting = null;
    });
  }

  /** The next line the peer prints, which must start with `prefix`. */
  next(prefix: string): Promise<string> {
    if (this.#waiting !== null) throw new Error('One request at a time.');
    return new Promise((resolve, reject) => {
      this.#waiting = { prefix, resolve, reject };
      this.#deliver();
    });
  }

  /** Sends a command and resolves to the answer's line (which must start with `answer`). */
  request(command: string, answer: string): Promise<string> {
    this.#child.stdin.write(`${command}\n`);
    return this.next(answer);
  }

  async exit(): Promise<void> {
    if (this.#exited !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end('exit\n');
    await exited;
  }

  #deliver(): void {
    if (this.#waiting === null) return;
    if (this.#exited !== null && this.#lines.length === 0) {
      this.#waiting.reject(this.#exited);
      this.#waiting = null;
      return;
    }
    const line = this.#lines.shift();
    if (line === undefined) return;
    const waiting = this.#waiting;
    this.#waiting = null;
    if (line.startsWith(waiting.prefix)) waiting.resolve(line);
    else waiting.reject(new Error(`Expected a line starting with "${waiting.prefix}" from the peer, got "${line}".\n${this.#stderr.trim()}`));
  }
}

/** Whether the echo's recv at an operation index has recorded its wait and not completed. */
const RECV_WAITING_SQL = 'SELECT 1 FROM operations WHERE workflow_uuid = ? AND operation_index = ? AND completed_at IS NULL';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** This process's CPU time (user + system), in ms, over the next `ms` ms. */
async function cpuOver(ms: number): Promise<number> {
  collectGarbage();
  await sleep(SETTLE_MS);
  const before = process.cpuUsage();
  await sleep(ms);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** The peer's CPU time (user + system), in ms, over the next `ms` ms. */
async function peerCpuOver(peer: Peer, ms: number): Promise<number> {
  const [, user, system] = (await peer.request(`idle ${ms}`, 'idle ')).split(' ');
  return (Number(user) + Number(system)) / 1000;
}

/** The offset of the peer's clock from ours, from the ping with the fastest round trip. */
async function clockOffset(peer: Peer, pings: number): Promise<{ offsetUs: number; boundUs: number }> {
  let best = { offsetUs: NaN, boundUs: Infinity };
  for (let ping = 0; ping < pings; ping++) {
    const sentUs = sharedClockUs();
    const peerUs = Number((await peer.request('ping', 'pong ')).split(' ')[1]);
    const backUs = sharedClockUs();
    const boundUs = (backUs - sentUs) / 2;
    if (boundUs < best.boundUs) best = { offsetUs: peerUs - (sentUs + backUs) / 2, boundUs };
  }
  return { offsetUs: round(best.offsetUs, 1), boundUs: round(best.boundUs, 1) };
}

runScenario('cross-process', async (context) => {
  const samples = context.size('samples', 2_000, 100);
  const warmup = context.size('warmup', 100, 10);
  const idleWindowMs = context.size('idle-ms', 2_000, 500);

  // The engine: an owner process and this process as a client, on one file.
  const database = context.databasePath('engine');
  const owner = await Peer.spawn('owner', database, context.mode);
  const client = await Client.open({ database, synchronous: context.mode });
  const clock = await clockOffset(owner, context.quick ? 50 : 200);
  const commitsBefore = Number((await owner.request('commits', 'commits ')).split(' ')[1]);

  // Each message is sent once the echo waits in recv again (its wait recorded), so that the span
  // measures a waiting recv being woken, not the send queueing behind the owner's previous commit.
  const engineReader = new Database(database, { readonly: true });
  const engineOwnerWaits = engineReader.prepare<[string, number]>(RECV_WAITING_SQL).pluck();
  const engineEvent: number[] = []; // the event direction's samples; the send direction's are returned
  let nextEngineMessage = 0;
  const engineRun = async (iterations: number): Promise<number[]> => {
    const sendToRecv: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const i = nextEngineMessage++;
      while (engineOwnerWaits.get(ECHO_UUID, 2 * i) === undefined) await sleep(1);
      let gotAtUs = 0;
      const waiting = client.getEvent<Reply>(ECHO_UUID, `reply-${i}`, 60).then((reply) => {
        gotAtUs = sharedClockUs();
        return reply;
      });
      await client.send<Ping>(ECHO_UUID, { i, sentAtUs: sharedClockUs() });
      const reply = await waiting;
      if (reply === null) throw new Error(`No reply to message ${i} within 60 s.`);
      sendToRecv.push(reply.recvAtUs - reply.sentAtUs);
      engineEvent.push(gotAtUs - reply.setAtUs);
    }
    return sendToRecv;
  };

  // The floors: their own file in their own folder (the engine's processes watch the engine's folder),
  // with a doorbell each way between this process and the floor process.
  const floorFolder = path.join(context.dir, 'floor');
  fs.mkdirSync(floorFolder);
  const floorFile = path.join(floorFolder, 'floor.db');
  const floor = new FloorStatements(openFloorDatabase(floorFile, context.mode));
  floor.insertWorkflow.run(ECHO_UUID, ECHO_NAME, '[]', null, Date.now(), Date.now());
  floor.insertStartedOperation.run(ECHO_UUID, 0, 'recv', 'recv', Date.now() + RECV_TIMEOUT_SECONDS * 1000, JSON.stringify({ topic: null }), Date.now());
  const toPeerFile = path.join(floorFolder, 'to-peer');
  const toScenarioFile = path.join(floorFolder, 'to-scenario');
  Doorbell.create(toPeerFile);
  Doorbell.create(toScenarioFile);
  const toPeer = new Doorbell(toPeerFile);
  const fromPeer = new Doorbell(toScenarioFile);
  const floorPeer = await Peer.spawn('floor', floorFile, context.mode, [toPeerFile, toScenarioFile]);
  const dataVersionStatement = floor.db.prepare('PRAGMA data_version').pluck();
  const dataVersion = (): number => dataVersionStatement.get() as number;
  const send = floor.db.transaction((message: string) => {
    floor.workflowExists.get(ECHO_UUID);
    floor.insertMessage.run(ECHO_UUID, NO_TOPIC, message, null, Date.now());
  });
  const floorOwnerWaits = floor.db.prepare<[string, number]>(RECV_WAITING_SQL).pluck();
  let nextFloorMessage = 0;
  /** One floor chunk: `iterations` echoes, both processes blocking (spinning or asleep on a doorbell). */
  const floorRun = async (iterations: number, detection: Detection): Promise<{ send: number[]; event: number[] }> => {
    const sendToRecv: number[] = [];
    const eventToGet: number[] = [];
    // The peer waits only inside a run, so it takes no CPU from the engine's rounds.
    await floorPeer.request(`run ${iterations} ${detection}`, 'go');
    for (let iteration = 0; iteration < iterations; iteration++) {
      const i = nextFloorMessage++;
      const key = `reply-${i}`;
      if (detection === 'poll') {
        let version = dataVersion();
        while (floorOwnerWaits.get(ECHO_UUID, 2 * i) === undefined) version = spinForChange(dataVersion, version, `recv ${i} waiting`);
      } else if (i > 0 && floorOwnerWaits.get(ECHO_UUID, 2 * i) === undefined) {
        throw new Error(`The floor's recv ${i} does not wait after its doorbell.`);
      }
      send.immediate(JSON.stringify({ i, sentAtUs: sharedClockUs() } satisfies Ping));
      let row: { value: string } | undefined;
      if (detection === 'poll') {
        // Read data_version before looking, so a commit landing after the look still changes it.
        let version = dataVersion();
        while ((row = floor.selectEventValue.get(ECHO_UUID, key)) === undefined) version = spinForChange(dataVersion, version, key);
      } else {
        toPeer.ring('m');
        fromPeer.wait('e');
        row = floor.selectEventValue.get(ECHO_UUID, key);
      }
      const gotAtUs = sharedClockUs();
      if (row === undefined) throw new Error(`The floor's event ${key} is missing.`);
      const reply = JSON.parse(row.value) as Reply;
      sendToRecv.push(reply.recvAtUs - reply.sentAtUs);
      eventToGet.push(gotAtUs - reply.setAtUs);
      if (detection === 'notify') fromPeer.wait('w'); // the next recv waits (outside the spans)
    }
    await floorPeer.next('done');
    return { send: sendToRecv, event: eventToGet };
  };

  // Besides the engine's send samples (returned to `alternate`), every other series of the round.
  const series = { engineEvent, notifiedEvent: [] as number[], polledSend: [] as number[], polledEvent: [] as number[] };
  const measured = await alternate({
    samples,
    warmup,
    engine: engineRun,
    floor: async (iterations) => {
      const polled = await floorRun(iterations, 'poll');
      series.polledSend.push(...polled.send);
      series.polledEvent.push(...polled.event);
      const notified = await floorRun(iterations, 'notify');
      series.notifiedEvent.push(...notified.event);
      return notified.send;
    },
    onMeasureStart: () => {
      for (const samples of Object.values(series)) samples.length = 0;
    },
  });
  const ownerCommits = Number((await owner.request('commits', 'commits ')).split(' ')[1]) - commitsBefore;
  const ownerCommitsPerMessage = round(ownerCommits / nextEngineMessage, 2);
  floor.db.close();
  toPeer.close();
  fromPeer.close();
  engineReader.close();

  // Idle cost, while waits are pending: the echo waits in recv, the client in one getEvent.
  const pendingGet = client.getEvent(ECHO_UUID, 'never-set', idleWindowMs / 1000 + 1);
  await sleep(200);
  const [ownerWaitingCpuMs, clientWaitingCpuMs] = await Promise.all([peerCpuOver(owner, idleWindowMs), cpuOver(idleWindowMs)]);
  await pendingGet;
  // Then with nothing waiting anywhere: the echo ends, the client waits for nothing. Beside them, the
  // floor process idling (Node, an open connection, its stdin) is the baseline of a process doing nothing.
  await client.send<Ping>(ECHO_UUID, { i: -1, sentAtUs: 0, stop: true });
  await client.retrieveWorkflow(ECHO_UUID).getResult();
  await sleep(600);
  const [ownerIdleCpuMs, clientIdleCpuMs, baselineIdleCpuMs] = await Promise.all([
    peerCpuOver(owner, idleWindowMs),
    cpuOver(idleWindowMs),
    peerCpuOver(floorPeer, idleWindowMs),
  ]);
  await client.close();
  await Promise.all([owner.exit(), floorPeer.exit()]);

  const polled = (samples: number[]) => {
    const summary = summarize(samples);
    return { pollerFloorP50: round(summary.p50, 1), pollerFloorP99: round(summary.p99, 1) };
  };
  const common = { ownerCommitsPerMessage, floorOwnerCommitsPerMessage: 3, clockOffsetUs: clock.offsetUs, clockOffsetBoundUs: clock.boundUs };
  const sendResult = latencyResult(context, measured.engine, measured.floor, {
    span: 'client send → owner recv',
    ...polled(series.polledSend),
    ...common,
    idleWindowMs,
    ownerIdleCpuMs: round(ownerIdleCpuMs, 2),
    clientIdleCpuMs: round(clientIdleCpuMs, 2),
    ownerWaitingCpuMs: round(ownerWaitingCpuMs, 2),
    clientWaitingCpuMs: round(clientWaitingCpuMs, 2),
    baselineIdleCpuMs: round(baselineIdleCpuMs, 2),
  });
  const eventResult = latencyResult(context, series.engineEvent, series.notifiedEvent, {
    span: 'owner setEvent → client getEvent',
    ...polled(series.polledEvent),
    ...common,
  });
  return [
    { ...sendResult, scenario: 'cross-process-send' },
    { ...eventResult, scenario: 'cross-process-event' },
  ];
});
