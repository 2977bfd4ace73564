// roundtrip on DBOS Transact: handler DBOS.send → workflow DBOS.recv → workflow DBOS.setEvent (a new
// key) → handler DBOS.getEvent, p50/p99 µs. The same span, sizes and statistics as
// bench/scenarios/roundtrip.ts; only the engine differs.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { nowUs } from '../../lib/harness';
import { measure, runDbosScenario } from '../lib';

const RECV_TIMEOUT_SECONDS = 86_400;
/** Sent after the measured rounds: the workflow returns, so DBOS shuts down with nothing running. */
const STOP = -1;

const echo = DBOS.registerWorkflow(
  async (): Promise<void> => {
    for (;;) {
      const message = await DBOS.recv<number>(undefined, { timeoutSeconds: RECV_TIMEOUT_SECONDS });
      if (message === null) continue;
      if (message === STOP) return;
      await DBOS.setEvent(`reply-${message}`, message);
    }
  },
  { name: 'bench.roundtrip.echo' },
);

runDbosScenario('roundtrip', async (context) => {
  const samples = context.size('samples', 10_000, 300);
  const warmup = context.size('warmup', 1_000, 50);

  const handle = await DBOS.startWorkflow(echo, { workflowID: `roundtrip-echo-${process.pid}` })();
  const workflowID = handle.workflowID;
  let nextMessage = 0;
  const run = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const message = nextMessage++;
      const startUs = nowUs();
      await DBOS.send(workflowID, message);
      const reply = await DBOS.getEvent<number>(workflowID, `reply-${message}`, 60);
      latencies.push(nowUs() - startUs);
      if (reply !== message) throw new Error(`Expected the reply to message ${message}, got ${String(reply)}`);
    }
    return latencies;
  };
  const latencies = await measure({ samples, warmup, run });
  await DBOS.send(workflowID, STOP);
  await handle.getResult();
  return latencies;
});
