// One engine process of the `engines` scenario (bench/scenarios/engines.ts): opens an Engine on the
// database it is given (a PostgreSQL schema other engines share, or a SQLite file), says `ready`, and
// on `go` starts its workflows (a step, a setEvent, a return), `concurrency` at a time, each awaited to
// its result; then prints `done {...}` with its count, time and commits, and closes on `exit`.
//
//   node engines-peer.js <database> <mode FULL|NORMAL|POSTGRES> <executorId> <workflows> <concurrency>
import readline from 'node:readline';
import { Engine, registerStep, registerWorkflow, type EngineOptions, type WorkflowContext } from '../../lib';
import { nowUs, round } from './harness';
import { countCommits } from './probe';

const double = registerStep('bench.engines.double', async (_ctxt, value: number) => value * 2);

const shortWorkflow = registerWorkflow('bench.engines.short', async (ctxt: WorkflowContext, value: number) => {
  const doubled = await ctxt.runStep(double, value);
  await ctxt.setEvent('doubled', doubled);
  return doubled;
});

async function main(): Promise<void> {
  const [database, mode, executorId, workflowsText, concurrencyText] = process.argv.slice(2) as [string, string, string, string, string];
  const workflows = Number(workflowsText);
  const concurrency = Number(concurrencyText);
  const options: EngineOptions =
    mode === 'POSTGRES' ? { database, postgres: { executorId } } : { database, synchronous: mode === 'FULL' ? 'FULL' : 'NORMAL' };
  const engine = await Engine.open(options);
  const commits = countCommits(engine);
  const lines = readline.createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  for await (const line of lines) {
    if (line === 'go') {
      const startCommits = commits();
      const startUs = nowUs();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < workflows) {
          const value = next++;
          const handle = await engine.startWorkflow(shortWorkflow, undefined, value);
          const result = await handle.getResult();
          if (result !== value * 2) throw new Error(`Expected ${value * 2}, got ${String(result)}`);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, workflows) }, worker));
      const elapsedMs = (nowUs() - startUs) / 1000;
      process.stdout.write(`done ${JSON.stringify({ workflows, elapsedMs: round(elapsedMs, 1), commits: commits() - startCommits })}\n`);
    } else if (line === 'exit') {
      break;
    }
  }
  await engine.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
