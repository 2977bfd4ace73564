// docs/getting-started.md, runnable: a first workflow with steps, an event and a message; an engine
// closed while the workflow waits and reopened; the same workflow without decorators.
//   node --import tsx docs/examples/getting-started.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// #region define
import { Engine, Step, Workflow, type StepContext, type WorkflowContext } from 'durablite';

class Orders {
  @Step()
  static async reserveStock(_ctxt: StepContext, sku: string): Promise<string> {
    console.log(`  (step) reserving ${sku}`); // a real shop would call its inventory service here
    return `reservation-${sku}`;
  }

  @Step()
  static async ship(_ctxt: StepContext, reservation: string, address: string): Promise<string> {
    console.log(`  (step) shipping ${reservation} to ${address}`);
    return `parcel for ${address}`;
  }

  @Workflow()
  static async fulfil(ctxt: WorkflowContext, sku: string): Promise<string> {
    const reservation = await ctxt.invoke(Orders).reserveStock(sku);
    await ctxt.setEvent('status', 'waiting for an address');
    const address = await ctxt.recv<string>('address', 24 * 3600);
    if (address === null) return 'cancelled: no address within a day';
    return await ctxt.invoke(Orders).ship(reservation, address);
  }
}
// #endregion define

// #region functions
import { registerStep, registerWorkflow } from 'durablite';

const reserveStock = registerStep('reserveStock', async (_ctxt: StepContext, sku: string) => `reservation-${sku}`);

const fulfil = registerWorkflow('fulfil', async (ctxt: WorkflowContext, sku: string) => {
  const reservation = await ctxt.runStep(reserveStock, sku);
  return `reserved ${reservation}`;
});
// #endregion functions

async function main(): Promise<void> {
  // The page's reader runs this in their project folder; here a fresh temporary folder stands in.
  const projectFolder = process.cwd();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-getting-started-'));
  process.chdir(folder);

  console.log('First run:');
  // #region run
  const database = 'orders.db'; // a file in the current folder, created on the first open
  const engine = await Engine.open({ database });
  const handle = await engine.invoke(Orders, 'order-1').fulfil('mug');
  console.log(await engine.getEvent(handle.getWorkflowUUID(), 'status')); // waiting for an address
  await engine.send(handle.getWorkflowUUID(), '1 Main St', 'address');
  console.log(await handle.getResult()); // parcel for 1 Main St
  // #endregion run

  // #region again
  const again = await engine.invoke(Orders, 'order-1').fulfil('mug');
  console.log(await again.getResult()); // parcel for 1 Main St: recorded, no step runs again
  // #endregion again

  console.log('Closed while waiting, then reopened:');
  // #region reopen
  await engine.invoke(Orders, 'order-2').fulfil('tee'); // reserves stock, then waits for an address
  await engine.getEvent('order-2', 'status');
  await engine.close(); // or a crash: order-2 stays PENDING in the file

  const reopened = await Engine.open({ database }); // recovery resumes order-2 in its recv
  console.log(reopened.recovery.resumed); // [ 'order-2' ]
  await reopened.send('order-2', '2 Side St', 'address');
  console.log(await reopened.retrieveWorkflow('order-2').getResult()); // reserveStock did not run again
  // #endregion reopen

  console.log('Without decorators:');
  // #region start
  const started = await reopened.startWorkflow(fulfil, { workflowUUID: 'order-3' }, 'sticker');
  console.log(await started.getResult()); // reserved reservation-sticker
  await reopened.close();
  // #endregion start
  process.chdir(projectFolder);
  fs.rmSync(folder, { recursive: true, force: true });
}

void main();
