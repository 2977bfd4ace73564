// checkout on DBOS Transact: µs from a handler starting a workflow to its DBOS.getEvent resolving with
// the event the workflow publishes first (DBOS.setEvent); the workflow then returns. The same span,
// sizes and statistics as bench/scenarios/checkout.ts; only the engine differs.
import { DBOS, type WorkflowHandle } from '@dbos-inc/dbos-sdk';
import { nowUs } from '../../lib/harness';
import { measure, runDbosScenario } from '../lib';

function paymentUrl(orderId: string): string {
  return `https://pay.example.com/session/${orderId}`;
}

const checkout = DBOS.registerWorkflow(
  async (orderId: string): Promise<string> => {
    await DBOS.setEvent('payment_url', paymentUrl(orderId));
    return orderId;
  },
  { name: 'bench.checkout.order' },
);

runDbosScenario('checkout', async (context) => {
  const samples = context.size('samples', 10_000, 300);
  const warmup = context.size('warmup', 1_000, 50);

  let nextOrder = 0;
  let lastHandle: WorkflowHandle<string> | undefined;
  const run = async (iterations: number): Promise<number[]> => {
    const latencies: number[] = [];
    for (let iteration = 0; iteration < iterations; iteration++) {
      const orderId = `order-${nextOrder++}`;
      const startUs = nowUs();
      const handle = await DBOS.startWorkflow(checkout)(orderId);
      const url = await DBOS.getEvent<string>(handle.workflowID, 'payment_url', 60);
      latencies.push(nowUs() - startUs);
      lastHandle = handle;
      if (url !== paymentUrl(orderId)) throw new Error(`Expected the payment URL of ${orderId}, got ${String(url)}`);
    }
    return latencies;
  };
  const latencies = await measure({ samples, warmup, run });
  // Let the last workflow write its final status, so DBOS shuts down with nothing running.
  await lastHandle?.getResult();
  return latencies;
});
