// The README's example: the seed's checkout pattern in one file, handler side included.
//   node --import tsx docs/examples/readme.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// #region workflow
import { Engine, Workflow, type WorkflowContext } from 'durablite';

class Shop {
  @Workflow()
  static async paymentWorkflow(ctxt: WorkflowContext, orderId: string): Promise<string> {
    await ctxt.setEvent('checkout_url', `https://pay.example/${orderId}`);
    const paid = await ctxt.recv<string>('checkout_complete_topic', 30 * 60);
    return paid ?? 'no notification: ask the provider';
  }
}
// #endregion workflow

async function main(): Promise<void> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-readme-'));
  process.chdir(folder);
  // #region handlers
  const engine = await Engine.open({ database: 'shop.db' });

  // POST /api/checkout_session: start the workflow, wait for its URL, redirect the customer there.
  const handle = await engine.invoke(Shop).paymentWorkflow('o-1');
  const url = await engine.getEvent<string>(handle.getWorkflowUUID(), 'checkout_url');

  // POST /payment_webhook: forward the notification; the delivery id makes a retry a no-op.
  await engine.send(handle.getWorkflowUUID(), 'paid', 'checkout_complete_topic', 'delivery-7');
  await engine.send(handle.getWorkflowUUID(), 'paid', 'checkout_complete_topic', 'delivery-7');

  console.log(url, await handle.getResult()); // https://pay.example/o-1 paid
  await engine.close();
  // #endregion handlers
  const reopened = await Engine.open({ database: 'shop.db' }); // the file keeps everything
  console.log('messages stored:', (await reopened.listMessages(handle.getWorkflowUUID())).length); // 1
  await reopened.close();
  fs.rmSync(folder, { recursive: true, force: true });
}

void main();
