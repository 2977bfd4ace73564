// The other process of the stream scenario's cross-process figure (bench/scenarios/stream.ts), which
// spawns it with `nodeArgumentsFor` and talks to it over stdin/stdout, one command and one answer per line.
//
//   argv: owner <database> FULL|NORMAL
//         floor <database> FULL|NORMAL <to-peer fifo> <to-scenario fifo>
//
// owner: opens an Engine on the file and starts the workflow `ticker`, which recv()s a number i and
//   writes { i, writtenAtUs } to its stream 'ticks', stamping the time just before writeStream; a
//   negative number ends it. Prints `ready`.
// floor: `run <n>` → `go`, then n times: waits for the scenario's doorbell, stamps the time, commits
//   the engine's writeStream transaction directly (bench/lib/floor.ts) and rings back; then `done`.
// Both: `exit`.
import readline from 'node:readline';
import { Engine, registerWorkflow, type WorkflowContext } from '../../lib';
import { Doorbell, sharedClockUs } from './cross-process-peer';
import { FloorStatements, openFloorDatabase, StreamFloorStatements } from './floor';
import type { Mode } from './harness';

export const TICKER_UUID = 'ticker';
export const TICKER_NAME = 'bench.stream.ticker';

export interface Tick {
  i: number;
  writtenAtUs: number;
}

const ticker = registerWorkflow(TICKER_NAME, async (ctxt: WorkflowContext) => {
  for (;;) {
    const i = await ctxt.recv<number>(null, 86_400);
    if (i === null || i < 0) return 'stopped';
    await ctxt.writeStream<Tick>('ticks', { i, writtenAtUs: sharedClockUs() });
  }
});

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const [role, database, mode, toPeer, toScenario] = process.argv.slice(2) as ['owner' | 'floor', string, Mode, string, string];
  let handle: (command: string, args: string[]) => void;
  if (role === 'owner') {
    const engine = await Engine.open({ database, synchronous: mode });
    await engine.startWorkflow(ticker, { workflowUUID: TICKER_UUID });
    handle = (command) => {
      if (command === 'exit') void engine.close().then(() => process.exit(0));
    };
  } else {
    const floor = new FloorStatements(openFloorDatabase(database, mode));
    const streams = new StreamFloorStatements(floor);
    floor.insertWorkflow.run(TICKER_UUID, TICKER_NAME, '[]', null, Date.now(), Date.now());
    const inbound = new Doorbell(toPeer);
    const outbound = new Doorbell(toScenario);
    let next = 0;
    handle = (command, args) => {
      if (command === 'run') {
        say('go');
        for (let remaining = Number(args[0]); remaining > 0; remaining--) {
          inbound.wait('w');
          const i = next++;
          streams.append.immediate(TICKER_UUID, 'ticks', JSON.stringify({ i, writtenAtUs: sharedClockUs() } satisfies Tick), i);
          outbound.ring('v');
        }
        say('done');
      } else if (command === 'exit') {
        floor.db.close();
        process.exit(0);
      }
    };
  }
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, ...args] = line.trim().split(' ');
    handle(command!, args);
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
