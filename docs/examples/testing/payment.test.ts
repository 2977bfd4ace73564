// docs/testing.md, runnable: unit tests of the shop's payment workflow (docs/examples/shop/shop.ts)
// with durablite/testing: the real engine and SQLite store in memory, under a virtual clock.
// __tests__/docs.testing-examples.test.ts runs this file with jest.
// #region setup
import { StorageFullError } from 'durablite';
import { TestEngine } from 'durablite/testing';
import {
  CHECKOUT_COMPLETE_TOPIC,
  CHECKOUT_URL_KEY,
  configureShop,
  PAYMENT_TIMEOUT_SECONDS,
  Shop,
  type PaymentNotification,
  type PaymentRecord,
  type PaymentStatus,
} from './shop';

const order = { orderId: 'o-1', lines: [{ sku: 'mug', quantity: 2 }] };
const paid: PaymentNotification = { deliveryId: 'd-1', reference: 'order-o-1', orderId: 'o-1', paymentId: 'pay-1', status: 'paid' };

let providerSays: { status: PaymentStatus; paymentId: string | null };
let ledger: PaymentRecord[];
let t: TestEngine;

beforeEach(async () => {
  providerSays = { status: 'pending', paymentId: null };
  ledger = [];
  configureShop({
    provider: {
      createSession: async ({ orderId }) => `https://pay.example/${orderId}`,
      lookupPayment: async () => providerSays,
    },
    ledger: {
      record: async (entry) => {
        if (!ledger.some((line) => line.orderId === entry.orderId)) ledger.push(entry);
      },
    },
  });
  t = await TestEngine.open(); // ':memory:', virtual clock at 2026-01-01T00:00:00Z
});

afterEach(async () => {
  await t.close();
});
// #endregion setup

describe('Shop.paymentWorkflow', () => {
  // #region happyPath
  test('publishes the payment URL, then records the payment the webhook reports', async () => {
    const handle = await t.engine.invoke(Shop, 'order-o-1').paymentWorkflow(order);
    expect(await t.engine.getEvent(handle.getWorkflowUUID(), CHECKOUT_URL_KEY)).toBe('https://pay.example/o-1');

    await t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId);

    expect(await handle.getResult()).toEqual({ orderId: 'o-1', status: 'paid', paymentId: 'pay-1', source: 'webhook' });
    expect(ledger).toEqual([{ orderId: 'o-1', status: 'paid', paymentId: 'pay-1', amountCents: 2800, source: 'webhook' }]);
  });
  // #endregion happyPath

  // #region blocked
  test('waits in recv on the checkout topic with a 30-minute deadline', async () => {
    const handle = await t.engine.invoke(Shop).paymentWorkflow(order);
    const wait = await t.waitUntilBlocked(handle.getWorkflowUUID());
    expect(wait).toMatchObject({
      kind: 'recv',
      topic: CHECKOUT_COMPLETE_TOPIC,
      deadlineMs: t.clock.now() + PAYMENT_TIMEOUT_SECONDS * 1000,
    });
  });
  // #endregion blocked

  // #region timeout
  test('asks the provider when no notification arrives in 30 minutes (in virtual time)', async () => {
    providerSays = { status: 'paid', paymentId: 'pay-late' };
    const handle = await t.engine.invoke(Shop).paymentWorkflow(order);
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });

    await t.advance(PAYMENT_TIMEOUT_SECONDS - 1);
    expect((await handle.getStatus())?.status).toBe('PENDING'); // one second to go
    await t.advance(1);

    expect(await handle.getResult()).toMatchObject({ status: 'paid', paymentId: 'pay-late', source: 'provider' });
  });
  // #endregion timeout

  // #region autoSkip
  test('with auto-skip, the timeout path needs no advance() at all', async () => {
    await t.close();
    t = await TestEngine.open({ autoSkip: true });
    const handle = await t.engine.invoke(Shop).paymentWorkflow(order);

    expect(await handle.getResult()).toMatchObject({ status: 'unpaid', source: 'provider' });
    expect(ledger).toEqual([expect.objectContaining({ orderId: 'o-1', status: 'unpaid' })]);
  });
  // #endregion autoSkip

  // #region twice
  test('a webhook delivered twice is received once', async () => {
    const handle = await t.engine.invoke(Shop, 'order-o-1').paymentWorkflow(order);
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });

    await t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId);
    await t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId); // the retry

    expect(await handle.getResult()).toMatchObject({ status: 'paid' });
    const messages = await t.engine.listMessages(handle.getWorkflowUUID(), CHECKOUT_COMPLETE_TOPIC);
    expect(messages).toEqual([expect.objectContaining({ message: paid, consumed: true })]);
  });
  // #endregion twice

  // #region crash
  test('a crash after recv and during the next step loses nothing and receives nothing twice', async () => {
    // Hold the ledger write of the first run, so the crash lands while recordPayment runs.
    let releaseFirstWrite!: () => void;
    const firstWriteHeld = new Promise<void>((resolve) => (releaseFirstWrite = resolve));
    let firstWriteStarted!: () => void;
    const writing = new Promise<void>((resolve) => (firstWriteStarted = resolve));
    let writes = 0;
    configureShop({
      provider: { createSession: async () => 'https://pay.example/o-1', lookupPayment: async () => providerSays },
      ledger: {
        record: async (entry) => {
          if (++writes === 1) {
            firstWriteStarted();
            await firstWriteHeld;
          }
          if (!ledger.some((line) => line.orderId === entry.orderId)) ledger.push(entry);
        },
      },
    });
    const handle = await t.engine.invoke(Shop, 'order-o-1').paymentWorkflow(order);
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });
    await t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId);
    await writing; // recv consumed the message and recorded it; recordPayment is now running

    const engine = await t.crash(); // no cleanup runs; a new engine recovers from the store
    releaseFirstWrite(); // the dead run's late write cannot record anything any more

    expect(engine.recovery.resumed).toEqual(['order-o-1']);
    const result = await engine.retrieveWorkflow('order-o-1').getResult();
    expect(result).toMatchObject({ status: 'paid', paymentId: 'pay-1' }); // recv replayed its recorded message
    expect(writes).toBe(2); // the unrecorded step ran again: at-least-once execution...
    expect(ledger).toHaveLength(1); // ...which the idempotent ledger absorbs
    const messages = await engine.listMessages('order-o-1');
    expect(messages.map((message) => message.consumed)).toEqual([true]); // one message, consumed once
  });
  // #endregion crash

  // #region storageFault
  test('a commit that fails under the workflow loses nothing: the workflow resumes from its records', async () => {
    let writes = 0;
    configureShop({
      provider: { createSession: async () => 'https://pay.example/o-1', lookupPayment: async () => providerSays },
      ledger: {
        record: async (entry) => {
          // The commit that would record this step's result fails, as on a disk error.
          if (++writes === 1) t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
          if (!ledger.some((line) => line.orderId === entry.orderId)) ledger.push(entry);
        },
      },
    });
    const handle = await t.engine.invoke(Shop, 'order-o-1').paymentWorkflow(order);
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });
    await t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId);

    // Not the workflow's outcome: it stayed PENDING and resumed at once from what was committed.
    expect(await handle.getResult()).toMatchObject({ status: 'paid', paymentId: 'pay-1' });
    expect(t.pendingFaults).toBe(0); // the fault struck
    expect(writes).toBe(2); // the step whose record failed ran again (at least once)...
    expect(ledger).toHaveLength(1); // ...which the idempotent ledger absorbs
    const messages = await t.engine.listMessages('order-o-1');
    expect(messages.map((message) => message.consumed)).toEqual([true]); // received once
  });

  test('a handler call whose commit fails rejects with StorageError and stores nothing', async () => {
    const handle = await t.engine.invoke(Shop, 'order-o-1').paymentWorkflow(order);
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });

    t.injectFault({ at: 'commit', code: 'SQLITE_FULL' });
    await expect(t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId)).rejects.toThrow(StorageFullError);
    expect(await t.engine.listMessages('order-o-1')).toEqual([]);

    await t.engine.send(handle.getWorkflowUUID(), paid, CHECKOUT_COMPLETE_TOPIC, paid.deliveryId); // the provider retries
    expect(await handle.getResult()).toMatchObject({ status: 'paid' });
  });
  // #endregion storageFault

  // #region rejected
  test('publishes null for an order it rejects, so the handler takes the cancel path', async () => {
    const handle = await t.engine.invoke(Shop).paymentWorkflow({ orderId: 'o-2', lines: [] });
    expect(await t.engine.getEvent(handle.getWorkflowUUID(), CHECKOUT_URL_KEY)).toBeNull();
    expect(await handle.getResult()).toMatchObject({ status: 'rejected', reason: 'the cart is empty' });
  });
  // #endregion rejected
});

// #region virtualClock
import { Engine, registerWorkflow, type WorkflowContext } from 'durablite';
import { VirtualClock } from 'durablite/testing';

test('a VirtualClock drives a plain Engine too', async () => {
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const engine = await Engine.open({ database: ':memory:', clock });
  const nap = registerWorkflow('nap', async (ctxt: WorkflowContext) => ctxt.sleep(3600));
  const napping = await engine.startWorkflow(nap, { workflowUUID: 'nap-1' });
  await clock.advance(3600); // fires the sleep's deadline; no real time passes
  await napping.getResult();
  expect(new Date(clock.now()).toISOString()).toBe('2026-01-01T01:00:00.000Z');
  await engine.close();
});
// #endregion virtualClock
