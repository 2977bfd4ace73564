// The shop's HTTP server on Node's own `http`: the two handlers of the seed (checkout session and
// payment webhook) on an engine that owns <data folder>/shop.db. It prints one JSON object per line
// on stdout (its port, then what happens) for the orchestrator in main.ts; errors go to stderr.
//   node --import tsx docs/examples/shop/server.ts <data folder> <payment provider origin>
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Engine, WorkflowNotFoundError } from 'durablite';
import {
  CHECKOUT_COMPLETE_TOPIC,
  CHECKOUT_URL_KEY,
  configureShop,
  Shop,
  type Order,
  type OrderOutcome,
  type PaymentNotification,
  type PaymentRecord,
} from './shop';

const [dataFolder, providerOrigin] = process.argv.slice(2);
if (dataFolder === undefined || providerOrigin === undefined) {
  console.error('Usage: server.ts <data folder> <payment provider origin>');
  process.exit(2);
}

/** One line of the server's report to the orchestrator. */
function report(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

// The payment provider's API, and a ledger file that records each order's payment once.
const ledgerFile = path.join(dataFolder, 'ledger.jsonl');
configureShop({
  provider: {
    async createSession(request) {
      const response = await fetch(`${providerOrigin}/sessions`, { method: 'POST', body: JSON.stringify(request) });
      if (!response.ok) throw new Error(`The provider refused the session (HTTP ${response.status}).`);
      return ((await response.json()) as { url: string }).url;
    },
    async lookupPayment(orderId) {
      const response = await fetch(`${providerOrigin}/payments/${encodeURIComponent(orderId)}`);
      if (!response.ok) throw new Error(`The provider did not answer the lookup (HTTP ${response.status}).`);
      return (await response.json()) as { status: 'paid' | 'failed' | 'pending'; paymentId: string | null };
    },
  },
  ledger: {
    async record(entry: PaymentRecord) {
      const lines = fs.existsSync(ledgerFile) ? fs.readFileSync(ledgerFile, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.some((line) => (JSON.parse(line) as PaymentRecord).orderId === entry.orderId)) return;
      fs.appendFileSync(ledgerFile, `${JSON.stringify(entry)}\n`);
      report('payment-recorded', { ...entry });
    },
  },
});

async function readJson<T>(request: http.IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

function answer(response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/** Reports the workflow's outcome when it finishes (or nothing, if the server stops first). */
function watchOrder(engine: Engine, workflowUUID: string): void {
  engine.retrieveWorkflow<OrderOutcome>(workflowUUID).getResult().then(
    async (outcome) => {
      const messages = await engine.listMessages(workflowUUID, CHECKOUT_COMPLETE_TOPIC);
      report('order-complete', {
        workflowUUID,
        outcome,
        notificationsStored: messages.length,
        notificationsConsumed: messages.filter((message) => message.consumed).length,
      });
    },
    (error: Error) => {
      if (engine.isOpen) report('order-failed', { workflowUUID, error: `${error.name}: ${error.message}` });
    },
  );
}

// #region handlers
/** POST /api/checkout_session: start the payment workflow, await its URL, redirect the customer. */
async function webCheckout(engine: Engine, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const order = await readJson<Order>(request);
  // One workflow per order: a double-click starts nothing new and gets the same URL.
  const handle = await engine.invoke(Shop, `order-${order.orderId}`).paymentWorkflow(order);
  report('workflow-started', { orderId: order.orderId, workflowUUID: handle.getWorkflowUUID() });
  watchOrder(engine, handle.getWorkflowUUID());

  const url = await engine.getEvent<string>(handle.getWorkflowUUID(), CHECKOUT_URL_KEY, 10);
  report('url-published', { workflowUUID: handle.getWorkflowUUID(), url });
  const location = url === null ? '/checkout/cancel' : url;
  response.writeHead(303, { location });
  response.end();
  report('redirected', { workflowUUID: handle.getWorkflowUUID(), location });
}

/** POST /payment_webhook: forward the provider's notification to the workflow, once per delivery. */
async function paymentWebhook(engine: Engine, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const notification = await readJson<PaymentNotification>(request);
  const workflowUUID = notification.reference; // the provider echoes the reference we gave it
  try {
    await engine.send(workflowUUID, notification, CHECKOUT_COMPLETE_TOPIC, notification.deliveryId);
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    answer(response, 404, { error: error.message });
    return;
  }
  const stored = await engine.listMessages(workflowUUID, CHECKOUT_COMPLETE_TOPIC);
  report('webhook', { workflowUUID, deliveryId: notification.deliveryId, notificationsStored: stored.length });
  answer(response, 200, { received: true });
}
// #endregion handlers

async function main(): Promise<void> {
  const engine = await Engine.open({ database: path.join(dataFolder!, 'shop.db') });
  report('recovered', { workflows: engine.recovery.resumed });
  for (const workflowUUID of engine.recovery.resumed) watchOrder(engine, workflowUUID);

  const server = http.createServer((request, response) => {
    const route = `${request.method} ${request.url}`;
    const handler = route === 'POST /api/checkout_session' ? webCheckout
      : route === 'POST /payment_webhook' ? paymentWebhook
        : null;
    if (handler === null) {
      answer(response, route === 'GET /checkout/cancel' ? 200 : 404, { route });
      return;
    }
    handler(engine, request, response).catch((error: Error) => {
      console.error(`${route} failed: ${error.stack ?? error.message}`);
      if (!response.headersSent) answer(response, 500, { error: error.message });
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    report('listening', { pid: process.pid, port });
  });

  const stop = (): void => {
    server.close();
    void engine.close().then(() => report('stopped'));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: Error) => {
  console.error(`The shop server failed to start: ${error.stack ?? error.message}`);
  process.exit(1);
});
