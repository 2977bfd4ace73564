import { Step, Workflow, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit } from './helpers';

const checkoutCompleteTopic = 'checkout_complete';
const checkoutUrlKey = 'checkout_url';
const paymentCalls: string[] = [];

class Payments {
  @Workflow() static async paymentWorkflow(ctxt: WorkflowContext, orderId: string): Promise<string> {
    await ctxt.setEvent(checkoutUrlKey, `https://pay.example/${orderId}`);
    const notification = await ctxt.recv<string>(checkoutCompleteTopic, 30 * 60);
    if (notification === null) return await ctxt.invoke(Payments).queryProvider(orderId);
    return `paid:${notification}`;
  }

  @Step() static async queryProvider(_ctxt: StepContext, orderId: string): Promise<string> {
    paymentCalls.push(orderId);
    return 'provider-says-unpaid';
  }

  @Workflow() static async napper(ctxt: WorkflowContext, hours: number): Promise<number> {
    await ctxt.sleep(hours * 3600);
    return hours;
  }

  @Workflow() static async timeline(ctxt: WorkflowContext): Promise<string[]> {
    const seen: string[] = [];
    const record = async (label: string, work: Promise<unknown>) => {
      await work;
      seen.push(label);
    };
    await Promise.all([
      record('sleep-30', ctxt.sleep(30)),
      record('sleep-10', ctxt.sleep(10)),
      record('sleep-20', ctxt.sleep(20)),
    ]);
    return seen;
  }
}

describe('virtual time', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.close();
  });

  test('the payment workflow takes its 30-minute timeout path at once under the virtual clock', async () => {
    t = await openTestKit();
    const startedReal = performance.now();
    const handle = await t.engine.invoke(Payments).paymentWorkflow('order-1');
    const wait = await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });
    expect(wait).toMatchObject({ kind: 'recv', topic: checkoutCompleteTopic, deadlineMs: t.clock.now() + 30 * 60 * 1000 });

    await t.advance(30 * 60 - 1);
    expect((await handle.getStatus())?.status).toBe('PENDING');
    await t.advance(1);
    expect(await handle.getResult()).toBe('provider-says-unpaid');
    expect(paymentCalls).toContain('order-1');
    expect(performance.now() - startedReal).toBeLessThan(1000);
  });

  test('the payment workflow happy path completes when the notification arrives, in virtual time', async () => {
    t = await openTestKit();
    const startedReal = performance.now();
    const handle = await t.engine.invoke(Payments).paymentWorkflow('order-2');
    expect(await t.engine.getEvent(handle.getWorkflowUUID(), checkoutUrlKey)).toBe('https://pay.example/order-2');
    await t.advance(10 * 60);
    await t.engine.send(handle.getWorkflowUUID(), 'ok', checkoutCompleteTopic);
    expect(await handle.getResult()).toBe('paid:ok');
    expect(performance.now() - startedReal).toBeLessThan(1000);
  });

  test('timestamps written to the store come from the virtual clock', async () => {
    t = await openTestKit({ clock: undefined });
    const start = t.clock.now();
    const handle = await t.engine.invoke(Payments).napper(1);
    await t.advance(3600);
    await handle.getResult();
    const status = await handle.getStatus();
    expect(status?.createdAt).toBe(start);
    expect(status?.updatedAt).toBe(start + 3600 * 1000);
  });

  test('advance fires deadlines in order when it crosses several', async () => {
    t = await openTestKit();
    const handle = await t.engine.invoke(Payments).timeline();
    await t.runUntilIdle();
    await t.advance(60);
    expect(await handle.getResult()).toEqual(['sleep-10', 'sleep-20', 'sleep-30']);
  });

  test('a message sent at virtual time t is received before a timeout at t+1', async () => {
    t = await openTestKit();
    const handle = await t.engine.invoke(Payments).paymentWorkflow('order-3');
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });
    await t.advance(30 * 60 - 1);
    await t.engine.send(handle.getWorkflowUUID(), 'just-in-time', checkoutCompleteTopic);
    await t.advance(1);
    expect(await handle.getResult()).toBe('paid:just-in-time');
  });

  test('auto-skip jumps to the next deadline so a workflow sleeping a day returns at once', async () => {
    t = await openTestKit({ autoSkip: true });
    const startedReal = performance.now();
    const start = t.clock.now();
    const handle = await t.engine.invoke(Payments).napper(24);
    expect(await handle.getResult()).toBe(24);
    expect(t.clock.now()).toBe(start + 24 * 3600 * 1000);
    expect(performance.now() - startedReal).toBeLessThan(1000);
  });

  test('runUntilIdle leaves a workflow blocked in recv and time unchanged', async () => {
    t = await openTestKit();
    const before = t.clock.now();
    const handle = await t.engine.invoke(Payments).paymentWorkflow('order-4');
    await t.runUntilIdle();
    expect(t.waits(handle.getWorkflowUUID()).map((wait) => wait.kind)).toEqual(['recv']);
    expect(t.clock.now()).toBe(before);
  });
});
