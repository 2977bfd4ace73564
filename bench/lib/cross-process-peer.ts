// The other process of the cross-process scenario (bench/scenarios/cross-process.ts), which spawns it
// with `nodeArgumentsFor` and talks to it over stdin/stdout, one command and one answer per line.
//
//   argv: owner <database> FULL|NORMAL
//         floor <database> FULL|NORMAL <to-peer fifo> <to-scenario fifo>
//
// owner: opens an Engine on the file (taking ownership) and starts the echo workflow `echo`, which
//   recv()s a message { i, sentAtUs } and sets the event `reply-<i>` to { sentAtUs, recvAtUs, setAtUs };
//   a message { stop: true } ends it. Prints `ready`.
// floor: the same commits made directly with better-sqlite3 (the engine's statements, bench/lib/floor.ts).
//   Each echo learns of the scenario's commit either by a tight loop on PRAGMA data_version (`poll`)
//   or by a doorbell the scenario rings after committing (`notify`), and in `notify` rings back after
//   its setEvent (`e`) and after recording its next recv's wait (`w`). Prints `ready`.
//
// Commands (both roles): `ping` → `pong <clock µs>`; `idle <ms>` → `idle <user µs> <system µs>`, this
// process's CPU time over <ms> ms; `exit`. Owner: `commits` → `commits <n>`, the engine's commits so
// far. Floor: `run <n> poll|notify` → `go`, then <n> echoes, blocking, then `done`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { FloorStatements, NO_TOPIC, openFloorDatabase } from './floor';
import { collectGarbage, type Mode } from './harness';
import { countCommits } from './probe';

/**
 * Microseconds on a clock every process of this machine shares: CLOCK_MONOTONIC, which
 * `process.hrtime` reads (time since boot, in ns: exact in a double for 104 days). Not
 * `performance.timeOrigin + performance.now()`: Node takes that origin's wall-clock and monotonic
 * readings at different moments of start-up, and two processes started under load disagreed by 10 ms.
 */
export function sharedClockUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

export const ECHO_UUID = 'echo';
export const ECHO_NAME = 'bench.cross-process.echo';
/** The recv timeout of the echo workflow (and the floor's recorded deadline), seconds. */
export const RECV_TIMEOUT_SECONDS = 86_400;

export interface Ping {
  i: number;
  sentAtUs: number;
  stop?: boolean;
}

export interface Reply {
  sentAtUs: number;
  recvAtUs: number;
  setAtUs: number;
}

const echo = registerWorkflow(ECHO_NAME, async (ctxt: WorkflowContext) => {
  for (;;) {
    const message = await ctxt.recv<Ping>(null, RECV_TIMEOUT_SECONDS);
    const recvAtUs = sharedClockUs();
    if (message === null || message.stop === true) return 'stopped';
    const setAtUs = sharedClockUs();
    await ctxt.setEvent<Reply>(`reply-${message.i}`, { sentAtUs: message.sentAtUs, recvAtUs, setAtUs });
  }
});

/** Time between a garbage collection and an idle window (its sweeping runs on background threads). */
export const SETTLE_MS = 300;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Answers the commands both roles know; false for any other. */
function common(command: string, argument: string | undefined): boolean {
  if (command === 'ping') {
    say(`pong ${sharedClockUs()}`);
    return true;
  }
  if (command === 'idle') {
    // A full collection, then time for its background sweeping to end, before the window opens.
    collectGarbage();
    setTimeout(() => {
      const before = process.cpuUsage();
      setTimeout(() => {
        const used = process.cpuUsage(before);
        say(`idle ${used.user} ${used.system}`);
      }, Number(argument));
    }, SETTLE_MS);
    return true;
  }
  return false;
}

async function runOwner(database: string, mode: Mode): Promise<(command: string, args: string[]) => void> {
  const engine = await Engine.open({ database, synchronous: mode });
  const commits = countCommits(engine);
  await engine.startWorkflow(echo, { workflowUUID: ECHO_UUID });
  return (command) => {
    if (command === 'commits') say(`commits ${commits()}`);
    else if (command === 'exit') void engine.close().then(() => process.exit(0));
    else throw new Error(`Unknown command ${command}`);
  };
}

/** Spins on PRAGMA data_version until another connection commits; returns the new value. */
export function spinForChange(dataVersion: () => number, last: number, what: string): number {
  const deadlineMs = performance.now() + 30_000;
  for (;;) {
    const value = dataVersion();
    if (value !== last) return value;
    if (performance.now() > deadlineMs) throw new Error(`Nothing committed for 30 s while waiting for ${what}.`);
  }
}

/**
 * A doorbell between two processes: a named pipe carrying single bytes, read blocking, so the waiting
 * process sleeps in the kernel until the other rings (the cheapest cross-process wake-up there is).
 */
export class Doorbell {
  readonly #fd: number;
  readonly #byte = Buffer.alloc(1);

  /** Creates the named pipe at `file`. */
  static create(file: string): void {
    execFileSync('mkfifo', [file]);
  }

  constructor(file: string) {
    // Read-write, so opening never blocks waiting for the other end (Linux).
    this.#fd = fs.openSync(file, 'r+');
  }

  ring(byte: string): void {
    fs.writeSync(this.#fd, byte);
  }

  /** Blocks until a byte arrives; throws unless it is `expected`. */
  wait(expected: string): void {
    fs.readSync(this.#fd, this.#byte, 0, 1, null);
    const got = this.#byte.toString('latin1');
    if (got !== expected) throw new Error(`Expected the doorbell byte "${expected}", got "${got}".`);
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** How the floor's processes learn of each other's commits. */
export type Detection = 'poll' | 'notify';

function runFloor(database: string, mode: Mode, toPeer: string, toScenario: string): (command: string, args: string[]) => void {
  const floor = new FloorStatements(openFloorDatabase(database, mode));
  const inbound = new Doorbell(toPeer);
  const outbound = new Doorbell(toScenario);
  const dataVersionStatement = floor.db.prepare('PRAGMA data_version').pluck();
  const dataVersion = (): number => dataVersionStatement.get() as number;
  const waitDetail = JSON.stringify({ topic: null });
  const deadlineMs = Date.now() + RECV_TIMEOUT_SECONDS * 1000;
  // The echo's operations: recv at 2i (its wait recorded as started), setEvent at 2i + 1; the
  // scenario inserted the workflow row and the first started recv before spawning this process.
  const consume = floor.db.transaction((operationIndex: number) => {
    const oldest = floor.selectOldestMessage.get(ECHO_UUID, NO_TOPIC)!;
    floor.markMessageConsumed.run(Date.now(), oldest.message_id);
    floor.completeOperation.run(oldest.message, null, Date.now(), ECHO_UUID, operationIndex);
    return oldest.message;
  });
  const setEvent = floor.db.transaction((operationIndex: number, key: string, value: string) => {
    floor.insertEvent.run(ECHO_UUID, key, value, Date.now());
    floor.insertCompletedOperation.run(ECHO_UUID, operationIndex, 'setEvent', 'setEvent', null, null, Date.now(), Date.now());
  });
  const startRecv = floor.db.transaction((operationIndex: number) => {
    floor.selectOldestMessage.get(ECHO_UUID, NO_TOPIC);
    floor.insertStartedOperation.run(ECHO_UUID, operationIndex, 'recv', 'recv', deadlineMs, waitDetail, Date.now());
  });
  let operationIndex = 0;
  const echoOnce = (detection: Detection): void => {
    if (detection === 'notify') {
      inbound.wait('m'); // rung by the scenario after its send committed
    } else {
      // Read data_version before looking, so a commit landing after the look still changes it.
      let version = dataVersion();
      while (floor.selectOldestMessage.get(ECHO_UUID, NO_TOPIC) === undefined) version = spinForChange(dataVersion, version, 'a message');
    }
    const message = JSON.parse(consume.immediate(operationIndex)) as Ping;
    const recvAtUs = sharedClockUs();
    const setAtUs = sharedClockUs();
    setEvent.immediate(operationIndex + 1, `reply-${message.i}`, JSON.stringify({ sentAtUs: message.sentAtUs, recvAtUs, setAtUs } satisfies Reply));
    if (detection === 'notify') outbound.ring('e');
    startRecv.immediate(operationIndex + 2);
    if (detection === 'notify') outbound.ring('w');
    operationIndex += 2;
  };
  return (command, args) => {
    if (command === 'run') {
      const [count, detection] = args as [string, Detection];
      say('go');
      for (let iteration = Number(count); iteration > 0; iteration--) echoOnce(detection);
      say('done');
    } else if (command === 'exit') {
      floor.db.close();
      inbound.close();
      outbound.close();
      process.exit(0);
    } else {
      throw new Error(`Unknown command ${command}`);
    }
  };
}

async function main(): Promise<void> {
  const [role, database, mode, ...rest] = process.argv.slice(2) as [string, string, Mode, ...string[]];
  const handle = role === 'owner' ? await runOwner(database, mode) : role === 'floor' ? runFloor(database, mode, rest[0]!, rest[1]!) : null;
  if (handle === null) throw new Error(`Expected the role owner or floor, got ${role}`);
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [command = '', ...args] = line.trim().split(/\s+/);
    try {
      if (!common(command, args[0])) handle(command, args);
    } catch (error) {
      console.error(error);
      process.exit(1);
    }
  });
  // The parent going away (stdin closed) ends this process too.
  process.stdin.on('end', () => process.exit(0));
  say('ready');
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
