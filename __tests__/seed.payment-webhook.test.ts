// The seed's messages example: the payment workflow waits in recv on checkout_complete_topic with a
// timeout; a webhook handler forwards the payment processor's notification with send, using the
// delivery id as idempotency key. No notification in time: the workflow queries the provider instead.
import {
  Step,
  Workflow,
  WorkflowNotFoundError,
  type HandlerContext,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine } from './helpers';
import { blockedInRecv } from './wait-helpers';

const checkout_complete_topic = 'checkout_complete_topic';

/** What the payment processor posts to the webhook. */
interface PaymentNotification {
  deliveryId: string;
  status: 'paid' | 'failed';
  amountCents: number;
  metadata: { workflowUUID: string };
}

/** Stand-in for the payment provider, and a log of every step that really ran. */
const provider = {
  states: new Map<string, string>(),
  calls: [] as string[],
  /** Holds order validation, so a test can deliver the webhook before the workflow reaches recv. */
  validationGate: Promise.resolve() as Promise<void>,
};

class Payments {
  @Workflow()
  static async paymentWorkflow(ctxt: WorkflowContext, orderId: string, timeoutSeconds: number): Promise<string> {
    await ctxt.invoke(Payments).validateOrder(orderId); // ... then redirect the customer to the payment service.
    const notification = await ctxt.recv<PaymentNotification>(checkout_complete_topic, timeoutSeconds);
    if (notification) {
      return ctxt.invoke(Payments).handleNotification(orderId, notification);
    } else {
      // The notification did not arrive: ask the payment provider for the payment's state.
      return ctxt.invoke(Payments).queryPaymentState(orderId);
    }
  }

  @Step()
  static async validateOrder(_ctxt: StepContext, orderId: string): Promise<void> {
    await provider.validationGate;
    provider.calls.push(`validateOrder ${orderId}`);
  }

  @Step()
  static async handleNotification(_ctxt: StepContext, orderId: string, notification: PaymentNotification): Promise<string> {
    provider.calls.push(`handleNotification ${orderId}`);
    return `notified: ${notification.status} ${notification.amountCents}`;
  }

  @Step()
  static async queryPaymentState(_ctxt: StepContext, orderId: string): Promise<string> {
    provider.calls.push(`queryPaymentState ${orderId}`);
    return `queried: ${provider.states.get(orderId) ?? 'unknown'}`;
  }
}

/** The seed's `paymentWebhook` handler. */
async function paymentWebhook(ctxt: HandlerContext, request: { body: string }): Promise<{ status: number }> {
  const notificationMessage = JSON.parse(request.body) as PaymentNotification;
  const workflowIdentityUUID = notificationMessage.metadata.workflowUUID;
  await ctxt.send(workflowIdentityUUID, notificationMessage, checkout_complete_topic, notificationMessage.deliveryId);
  return { status: 200 };
}

function webhookRequest(workflowUUID: string, deliveryId: string, amountCents = 1250): { body: string } {
  const notification: PaymentNotification = { deliveryId, status: 'paid', amountCents, metadata: { workflowUUID } };
  return { body: JSON.stringify(notification) };
}

beforeEach(() => {
  provider.states = new Map();
  provider.calls = [];
  provider.validationGate = Promise.resolve();
});

describe('seed example: payment webhook with messages', () => {
  test('the webhook forwards the notification and the waiting workflow handles it', async () => {
    const engine = await openTestEngine();
    const handle = await engine.invoke(Payments, 'payment-o-1').paymentWorkflow('o-1', 5);
    await blockedInRecv(engine, 'payment-o-1', checkout_complete_topic);

    expect(await paymentWebhook(engine, webhookRequest('payment-o-1', 'delivery-1'))).toEqual({ status: 200 });
    expect(await handle.getResult()).toBe('notified: paid 1250');
    expect(provider.calls).toEqual(['validateOrder o-1', 'handleNotification o-1']);
    await engine.close();
  });

  test('delivering the webhook twice delivers one message, even when the retry’s body differs', async () => {
    const engine = await openTestEngine();
    const handle = await engine.invoke(Payments, 'payment-o-2').paymentWorkflow('o-2', 5);
    await blockedInRecv(engine, 'payment-o-2', checkout_complete_topic);

    const deliveries = await Promise.all([
      paymentWebhook(engine, webhookRequest('payment-o-2', 'delivery-2')),
      paymentWebhook(engine, webhookRequest('payment-o-2', 'delivery-2', 9999)),
    ]);
    expect(deliveries).toEqual([{ status: 200 }, { status: 200 }]);
    expect(await handle.getResult()).toBe('notified: paid 1250');
    // A late third delivery, after the workflow finished, stores nothing either.
    expect(await paymentWebhook(engine, webhookRequest('payment-o-2', 'delivery-2'))).toEqual({ status: 200 });

    const messages = await engine.listMessages('payment-o-2');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ topic: checkout_complete_topic, consumed: true, message: { amountCents: 1250 } });
    expect(provider.calls).toEqual(['validateOrder o-2', 'handleNotification o-2']);
    await engine.close();
  });

  test('a duplicate delivered before the workflow reaches recv is still one message, received once', async () => {
    const engine = await openTestEngine();
    let finishValidation!: () => void;
    provider.validationGate = new Promise((resolve) => (finishValidation = resolve));
    const handle = await engine.invoke(Payments, 'payment-o-3').paymentWorkflow('o-3', 5);

    await paymentWebhook(engine, webhookRequest('payment-o-3', 'delivery-3'));
    await paymentWebhook(engine, webhookRequest('payment-o-3', 'delivery-3', 1));
    expect(await engine.listMessages('payment-o-3')).toEqual([
      { topic: checkout_complete_topic, message: expect.objectContaining({ amountCents: 1250 }), consumed: false, createdAt: expect.any(Number) },
    ]);
    expect(provider.calls).toEqual([]);

    finishValidation();
    expect(await handle.getResult()).toBe('notified: paid 1250');
    expect((await engine.listMessages('payment-o-3')).map((info) => info.consumed)).toEqual([true]);
    expect(provider.calls).toEqual(['validateOrder o-3', 'handleNotification o-3']);
    await engine.close();
  });

  test('when no notification arrives in time the workflow takes its fallback path and queries the provider', async () => {
    const engine = await openTestEngine();
    provider.states.set('o-4', 'paid');
    const startedMs = Date.now();
    const handle = await engine.invoke(Payments, 'payment-o-4').paymentWorkflow('o-4', 0.3);

    expect(await handle.getResult()).toBe('queried: paid');
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(300);
    expect(provider.calls).toEqual(['validateOrder o-4', 'queryPaymentState o-4']);
    await engine.close();
  });

  test('a notification arriving after the fallback stays unconsumed and changes nothing', async () => {
    const engine = await openTestEngine();
    const handle = await engine.invoke(Payments, 'payment-o-5').paymentWorkflow('o-5', 0.2);
    expect(await handle.getResult()).toBe('queried: unknown');

    expect(await paymentWebhook(engine, webhookRequest('payment-o-5', 'delivery-5'))).toEqual({ status: 200 });
    expect(await engine.listMessages('payment-o-5', checkout_complete_topic)).toEqual([
      { topic: checkout_complete_topic, message: expect.objectContaining({ deliveryId: 'delivery-5' }), consumed: false, createdAt: expect.any(Number) },
    ]);
    expect(await handle.getResult()).toBe('queried: unknown');
    expect(provider.calls).toEqual(['validateOrder o-5', 'queryPaymentState o-5']);
    await engine.close();
  });

  test('a webhook for a workflow that does not exist fails with WorkflowNotFoundError', async () => {
    const engine = await openTestEngine();
    await expect(paymentWebhook(engine, webhookRequest('payment-nobody', 'delivery-6'))).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await engine.listMessages('payment-nobody')).toEqual([]);
    await engine.close();
  });
});
