// docs/managing-workflows.md, runnable: a step retried with exponential backoff under the virtual
// clock, the attempts as listOperations shows them, StepRetriesExceededError after the last attempt,
// and ctxt.now()/ctxt.randomUUID() replayed identically after a crash.
//   node --import tsx docs/examples/retries.ts
import { registerStep, registerWorkflow, StepRetriesExceededError, type StepContext, type WorkflowContext } from 'durablite';
import { TestEngine } from 'durablite/testing';

/** An exchange-rate service that is down for its first two calls. */
const rateService = {
  calls: 0,
  async rate(currency: string): Promise<number> {
    this.calls++;
    if (this.calls <= 2) throw new Error(`rate service unavailable (call ${this.calls})`);
    return currency === 'EUR' ? 0.92 : 1;
  },
};

// #region retries
const fetchRate = registerStep('fetchRate', async (ctxt: StepContext, currency: string) => {
  console.log(`attempt ${ctxt.attempt}`);
  return rateService.rate(currency);
}, { retries: { maxAttempts: 5, intervalSeconds: 10, backoffRate: 3 } });
// #endregion retries

// #region exceeded
const notifyPartner = registerStep('notifyPartner', async () => {
  throw new Error('partner endpoint refused the connection');
}, { retries: { maxAttempts: 2, intervalSeconds: 1 } });

const convert = registerWorkflow('convert', async (ctxt: WorkflowContext, cents: number) => {
  const rate = await ctxt.runStep(fetchRate, 'EUR');
  try {
    await ctxt.runStep(notifyPartner);
  } catch (error) {
    if (!(error instanceof StepRetriesExceededError)) throw error;
    console.log(`gave up after ${error.attempts} attempts: ${(error.cause as Error).message}`);
  }
  return Math.round(cents * rate);
});
// #endregion exceeded

// #region deterministic
const quote = registerWorkflow('quote', async (ctxt: WorkflowContext, customer: string) => {
  // Not Date.now() or crypto.randomUUID(): a replay would see new values and disagree with its records.
  const quotedAtMs = await ctxt.now();
  const quoteId = await ctxt.randomUUID();
  const accepted = await ctxt.recv<boolean>('answer', 24 * 3600);
  return { customer, quoteId, quotedAt: new Date(quotedAtMs).toISOString(), accepted };
});
// #endregion deterministic

async function main(): Promise<void> {
  const t = await TestEngine.open();
  const startMs = t.clock.now();
  // #region listing
  const handle = await t.engine.startWorkflow(convert, { workflowUUID: 'convert-1' }, 1000);
  await t.advance(10); // the second attempt, 10 s after the first failed
  await t.advance(30); // the third, 30 s after the second: 10 x 3
  await t.advance(1); // notifyPartner's second and last attempt
  console.log(await handle.getResult());
  const [rateStep] = await t.engine.listOperations('convert-1');
  for (const failed of rateStep!.failedAttempts!) {
    console.log(`attempt ${failed.attempt} failed at +${(failed.failedAt - startMs) / 1000} s: ${failed.error.message}`);
  }
  console.log(`${rateStep!.attempts} attempts, result ${String(rateStep!.output)}`);
  // #endregion listing

  // #region replay
  await t.engine.startWorkflow(quote, { workflowUUID: 'quote-1' }, 'ada');
  await t.waitUntilBlocked('quote-1', { kind: 'recv' });
  const recorded = (await t.engine.listOperations('quote-1')).map((operation) => operation.output);
  await t.crash(); // the process dies while the quote waits for an answer
  await t.advance(3600); // an hour later...
  await t.engine.send('quote-1', true, 'answer');
  const result = (await t.engine.retrieveWorkflow('quote-1').getResult()) as { quoteId: string; quotedAt: string };
  console.log(result.quotedAt, result.quoteId === recorded[1]);
  // #endregion replay
  await t.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
