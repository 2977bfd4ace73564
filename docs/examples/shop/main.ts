// The demo behind `npm start`: runs the shop server (server.ts) as a child process and plays the
// customer and the payment provider against it over real HTTP, printing a timeline. The second order
// SIGKILLs the server while its workflow waits for the payment webhook, then restarts it.
// Exits 0 only when every expected step was seen.
//   node --import tsx docs/examples/shop/main.ts [--keep] [--verbose]
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Client, type OperationInfo } from 'durablite';
import { CATALOG, CHECKOUT_COMPLETE_TOPIC, type Order, type PaymentNotification, type PaymentRecord } from './shop';

const keepData = process.argv.includes('--keep');
const verbose = process.argv.includes('--verbose');
const packageRoot = path.resolve(__dirname, '..', '..', '..');
const STEP_TIMEOUT_MS = 15_000;

/** A failed expectation: the demo stops and says which step it was waiting for. */
class DemoFailure extends Error {}

// ---------------------------------------------------------------------------------------------
// The timeline

const startedAtMs = performance.now();
let stepsSeen = 0;

function heading(text: string): void {
  console.log(`\n${text}`);
}

function step(label: string, detail: string): void {
  stepsSeen++;
  const seconds = ((performance.now() - startedAtMs) / 1000).toFixed(2).padStart(6);
  console.log(`  ${seconds}s  ${label.padEnd(26)}${detail}`);
}

function dollars(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new DemoFailure(message);
}

async function pause(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Re-checks `probe` every 20 ms until it returns a value, or fails after STEP_TIMEOUT_MS. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const limitMs = performance.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > limitMs) throw new DemoFailure(`Timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}.`);
    await pause(20);
  }
}

// ---------------------------------------------------------------------------------------------
// The shop server, as a child process that reports JSON lines

type Report = { event: string; [field: string]: unknown };

class ShopProcess {
  readonly child: ChildProcess;
  readonly reports: Report[] = [];
  stderr = '';
  readonly #listeners = new Set<() => void>();
  readonly exited: Promise<void>;

  constructor(dataFolder: string, providerOrigin: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'server.ts'), dataFolder, providerOrigin], {
      cwd: packageRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (verbose) console.log(`           server: ${line}`);
      try {
        this.reports.push(JSON.parse(line) as Report);
      } catch {
        this.stderr += `(not JSON on stdout) ${line}\n`;
      }
      for (const listener of [...this.#listeners]) listener();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.once('exit', () => {
      for (const listener of [...this.#listeners]) listener();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The first report (already received or to come) of `event` that `match` accepts. */
  next(event: string, match: (report: Report) => boolean = () => true): Promise<Report> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.reports.find((report) => report.event === event && match(report));
        if (found !== undefined) {
          finish();
          resolve(found);
          return true;
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish();
          reject(new DemoFailure(`The shop server exited before reporting "${event}".${this.#stderrTail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new DemoFailure(`The shop server did not report "${event}" within ${STEP_TIMEOUT_MS} ms.${this.#stderrTail()}`));
      }, STEP_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      const listener = (): void => void check();
      if (!check()) this.#listeners.add(listener);
    });
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  #stderrTail(): string {
    const tail = this.stderr.trim().split('\n').slice(-15).join('\n');
    return tail === '' ? '' : `\nServer stderr:\n${tail}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The payment provider: sessions, payments, and webhooks it delivers (and redelivers) to the shop

interface Session {
  sessionId: string;
  orderId: string;
  amountCents: number;
  reference: string;
  paymentId: string | null;
}

class PaymentProvider {
  readonly sessions = new Map<string, Session>();
  /** Where to post notifications: the shop's current address (it changes when the shop restarts). */
  webhookURL = '';
  origin = '';
  readonly #server = http.createServer((request, response) => void this.#handle(request, response));
  #deliveries = 0;

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  close(): void {
    this.#server.close();
  }

  /** The customer pays; returns the notification the provider will deliver. */
  pay(orderId: string): PaymentNotification {
    const session = this.sessions.get(orderId);
    if (session === undefined) throw new DemoFailure(`The provider has no session for order ${orderId}.`);
    session.paymentId = `pay-${session.sessionId.slice(2)}`;
    this.#deliveries++;
    return { deliveryId: `d-${this.#deliveries}`, reference: session.reference, orderId, paymentId: session.paymentId, status: 'paid' };
  }

  /** Posts a notification to the shop's webhook; resolves to the HTTP status. */
  async deliver(notification: PaymentNotification): Promise<number> {
    const response = await fetch(this.webhookURL, { method: 'POST', body: JSON.stringify(notification) });
    await response.arrayBuffer();
    return response.status;
  }

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method === 'POST' && request.url === '/sessions') {
      const { orderId, amountCents, reference } = JSON.parse(Buffer.concat(chunks).toString()) as Omit<Session, 'sessionId' | 'paymentId'>;
      const session = this.sessions.get(orderId) ?? { sessionId: `s-${this.sessions.size + 1}`, orderId, amountCents, reference, paymentId: null };
      this.sessions.set(orderId, session);
      reply(200, { url: `${this.origin}/pay/${session.sessionId}` });
      return;
    }
    const lookup = /^\/payments\/(.+)$/.exec(request.url ?? '');
    if (request.method === 'GET' && lookup !== null) {
      const session = this.sessions.get(decodeURIComponent(lookup[1]!));
      reply(200, { status: session?.paymentId ? 'paid' : 'pending', paymentId: session?.paymentId ?? null });
      return;
    }
    reply(404, {});
  }
}

// ---------------------------------------------------------------------------------------------
// The customer

async function placeOrder(shopOrigin: string, order: Order): Promise<{ status: number; location: string | null }> {
  const response = await fetch(`${shopOrigin}/api/checkout_session`, { method: 'POST', body: JSON.stringify(order), redirect: 'manual' });
  await response.arrayBuffer();
  return { status: response.status, location: response.headers.get('location') };
}

function describeOrder(order: Order): string {
  const lines = order.lines.map((line) => `${line.quantity} x ${line.sku}`).join(', ');
  const known = order.lines.every((line) => CATALOG[line.sku] !== undefined);
  const total = order.lines.reduce((sum, line) => sum + (CATALOG[line.sku]?.priceCents ?? 0) * line.quantity, 0);
  return known ? `${order.orderId}: ${lines} (${dollars(total)})` : `${order.orderId}: ${lines}`;
}

// ---------------------------------------------------------------------------------------------
// The story

interface Demo {
  dataFolder: string;
  database: string;
  provider: PaymentProvider;
  shop: ShopProcess;
  shopOrigin: string;
  client: Client | null;
}

async function startShop(demo: Demo, label: string): Promise<Report> {
  demo.shop = new ShopProcess(demo.dataFolder, demo.provider.origin);
  const listening = await demo.shop.next('listening');
  demo.shopOrigin = `http://127.0.0.1:${String(listening.port)}`;
  demo.provider.webhookURL = `${demo.shopOrigin}/payment_webhook`;
  step(label, `pid ${demo.shop.pid}, ${demo.shopOrigin}`);
  return demo.shop.next('recovered');
}

/** Places the order and follows the checkout up to the redirect to the payment page. */
async function checkout(demo: Demo, order: Order): Promise<string> {
  const workflowUUID = `order-${order.orderId}`;
  const placing = placeOrder(demo.shopOrigin, order);
  step('order placed', describeOrder(order));
  const published = await demo.shop.next('url-published', (report) => report.workflowUUID === workflowUUID);
  expect(typeof published.url === 'string', `The workflow published ${JSON.stringify(published.url)} instead of a payment URL.`);
  step('URL published', `workflow ${workflowUUID} called setEvent("checkout_url"); getEvent returned it`);
  const { status, location } = await placing;
  expect(status === 303 && location === published.url, `Expected a 303 redirect to ${String(published.url)}, got ${status} to ${String(location)}.`);
  step('redirect', `303 to ${location}`);
  return workflowUUID;
}

/** The workflow's recv under way, as another process sees it through a durablite Client. */
async function waitingRecv(client: Client, workflowUUID: string): Promise<OperationInfo> {
  return until(`workflow ${workflowUUID} to block in recv`, async () => {
    const operations = await client.listOperations(workflowUUID);
    return operations.find((operation) => operation.kind === 'recv' && operation.completedAt === null);
  });
}

async function expectRecorded(demo: Demo, orderId: string, paymentId: string): Promise<void> {
  const recorded = await demo.shop.next('payment-recorded', (report) => report.orderId === orderId);
  const record = recorded as unknown as PaymentRecord;
  expect(record.status === 'paid' && record.paymentId === paymentId && record.source === 'webhook',
    `Expected ${orderId} recorded as paid by ${paymentId} from the webhook, got ${JSON.stringify(recorded)}.`);
  step('payment recorded', `${orderId} paid (${paymentId}), ${dollars(record.amountCents)}, from the webhook`);
}

async function happyPath(demo: Demo, client: Client): Promise<void> {
  heading('Order o-1001: the happy path');
  const order: Order = { orderId: 'o-1001', lines: [{ sku: 'mug', quantity: 2 }, { sku: 'tee', quantity: 1 }] };
  const workflowUUID = await checkout(demo, order);

  const notification = demo.provider.pay(order.orderId);
  const first = await demo.provider.deliver(notification);
  const firstReport = await demo.shop.next('webhook', (report) => report.deliveryId === notification.deliveryId);
  expect(first === 200, `The webhook answered HTTP ${first}.`);
  step('webhook delivered', `delivery ${notification.deliveryId} -> HTTP ${first}, ${String(firstReport.notificationsStored)} notification stored`);
  const again = await demo.provider.deliver(notification);
  const againReport = await demo.shop.next('webhook', (report) => report !== firstReport && report.deliveryId === notification.deliveryId);
  expect(again === 200 && againReport.notificationsStored === 1,
    `The redelivery answered HTTP ${again} and left ${String(againReport.notificationsStored)} notifications stored (expected 1).`);
  step('webhook delivered again', `delivery ${notification.deliveryId} (a provider retry) -> HTTP ${again}, still 1 stored: the delivery id is the idempotency key`);

  await expectRecorded(demo, order.orderId, notification.paymentId);
  const complete = await demo.shop.next('order-complete', (report) => report.workflowUUID === workflowUUID);
  step('order complete', `${workflowUUID} returned ${JSON.stringify(complete.outcome)}`);
  const messages = await client.listMessages(workflowUUID, CHECKOUT_COMPLETE_TOPIC);
  expect(messages.length === 1 && messages[0]!.consumed,
    `Expected exactly one consumed notification, found ${JSON.stringify(messages.map((message) => message.consumed))}.`);
  step('received once', `2 deliveries, 1 message stored, consumed by 1 recv (listMessages)`);
}

async function crashPath(demo: Demo, client: Client): Promise<void> {
  heading('Order o-1002: the server is killed while the workflow waits for the webhook');
  const order: Order = { orderId: 'o-1002', lines: [{ sku: 'sticker', quantity: 3 }] };
  const workflowUUID = await checkout(demo, order);

  const before = await waitingRecv(client, workflowUUID);
  const deadline = new Date(before.deadlineMs!).toISOString().slice(11, 19);
  step('waiting', `workflow blocked in recv("${CHECKOUT_COMPLETE_TOPIC}"), deadline ${deadline} UTC`);

  const killedPid = demo.shop.pid;
  await demo.shop.stop('SIGKILL');
  expect(demo.shop.child.signalCode === 'SIGKILL', `The server exited with ${String(demo.shop.child.exitCode)} instead of being killed.`);
  step('server killed', `SIGKILL to pid ${killedPid}: no shutdown code ran`);

  const recovered = await startShop(demo, 'server restarted');
  const resumed = recovered.workflows as string[];
  expect(resumed.includes(workflowUUID), `Recovery resumed ${JSON.stringify(resumed)}, not ${workflowUUID}.`);
  step('recovered', `Engine.open resumed ${resumed.join(', ')} from its recorded operations`);
  const after = await waitingRecv(client, workflowUUID);
  expect(after.operationIndex === before.operationIndex && after.deadlineMs === before.deadlineMs,
    `After recovery the workflow waits in operation #${after.operationIndex} until ${String(after.deadlineMs)}; before the crash it was #${before.operationIndex} until ${String(before.deadlineMs)}.`);
  step('waiting again', `the same recv, with the deadline recorded before the crash (${deadline} UTC)`);

  const notification = demo.provider.pay(order.orderId);
  const status = await demo.provider.deliver(notification);
  expect(status === 200, `The webhook answered HTTP ${status}.`);
  step('webhook delivered', `delivery ${notification.deliveryId} -> HTTP ${status}, to the restarted server`);
  await expectRecorded(demo, order.orderId, notification.paymentId);
  const complete = await demo.shop.next('order-complete', (report) => report.workflowUUID === workflowUUID);
  const outcome = complete.outcome as { status: string };
  expect(outcome.status === 'paid', `The order finished as ${JSON.stringify(complete.outcome)}.`);
  step('order complete', `${workflowUUID} returned ${JSON.stringify(complete.outcome)}`);
}

async function cancelPath(demo: Demo): Promise<void> {
  heading('Order o-1003: an order the workflow rejects');
  const order: Order = { orderId: 'o-1003', lines: [{ sku: 'parrot', quantity: 1 }] };
  const placing = placeOrder(demo.shopOrigin, order);
  step('order placed', describeOrder(order));
  const { status, location } = await placing;
  expect(status === 303 && location === '/checkout/cancel', `Expected a 303 redirect to /checkout/cancel, got ${status} to ${String(location)}.`);
  step('redirect', `303 to ${location} (the workflow published null: unknown product)`);
}

function checkLedger(dataFolder: string): void {
  const file = path.join(dataFolder, 'ledger.jsonl');
  const entries = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as PaymentRecord);
  const orders = entries.map((entry) => entry.orderId);
  expect(JSON.stringify(orders) === JSON.stringify(['o-1001', 'o-1002']), `The ledger holds ${JSON.stringify(orders)}; expected o-1001 and o-1002 once each.`);
  step('ledger checked', 'one payment for each paid order, none twice');
}

async function main(): Promise<number> {
  const dataFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-shop-'));
  const database = path.join(dataFolder, 'shop.db');
  const demo: Demo = { dataFolder, database, provider: new PaymentProvider(), shop: null!, shopOrigin: '', client: null };
  console.log('durablite demo: the seed\'s checkout on a real HTTP server, one SQLite file, and a crash');
  console.log(`database: ${database}`);
  try {
    await demo.provider.listen();
    heading('Start-up');
    step('payment provider up', demo.provider.origin);
    await startShop(demo, 'shop server up');
    demo.client = await Client.open({ database });

    await happyPath(demo, demo.client);
    await crashPath(demo, demo.client);
    await cancelPath(demo);
    heading('Afterwards');
    checkLedger(dataFolder);

    console.log(`\nAll ${stepsSeen} steps seen. The demo passed.`);
    return 0;
  } catch (error) {
    const reason = error instanceof DemoFailure ? error.message : (error as Error).stack ?? String(error);
    console.error(`\nThe demo FAILED after ${stepsSeen} steps: ${reason}`);
    return 1;
  } finally {
    await demo.client?.close();
    await demo.shop?.stop('SIGTERM');
    demo.provider.close();
    if (keepData) console.log(`Kept ${dataFolder}. Inspect it: node --import tsx lib/cli/main.ts workflows --db ${database}`);
    else fs.rmSync(dataFolder, { recursive: true, force: true });
  }
}

void main().then((code) => {
  process.exitCode = code;
  // Idle keep-alive sockets may hold the process for a few seconds; the outcome is already known.
  setTimeout(() => process.exit(code), 500).unref();
});
