// The shop's payment workflow, after the seed's e-commerce checkout: validate the order, publish the
// payment URL with setEvent, wait for the provider's notification with recv, record the payment.
// The outside world (payment provider, ledger) is injected, so tests can swap in fakes.
import { Step, Workflow, type StepContext, type WorkflowContext } from 'durablite';

/** The event key under which the workflow publishes the URL the customer pays at. */
export const CHECKOUT_URL_KEY = 'checkout_url';
/** The topic the payment webhook forwards the provider's notification on. */
export const CHECKOUT_COMPLETE_TOPIC = 'checkout_complete_topic';
/** How long the workflow waits for the notification before asking the provider itself. */
export const PAYMENT_TIMEOUT_SECONDS = 30 * 60;

/** What the shop sells, with server-side prices (a customer never sends prices). */
export const CATALOG: Readonly<Record<string, { name: string; priceCents: number }>> = {
  mug: { name: 'Enamel mug', priceCents: 1400 },
  tee: { name: 'T-shirt', priceCents: 2200 },
  sticker: { name: 'Sticker pack', priceCents: 500 },
};

export interface OrderLine {
  sku: string;
  quantity: number;
}

export interface Order {
  orderId: string;
  lines: OrderLine[];
}

export type PaymentStatus = 'paid' | 'failed' | 'pending';

/** What the payment provider posts to the webhook. `reference` is the workflow UUID it was given. */
export interface PaymentNotification {
  deliveryId: string;
  reference: string;
  orderId: string;
  paymentId: string;
  status: 'paid' | 'failed';
}

/** One line of the shop's payment ledger. */
export interface PaymentRecord {
  orderId: string;
  status: PaymentStatus | 'unpaid';
  paymentId: string | null;
  amountCents: number;
  /** Where the status came from: the webhook's notification, or asking the provider after the timeout. */
  source: 'webhook' | 'provider';
}

/** What the workflow returns. */
export interface OrderOutcome {
  orderId: string;
  status: PaymentRecord['status'] | 'rejected';
  paymentId: string | null;
  source: PaymentRecord['source'] | 'validation';
  reason?: string;
}

export interface PaymentProvider {
  /** Opens a payment session and returns the URL to send the customer to. */
  createSession(request: { orderId: string; amountCents: number; reference: string }): Promise<string>;
  /** Asks the provider how an order's payment stands (the fallback when no notification came). */
  lookupPayment(orderId: string): Promise<{ status: PaymentStatus; paymentId: string | null }>;
}

export interface Ledger {
  /** Records an order's payment. Must be idempotent per order: a step may run more than once. */
  record(entry: PaymentRecord): Promise<void>;
}

export interface ShopServices {
  provider: PaymentProvider;
  ledger: Ledger;
}

let services: ShopServices | undefined;

/** Connects the workflows to the outside world. Call it before the engine opens (recovery runs steps). */
export function configureShop(shopServices: ShopServices): void {
  services = shopServices;
}

function use(): ShopServices {
  if (services === undefined) throw new Error('The shop is not configured: call configureShop() before opening the engine.');
  return services;
}

type Validation = { ok: true; amountCents: number } | { ok: false; reason: string };

export class Shop {
  @Step()
  static async validateOrder(_ctxt: StepContext, order: Order): Promise<Validation> {
    if (order.lines.length === 0) return { ok: false, reason: 'the cart is empty' };
    let amountCents = 0;
    for (const line of order.lines) {
      const product = CATALOG[line.sku];
      if (product === undefined) return { ok: false, reason: `unknown product "${line.sku}"` };
      if (!Number.isInteger(line.quantity) || line.quantity < 1) return { ok: false, reason: `bad quantity for "${line.sku}"` };
      amountCents += product.priceCents * line.quantity;
    }
    return { ok: true, amountCents };
  }

  @Step()
  static async createPaymentSession(ctxt: StepContext, orderId: string, amountCents: number): Promise<string> {
    // The workflow UUID travels with the session and comes back in every notification.
    return use().provider.createSession({ orderId, amountCents, reference: ctxt.workflowUUID });
  }

  @Step()
  static async lookupPayment(_ctxt: StepContext, orderId: string): Promise<{ status: PaymentStatus; paymentId: string | null }> {
    return use().provider.lookupPayment(orderId);
  }

  @Step()
  static async recordPayment(_ctxt: StepContext, entry: PaymentRecord): Promise<void> {
    await use().ledger.record(entry);
  }

  // #region paymentWorkflow
  @Workflow()
  static async paymentWorkflow(ctxt: WorkflowContext, order: Order): Promise<OrderOutcome> {
    const { orderId } = order;
    const checked = await ctxt.invoke(Shop).validateOrder(order);
    if (!checked.ok) {
      await ctxt.setEvent(CHECKOUT_URL_KEY, null); // the handler sees null and takes the cancel path
      return { orderId, status: 'rejected', paymentId: null, source: 'validation', reason: checked.reason };
    }
    const paymentsURL = await ctxt.invoke(Shop).createPaymentSession(orderId, checked.amountCents);
    await ctxt.setEvent(CHECKOUT_URL_KEY, paymentsURL);

    const notification = await ctxt.recv<PaymentNotification>(CHECKOUT_COMPLETE_TOPIC, PAYMENT_TIMEOUT_SECONDS);
    const entry: PaymentRecord = notification !== null
      ? { orderId, status: notification.status, paymentId: notification.paymentId, amountCents: checked.amountCents, source: 'webhook' }
      : { ...(await ctxt.invoke(Shop).lookupPayment(orderId)), orderId, amountCents: checked.amountCents, source: 'provider' };
    if (entry.status === 'pending') entry.status = 'unpaid'; // the provider has nothing final: give up on this order
    await ctxt.invoke(Shop).recordPayment(entry);
    return { orderId, status: entry.status, paymentId: entry.paymentId, source: entry.source };
  }
  // #endregion paymentWorkflow
}
