// The seed's events example: a checkout handler invokes paymentWorkflow, which validates the order
// and publishes the payment URL with setEvent; the handler awaits it with getEvent and redirects the
// customer there, or to the cancel page when getEvent returns null.
import { Step, Workflow, type HandlerContext, type StepContext, type WorkflowContext } from '../lib';
import { openTestEngine } from './helpers';
import { blockedInRecv, waitStarted } from './wait-helpers';

const checkout_url_key = 'checkout_url';
const checkout_complete_topic = 'checkout_complete_topic';
const origin = 'https://shop.example';

interface Order {
  orderId: string;
  items: { sku: string; quantity: number }[];
}

/** What the payment service's session step was asked for, and a gate that holds validation. */
const paymentService = {
  sessions: [] as string[],
  validationGate: Promise.resolve() as Promise<void>,
};

class Shop {
  @Workflow()
  static async paymentWorkflow(ctxt: WorkflowContext, order: Order, paymentTimeoutSeconds: number): Promise<string> {
    const valid = await ctxt.invoke(Shop).validateOrder(order);
    if (!valid) return 'rejected'; // The payment URL is never published.
    const paymentsURL = await ctxt.invoke(Shop).createPaymentSession(order);
    await ctxt.setEvent(checkout_url_key, paymentsURL);
    const notification = await ctxt.recv<string>(checkout_complete_topic, paymentTimeoutSeconds);
    return notification ?? 'payment not completed';
  }

  @Step()
  static async validateOrder(_ctxt: StepContext, order: Order): Promise<boolean> {
    await paymentService.validationGate;
    return order.items.length > 0 && order.items.every((item) => item.quantity > 0);
  }

  @Step()
  static async createPaymentSession(_ctxt: StepContext, order: Order): Promise<string> {
    paymentService.sessions.push(order.orderId);
    return `https://payments.example/session/${order.orderId}`;
  }
}

/** The part of a Koa context the seed's handler uses. */
interface KoaContext {
  redirect(url: string): void;
}

/** The seed's `webCheckout` handler, with the URL wait as a parameter so tests stay short. */
async function webCheckout(ctxt: HandlerContext, koaContext: KoaContext, order: Order, urlTimeoutSeconds: number): Promise<string> {
  const handle = await ctxt.invoke(Shop).paymentWorkflow(order, 5);
  const url = await ctxt.getEvent<string>(handle.getWorkflowUUID(), checkout_url_key, urlTimeoutSeconds);
  if (url === null) {
    koaContext.redirect(`${origin}/checkout/cancel`);
  } else {
    koaContext.redirect(url);
  }
  return handle.getWorkflowUUID();
}

function fakeKoa(): KoaContext & { redirects: string[] } {
  const redirects: string[] = [];
  return { redirects, redirect: (url) => redirects.push(url) };
}

beforeEach(() => {
  paymentService.sessions = [];
  paymentService.validationGate = Promise.resolve();
});

describe('seed example: checkout with events', () => {
  test('the handler awaits the payment URL the workflow publishes with setEvent and redirects the customer to it', async () => {
    const engine = await openTestEngine();
    let openValidation!: () => void;
    paymentService.validationGate = new Promise((resolve) => (openValidation = resolve));
    const koa = fakeKoa();

    const checkout = webCheckout(engine, koa, { orderId: 'o-1', items: [{ sku: 'mug', quantity: 2 }] }, 5);
    // The handler is already waiting for the URL while the order is still being validated.
    await waitStarted(engine, (wait) => wait.kind === 'getEvent' && wait.workflowUUID === null && wait.key === checkout_url_key);
    expect(koa.redirects).toEqual([]);
    openValidation();
    const workflowUUID = await checkout;

    expect(koa.redirects).toEqual(['https://payments.example/session/o-1']);
    expect(paymentService.sessions).toEqual(['o-1']);
    expect(await engine.listEvents(workflowUUID)).toEqual({ [checkout_url_key]: 'https://payments.example/session/o-1' });

    // The workflow goes on to wait for the payment service's notification.
    await blockedInRecv(engine, workflowUUID, checkout_complete_topic);
    await engine.send(workflowUUID, 'paid', checkout_complete_topic);
    expect(await engine.retrieveWorkflow(workflowUUID).getResult()).toBe('paid');
    await engine.close();
  });

  test('when the workflow never publishes the URL, getEvent returns null and the handler takes the cancel path', async () => {
    const engine = await openTestEngine();
    const koa = fakeKoa();
    const startedMs = Date.now();

    const workflowUUID = await webCheckout(engine, koa, { orderId: 'o-2', items: [] }, 0.3);

    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(300);
    expect(koa.redirects).toEqual([`${origin}/checkout/cancel`]);
    expect(await engine.retrieveWorkflow(workflowUUID).getResult()).toBe('rejected');
    expect(await engine.listEvents(workflowUUID)).toEqual({});
    expect(paymentService.sessions).toEqual([]);
    await engine.close();
  });

  test('two checkouts at once each get their own payment URL', async () => {
    const engine = await openTestEngine();
    const first = fakeKoa();
    const second = fakeKoa();
    const [firstUUID, secondUUID] = await Promise.all([
      webCheckout(engine, first, { orderId: 'o-3', items: [{ sku: 'tea', quantity: 1 }] }, 5),
      webCheckout(engine, second, { orderId: 'o-4', items: [{ sku: 'pot', quantity: 1 }] }, 5),
    ]);
    expect(first.redirects).toEqual(['https://payments.example/session/o-3']);
    expect(second.redirects).toEqual(['https://payments.example/session/o-4']);
    expect(firstUUID).not.toBe(secondUUID);
    await engine.close();
  });
});
