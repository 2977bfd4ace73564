// docs/guarantees.md, runnable: a step interrupted by a crash runs again (at-least-once execution),
// its result is recorded once, and an idempotency key keeps the outside effect single.
//   node --import tsx docs/examples/guarantees.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, registerStep, registerWorkflow, type StepContext, type WorkflowContext } from 'durablite';
import { TestEngine } from 'durablite/testing';

/** A payment API that, like most real ones, deduplicates requests by an idempotency key. */
const paymentApi = {
  requests: 0,
  charges: new Map<string, number>(),
  async charge(idempotencyKey: string, amountCents: number): Promise<string> {
    this.requests++;
    if (!this.charges.has(idempotencyKey)) this.charges.set(idempotencyKey, amountCents);
    return `charge-${idempotencyKey}`;
  },
};

/** Holds the first charge in flight until released, so the example can crash in the middle of it. */
let releaseFirstCharge: () => void = () => {};
const firstChargeHeld = new Promise<void>((resolve) => (releaseFirstCharge = resolve));
let chargeStarted: () => void = () => {};
const chargeRunning = new Promise<void>((resolve) => (chargeStarted = resolve));

// #region idempotentStep
const chargeCard = registerStep('chargeCard', async (ctxt: StepContext, amountCents: number) => {
  // This step runs again if the process dies before its result is recorded, so the charge carries a
  // key that is the same on every run of this step of this workflow.
  const idempotencyKey = `${ctxt.workflowUUID}/${ctxt.operationIndex}`;
  const charge = await paymentApi.charge(idempotencyKey, amountCents);
  return charge;
});
// #endregion idempotentStep

const checkout = registerWorkflow('checkout', async (ctxt: WorkflowContext, amountCents: number) => {
  const charge = await ctxt.runStep(chargeCard, amountCents);
  return charge;
});

async function main(): Promise<void> {
  // A crash in the middle of the step, simulated in-process by durablite/testing.
  const slowOnce = paymentApi.charge.bind(paymentApi);
  let calls = 0;
  paymentApi.charge = async (key, cents) => {
    const result = await slowOnce(key, cents);
    if (++calls === 1) {
      chargeStarted();
      await firstChargeHeld; // the first run is still "on the wire" when the process dies
    }
    return result;
  };

  const t = await TestEngine.open();
  await t.engine.startWorkflow(checkout, { workflowUUID: 'order-9' }, 4200);
  await chargeRunning;
  await t.crash(); // the step's result was never recorded: recovery runs it again
  releaseFirstCharge();
  console.log(await t.engine.retrieveWorkflow('order-9').getResult()); // charge-order-9/0
  console.log(`requests sent: ${paymentApi.requests}, charges made: ${paymentApi.charges.size}`); // 2 and 1
  const operations = await t.engine.listOperations('order-9');
  console.log(operations.map((operation) => `#${operation.operationIndex} ${operation.kind} ${operation.name}`)); // recorded once
  await t.close();

  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-guarantees-'));
  // #region durability
  // FULL (the default): every commit is synced to disk before its promise resolves.
  const ledger = await Engine.open({ database: path.join(folder, 'ledger.db') });
  // NORMAL: survives a crash of the process; a power cut may roll back the last commits.
  const scratch = await Engine.open({ database: path.join(folder, 'scratch.db'), synchronous: 'NORMAL' });
  // #endregion durability
  await ledger.close();
  await scratch.close();
  fs.rmSync(folder, { recursive: true, force: true });
}

void main();
