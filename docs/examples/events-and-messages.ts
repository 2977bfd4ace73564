// docs/events-and-messages.md, runnable: every rule of the events and messages APIs, each printed.
//   node --import tsx docs/examples/events-and-messages.ts
import {
  DuplicateEventKeyError,
  Engine,
  type WaitInfo,
  registerWorkflow,
  WorkflowNotFoundError,
  type WorkflowContext,
} from 'durablite';

/** Waits for one message per topic it is told to read, and returns what it got. */
const inbox = registerWorkflow('inbox', async (ctxt: WorkflowContext, topics: (string | null)[], timeoutSeconds: number) => {
  const received: unknown[] = [];
  for (const topic of topics) received.push(await ctxt.recv(topic, timeoutSeconds));
  return received;
});

// #region immutable
const publisher = registerWorkflow('publisher', async (ctxt: WorkflowContext) => {
  await ctxt.setEvent('status', 'started');
  try {
    await ctxt.setEvent('status', 'changed my mind');
  } catch (error) {
    if (!(error instanceof DuplicateEventKeyError)) throw error;
    return `${error.code}: ${error.key}`; // the first value stays
  }
  return 'unreachable';
});
// #endregion immutable

// #region fromWorkflow
const notifier = registerWorkflow('notifier', async (ctxt: WorkflowContext, target: string) => {
  const url = await ctxt.getEvent<string>(target, 'checkout_url', 5); // recorded: a replay sees the same value
  await ctxt.send(target, `seen ${url}`, 'audit'); // recorded: a replay does not send again
  try {
    await ctxt.send('no-such-workflow', 'hello');
  } catch (error) {
    return error instanceof WorkflowNotFoundError ? 'the second send failed: no such workflow' : 'unexpected';
  }
  return 'unreachable';
});
// #endregion fromWorkflow

const urlPublisher = registerWorkflow('urlPublisher', async (ctxt: WorkflowContext) => {
  await ctxt.setEvent('checkout_url', 'https://pay.example/s-1');
  return (await ctxt.recv<string>('audit', 5)) ?? 'no audit message';
});

// #region select
/** Goes on with whichever comes first: an approval, a cancellation, or the payment's receipt. */
const approver = registerWorkflow('approver', async (ctxt: WorkflowContext, paymentUUID: string) => {
  const first = await ctxt.select([
    { recv: 'approval' },
    { recv: 'cancel' },
    { getEvent: { workflowUUID: paymentUUID, key: 'receipt' } },
  ], 5);
  if (first === null) return 'nothing came in 5 seconds';
  return `${['approved', 'cancelled', 'paid'][first.index]}: ${JSON.stringify(first.value)}`;
});
// #endregion select

// #region recvAny
/** Takes messages from two topics in the order they were sent, until none comes for 0.2 s. */
const router = registerWorkflow('router', async (ctxt: WorkflowContext) => {
  const routed: string[] = [];
  for (;;) {
    const next = await ctxt.recvAny<string | null>(['high', 'low'], 0.2);
    if (next === null) return routed; // a timeout, never a message that is itself null
    routed.push(`${next.topic}:${next.message}`);
  }
});
// #endregion recvAny
/** Waits for the event of `key` of `target`: a recorded wait that listWaits shows. */
const watcher = registerWorkflow('watcher', async (ctxt: WorkflowContext, target: string) => ctxt.getEvent(target, 'approved', 600));

/** Resolves once each of these workflows has started a wait (engine.events reports each start). */
function waitsStarted(engine: Engine, workflowUUIDs: string[]): Promise<void> {
  const pending = new Set(workflowUUIDs);
  return new Promise((resolve) => {
    const listener = (wait: { workflowUUID: string | null }): void => {
      if (wait.workflowUUID !== null) pending.delete(wait.workflowUUID);
      if (pending.size > 0) return;
      engine.events.off('waitStarted', listener);
      resolve();
    };
    engine.events.on('waitStarted', listener);
  });
}

/** What a wait waits on, in a few words. */
function describe(wait: WaitInfo): string {
  return wait.kind === 'recv' ? `topic ${String(wait.topic)}` : wait.kind === 'getEvent' ? `${wait.key} of ${wait.targetUUID}` : '-';
}

async function main(): Promise<void> {
  const engine = await Engine.open({ database: ':memory:' });

  console.log('Events');
  {
    // #region events
    const handle = await engine.startWorkflow(publisher, { workflowUUID: 'pub-1' });
    console.log(await handle.getResult()); // DUPLICATE_EVENT_KEY: status
    console.log(await engine.getEvent('pub-1', 'status')); // started
    console.log(await engine.listEvents('pub-1')); // { status: 'started' }
    console.log(await engine.listEvents('nobody')); // {}
    // #endregion events
  }
  {
    // #region waitsForStart
    const waiting = engine.getEvent<string>('later-1', 'status', 5); // no such workflow yet: it waits
    await engine.startWorkflow(publisher, { workflowUUID: 'later-1' });
    console.log(await waiting); // started
    // #endregion waitsForStart
  }
  {
    // #region eventTimeouts
    console.log(await engine.getEvent('pub-1', 'missing', 0)); // null at once: 0 checks once
    console.log(await engine.getEvent('pub-1', 'missing', 0.2)); // null after 200 ms
    // #endregion eventTimeouts
  }

  console.log('Messages');
  {
    // #region buffered
    await engine.startWorkflow(inbox, { workflowUUID: 'box-1' }, ['orders', 'orders', null], 0.2);
    await engine.send('box-1', 'first', 'orders');
    await engine.send('box-1', 'no topic'); // a separate queue: only recv() without a topic gets it
    await engine.send('box-1', 'second', 'orders');
    console.log(await engine.retrieveWorkflow('box-1').getResult()); // [ 'first', 'second', 'no topic' ]
    // #endregion buffered
  }
  {
    // #region recvTimeout
    const handle = await engine.startWorkflow(inbox, { workflowUUID: 'box-2' }, ['orders', null], 0.2);
    await engine.send('box-2', 'on the wrong topic', 'refunds');
    console.log(await handle.getResult()); // [ null, null ]: each recv timed out
    const [waitingMessage] = await engine.listMessages('box-2'); // the refunds message waits, unconsumed
    console.log(waitingMessage?.topic, waitingMessage?.message, waitingMessage?.consumed); // refunds on the wrong topic false
    // #endregion recvTimeout
  }
  {
    // #region idempotency
    await engine.startWorkflow(inbox, { workflowUUID: 'box-3' }, [], 0);
    await engine.send('box-3', { paid: true }, 'payments', 'delivery-1');
    await engine.send('box-3', { paid: true }, 'payments', 'delivery-1'); // a retry: stores nothing
    await engine.send('box-3', { paid: 'different' }, 'payments', 'delivery-1'); // same key: still nothing
    await engine.send('box-3', { paid: true }, 'payments', 'delivery-2'); // a new key: stored
    console.log((await engine.listMessages('box-3', 'payments')).map((message) => message.message));
    // #endregion idempotency
  }
  {
    // #region notFound
    try {
      await engine.send('no-such-workflow', 'hello');
    } catch (error) {
      console.log(error instanceof WorkflowNotFoundError, (error as WorkflowNotFoundError).code); // true WORKFLOW_NOT_FOUND
    }
    // #endregion notFound
  }
  {
    // #region arguments
    const rejections = [
      engine.getEvent('pub-1', 'status', -1),
      engine.send('box-3', 'x', ''),
      engine.getEvent('pub-1', ''),
    ];
    for (const rejection of rejections) {
      await rejection.catch((error: Error) => console.log(`${error.name}: ${error.message}`));
    }
    // #endregion arguments
  }

  console.log('Whichever comes first');
  {
    // #region selectRun
    const handle = await engine.startWorkflow(approver, { workflowUUID: 'order-9' }, 'payment-9');
    await engine.send('order-9', { by: 'ada' }, 'approval');
    await engine.send('order-9', 'too late', 'cancel');
    console.log(await handle.getResult()); // approved: {"by":"ada"}
    const queues = await engine.listMessages('order-9');
    console.log(queues.map((message) => `${message.topic} consumed=${message.consumed}`).join(', ')); // approval consumed=true, cancel consumed=false
    // #endregion selectRun
  }
  {
    // #region recvAnyRun
    const handle = await engine.startWorkflow(router, { workflowUUID: 'router-1' });
    await engine.send('router-1', 'a', 'low');
    await engine.send('router-1', 'b', 'high');
    await engine.send('router-1', null, 'low');
    console.log(await handle.getResult()); // [ 'low:a', 'high:b', 'low:null' ]
    // #endregion recvAnyRun
  }

  console.log('Many at once');
  {
    // #region sendMany
    await engine.startWorkflow(inbox, { workflowUUID: 'box-4' }, ['orders', 'orders'], 5);
    await engine.startWorkflow(inbox, { workflowUUID: 'box-5' }, ['orders'], 5);
    const result = await engine.sendMany([
      { destinationUUID: 'box-4', message: 'first', topic: 'orders', idempotencyKey: 'import-7/0' },
      { destinationUUID: 'box-5', message: 'only', topic: 'orders', idempotencyKey: 'import-7/1' },
      { destinationUUID: 'box-4', message: 'second', topic: 'orders', idempotencyKey: 'import-7/2' },
      { destinationUUID: 'box-4', message: 'again', topic: 'orders', idempotencyKey: 'import-7/0' }, // a repeated key
    ]);
    console.log(result); // { sent: 3, duplicates: 1 }
    console.log(await engine.retrieveWorkflow('box-4').getResult()); // [ 'first', 'second' ]: array order
    // #endregion sendMany
  }
  {
    // #region sendManyAllOrNone
    try {
      await engine.sendMany([
        { destinationUUID: 'box-3', message: 'stored?' },
        { destinationUUID: 'no-such-workflow', message: 'hello' },
      ]);
    } catch (error) {
      console.log(error instanceof WorkflowNotFoundError, (error as WorkflowNotFoundError).workflowUUID); // true no-such-workflow
    }
    console.log(await engine.listMessages('box-3', null)); // []: nothing of the batch was stored
    // #endregion sendManyAllOrNone
  }

  console.log('Who waits on what');
  {
    const blocked = waitsStarted(engine, ['box-6', 'watcher-1']);
    // #region listWaits
    await engine.startWorkflow(inbox, { workflowUUID: 'box-6' }, ['approval'], 3600);
    await engine.startWorkflow(watcher, { workflowUUID: 'watcher-1' }, 'box-6');
    await blocked; // both have started their waits
    for (const wait of await engine.listWaits()) {
      const seconds = Math.round((wait.deadlineMs! - wait.startedAt) / 1000);
      console.log(`${wait.workflowUUID} #${wait.operationIndex} ${wait.kind} on ${describe(wait)}, deadline ${seconds} s after it started`);
    }
    // watcher-1 #0 getEvent on approved of box-6, deadline 600 s after it started
    // box-6 #0 recv on topic approval, deadline 3600 s after it started
    // #endregion listWaits
  }

  console.log('From a workflow');
  {
    // #region fromWorkflowRun
    const target = await engine.startWorkflow(urlPublisher, { workflowUUID: 'shop-1' });
    const sender = await engine.startWorkflow(notifier, { workflowUUID: 'notifier-1' }, 'shop-1');
    console.log(await sender.getResult()); // the second send failed: no such workflow
    console.log(await target.getResult()); // seen https://pay.example/s-1
    // #endregion fromWorkflowRun
  }
  await engine.close();
}

void main();
