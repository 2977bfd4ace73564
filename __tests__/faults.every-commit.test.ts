// Fail at every commit, then go on: the companion of the crash-at-every-commit suite. Each scenario
// family runs once without a fault, then once per commit k with commit k failing (an I/O error, a
// full disk or a busy lock, in turn). The engine carries on: handler calls that reject are retried as
// a caller would, and workflows whose commit failed resume from their records. Each run must end in
// the fault-free run's state, read again after a crash so that all of it is committed, and must
// never have shown a caller something that was not committed.
import { registerStep, registerWorkflow, StorageError, type Engine, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine, type InjectableFaultCode } from '../lib/testing';
import { openTestKit } from './helpers';

const faultCodes: InjectableFaultCode[] = ['SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_BUSY'];

/** What a scenario's driver gives its steps: handler calls that retry while commits fail. */
interface Driver {
  readonly t: TestEngine;
  /** Runs a handler call, again while it rejects with StorageError (nothing of it was stored). */
  call<T>(action: () => Promise<T>): Promise<T>;
  /** Notes what a caller saw; must be the same as in the fault-free run. */
  observe(what: unknown): void;
}

interface Family {
  name: string;
  /** Starts the scenario's workflows and feeds them; returns the UUIDs whose end it awaits. */
  drive(driver: Driver): Promise<string[]>;
  /** Once they ended: notes what callers saw meanwhile. */
  after?(driver: Driver): Promise<void>;
}

// The engine of the run under way, and what its steps saw that they should not have.
let current: TestEngine | undefined;
let violations: string[] = [];

/**
 * A step that checks, before acting, that every earlier operation of its workflow is committed: a
 * workflow that went on past an operation whose commit then failed would act on what rolled back.
 */
const echo = registerStep('fault.echo', async (ctxt: StepContext, value: unknown) => {
  const operations = await current!.engine.listOperations(ctxt.workflowUUID);
  const done = operations.filter((operation) => operation.operationIndex < ctxt.operationIndex && operation.completedAt !== null);
  if (done.length !== ctxt.operationIndex) {
    violations.push(`step #${ctxt.operationIndex} of ${ctxt.workflowUUID} ran with only ${done.length} earlier operations committed`);
  }
  return { value, at: ctxt.operationIndex };
});

const forkable = registerWorkflow('fault.forkable', async (ctxt: WorkflowContext) => {
  const first = await ctxt.runStep(echo, 'first');
  await ctxt.setEvent('stage', 'one');
  await ctxt.writeStream('log', 'written');
  const received = await ctxt.recv<string>('in', 60);
  const second = await ctxt.runStep(echo, received);
  await ctxt.closeStream('log');
  return { first, second };
});

// --- the scenario families --------------------------------------------------------------------------

const receiver = registerWorkflow('fault.receiver', async (ctxt: WorkflowContext) => {
  const first = await ctxt.recv<string>('inbox'); // no timeout given: the default 60 s
  const echoed = await ctxt.runStep(echo, first);
  const second = await ctxt.recv<string>('inbox', 30); // arrives before the deadline
  const late = await ctxt.recv<string>('never', 2); // times out
  const untopical = await ctxt.recv<string>(null, 30);
  return { first, echoed, second, late, untopical };
});

const publisher = registerWorkflow('fault.publisher', async (ctxt: WorkflowContext) => {
  await ctxt.recv('go', 60);
  await ctxt.setEvent('ready', { at: 'ready' });
  await ctxt.setEvent('count', 2);
  let duplicate = 'none';
  try {
    await ctxt.setEvent('count', 3);
  } catch (error) {
    duplicate = (error as { code: string }).code;
  }
  return duplicate;
});

const watcher = registerWorkflow('fault.watcher', async (ctxt: WorkflowContext, target: string) => {
  const ready = await ctxt.getEvent(target, 'ready', 30);
  const missing = await ctxt.getEvent(target, 'missing', 2);
  const count = await ctxt.getEvent(target, 'count', 0);
  return { ready, missing, count };
});

const sender = registerWorkflow('fault.sender', async (ctxt: WorkflowContext, to: string) => {
  await ctxt.send(to, 'from a workflow', 'mail');
  let unknown = 'sent';
  try {
    await ctxt.send('fault-nobody', 'lost', 'mail');
  } catch (error) {
    unknown = (error as { code: string }).code;
  }
  return unknown;
});

const mailbox = registerWorkflow('fault.mailbox', async (ctxt: WorkflowContext) => {
  const got: (string | null)[] = [];
  for (let index = 0; index < 3; index++) got.push(await ctxt.recv<string>('mail', 30));
  return got;
});

const sleeper = registerWorkflow('fault.sleeper', async (ctxt: WorkflowContext) => {
  await ctxt.sleep(10);
  const echoed = await ctxt.runStep(echo, 'between sleeps');
  await ctxt.sleep(5);
  return echoed;
});

const child = registerWorkflow('fault.child', async (ctxt: WorkflowContext, label: string) => {
  const echoed = await ctxt.runStep(echo, label);
  return `${label}:${echoed.at}`;
});

const parent = registerWorkflow('fault.parent', async (ctxt: WorkflowContext) => {
  const handle = await ctxt.startChildWorkflow(child, 'first');
  const second = await ctxt.childWorkflow(child, 'second');
  return { first: await handle.getResult(), second, childUUID: handle.getWorkflowUUID() };
});

const finisher = registerWorkflow('fault.finisher', async (_ctxt: WorkflowContext, value: number) => {
  if (value < 0) throw new RangeError(`negative: ${value}`);
  return value * 2;
});

const chooser = registerWorkflow('fault.chooser', async (ctxt: WorkflowContext) => {
  const first = await ctxt.select([{ recv: 'urgent' }, { recv: 'routine' }, { getEvent: { workflowUUID: 'fault-chooser', key: 'never' } }], 30);
  const echoed = await ctxt.runStep(echo, first);
  const any = await ctxt.recvAny(['urgent', 'routine'], 30);
  const late = await ctxt.select([{ recv: 'never' }], 2);
  return { first, echoed, any, late };
});

// A step's writeStream is at least once: a step that runs again (its record's commit failed) writes
// again. Its stream is compared without repeats; the workflow's own writes are compared exactly.
const stepStream = registerStep('fault.stepStream', async (ctxt: StepContext, value: string) => {
  await ctxt.writeStream('steps', value);
  return value;
});

const streamer = registerWorkflow('fault.streamer', async (ctxt: WorkflowContext) => {
  await ctxt.writeStream('progress', 10);
  await ctxt.recv('go', 60);
  await ctxt.writeStream('progress', 50);
  await Promise.all([ctxt.writeStream('progress', 90), ctxt.writeStream('log', 'a line')]);
  await ctxt.closeStream('progress');
  let closed = 'none';
  try {
    await ctxt.writeStream('progress', 100);
  } catch (error) {
    closed = (error as { code: string }).code;
  }
  await ctxt.runStep(stepStream, 'from a step');
  return closed;
});

const streamReader = registerWorkflow('fault.streamReader', async (ctxt: WorkflowContext, target: string) => {
  const seen: unknown[] = [];
  for await (const value of ctxt.readStream(target, 'progress', { timeoutSeconds: 30 })) seen.push(value);
  const echoed = await ctxt.runStep(echo, seen.length);
  let timedOut = 'none';
  try {
    // Its own stream, which no one writes: the read times out (recorded).
    for await (const value of ctxt.readStream(ctxt.workflowUUID, 'own', { timeoutSeconds: 2 })) seen.push(value);
  } catch (error) {
    timedOut = (error as { code: string }).code;
  }
  return { seen, echoed, timedOut };
});

/** A handler's reader of the stream, started before the stream has a value; what it saw, in order. */
let handlerRead: Promise<unknown[]> | undefined;

/**
 * Fails its first two attempts, after checking that the failure of each earlier attempt is committed:
 * an attempt that ran before its predecessor's failure landed would repeat a count a crash could lose.
 */
const flaky = registerStep('fault.flaky', async (ctxt: StepContext, label: string) => {
  const operations = await current!.engine.listOperations(ctxt.workflowUUID);
  const own = operations.find((operation) => operation.operationIndex === ctxt.operationIndex);
  const recordedFailures = own?.failedAttempts?.length ?? 0;
  if (recordedFailures !== ctxt.attempt - 1) {
    violations.push(`attempt ${ctxt.attempt} of step #${ctxt.operationIndex} of ${ctxt.workflowUUID} ran with ${recordedFailures} failures committed`);
  }
  if (ctxt.attempt < 3) throw new Error(`${label}: attempt ${ctxt.attempt} failed`);
  return `${label} at attempt ${ctxt.attempt}`;
}, { retries: { maxAttempts: 3, intervalSeconds: 1, backoffRate: 2 } });

const hopeless = registerStep('fault.hopeless', async (ctxt: StepContext) => {
  throw new RangeError(`attempt ${ctxt.attempt} failed`);
}, { retries: { maxAttempts: 2, intervalSeconds: 1 } });

const retrier = registerWorkflow('fault.retrier', async (ctxt: WorkflowContext) => {
  const flakyResult = await ctxt.runStep(flaky, 'flaky');
  let exceeded = 'none';
  try {
    await ctxt.runStep(hopeless);
  } catch (error) {
    const failure = error as { code: string; attempts: number; cause: Error };
    exceeded = `${failure.code} after ${failure.attempts}: ${failure.cause.message}`;
  }
  return { flakyResult, exceeded };
});

const stamper = registerWorkflow('fault.stamper', async (ctxt: WorkflowContext) => {
  const [startedMs, id] = [await ctxt.now(), await ctxt.randomUUID()];
  const echoed = await ctxt.runStep(echo, { startedMs, id });
  const [laterMs, otherId] = await Promise.all([ctxt.now(), ctxt.randomUUID()]);
  return { echoed, laterMs, otherId };
});

const cancellable = registerWorkflow('fault.cancellable', async (ctxt: WorkflowContext) => {
  const before = await ctxt.runStep(echo, 'before the cancel');
  const go = await ctxt.recv<string>('go', 60);
  const after = await ctxt.runStep(echo, 'after the resume');
  return { before, go, after };
});

const cancelledChild = registerWorkflow('fault.cancelledChild', async (ctxt: WorkflowContext) => ctxt.recv<string>('go', 60));

const cancelledParent = registerWorkflow('fault.cancelledParent', async (ctxt: WorkflowContext) => ctxt.childWorkflow(cancelledChild));

const timedOut = registerWorkflow('fault.timedOut', async (ctxt: WorkflowContext) => {
  await ctxt.runStep(echo, 'before the deadline');
  await ctxt.sleep(30);
  return 'never';
});

const families: Family[] = [
  {
    name: 'step retries',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(retrier, { workflowUUID: 'fault-retrier' }));
      return ['fault-retrier'];
    },
  },
  {
    name: 'now and randomUUID',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(stamper, { workflowUUID: 'fault-stamper' }));
      return ['fault-stamper'];
    },
  },
  {
    name: 'cancel, resume and timeouts',
    async drive({ t, call, observe }) {
      await call(() => t.engine.startWorkflow(cancellable, { workflowUUID: 'fault-cancellable' }));
      await call(() => t.engine.startWorkflow(cancelledParent, { workflowUUID: 'fault-cancelled-parent' }));
      await call(() => t.engine.startWorkflow(timedOut, { workflowUUID: 'fault-timed-out', timeoutSeconds: 5 }));
      await t.waitUntilBlocked('fault-cancellable', { kind: 'recv' });
      await t.waitUntilBlocked('fault-cancelled-parent-0', { kind: 'recv' });
      observe(await call(() => t.engine.cancelWorkflow('fault-cancellable')));
      observe(await call(() => t.engine.cancelWorkflow('fault-cancelled-parent', { cancelChildren: true })));
      observe(await call(() => t.engine.send('fault-cancellable', 'refused', 'go')).catch((error: { code: string }) => error.code));
      observe(await call(() => t.engine.resumeWorkflow('fault-cancellable')));
      await t.waitUntilBlocked('fault-cancellable', { kind: 'recv' });
      await call(() => t.engine.send('fault-cancellable', 'go', 'go'));
      return ['fault-cancellable', 'fault-cancelled-parent', 'fault-cancelled-parent-0', 'fault-timed-out'];
    },
  },
  {
    // A forced delete is two commits (the cancel, then the delete): a retry after the second failed
    // finds the workflow CANCELLED and deletes it; what was deleted is the same either way.
    name: 'delete and prune',
    async drive({ t, call, observe }) {
      await call(() => t.engine.startWorkflow(cancellable, { workflowUUID: 'fault-deleted' }));
      await call(() => t.engine.startWorkflow(cancellable, { workflowUUID: 'fault-kept' }));
      await call(() => t.engine.startWorkflow(cancelledParent, { workflowUUID: 'fault-forced' }));
      await t.waitUntilBlocked('fault-deleted', { kind: 'recv' });
      await t.waitUntilBlocked('fault-kept', { kind: 'recv' });
      await t.waitUntilBlocked('fault-forced-0', { kind: 'recv' });
      observe(await call(() => t.engine.deleteWorkflow('fault-deleted')).catch((error: { code: string }) => error.code));
      observe((await call(() => t.engine.deleteWorkflow('fault-forced', { deleteChildren: true, force: true }))).deleted);
      await call(() => t.engine.send('fault-deleted', 'go', 'go'));
      await call(() => t.engine.send('fault-kept', 'go', 'go'));
      return ['fault-deleted', 'fault-kept'];
    },
    async after({ t, call, observe }) {
      observe((await call(() => t.engine.deleteWorkflow('fault-deleted'))).deleted);
      await call(() => t.engine.cancelWorkflow('fault-kept'));
      await call(() => t.engine.pruneWorkflows({ finishedBefore: t.clock.now() + 1, statuses: ['CANCELLED'], batchSize: 1 }));
      observe((await t.engine.listWorkflows()).map((workflow) => workflow.workflowUUID));
    },
  },
  {
    name: 'fork',
    async drive({ t, call, observe }) {
      await call(() => t.engine.startWorkflow(forkable, { workflowUUID: 'fault-forkable' }));
      await call(() => t.engine.send('fault-forkable', 'once', 'in'));
      await t.engine.retrieveWorkflow('fault-forkable').getResult();
      // From past the recv (copied with its message, event and stream value) and from the top.
      await call(() => t.engine.forkWorkflow('fault-forkable', { fromOperation: 4, newWorkflowUUID: 'fault-forked-4' }));
      await call(() => t.engine.forkWorkflow('fault-forkable', { fromOperation: 0, newWorkflowUUID: 'fault-forked-0' }));
      await call(() => t.engine.send('fault-forked-0', 'again', 'in'));
      observe(await call(() => t.engine.forkWorkflow('fault-forkable', { fromOperation: 0, newWorkflowUUID: 'fault-forked-4' })).catch((error: { code: string }) => error.code));
      return ['fault-forkable', 'fault-forked-4', 'fault-forked-0'];
    },
  },
  {
    name: 'recv with and without timeout',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(receiver, { workflowUUID: 'fault-receiver' }));
      await t.waitUntilBlocked('fault-receiver', { kind: 'recv' });
      await call(() => t.engine.send('fault-receiver', 'm1', 'inbox'));
      await call(() => t.engine.send('fault-receiver', 'm2', 'inbox'));
      await call(() => t.engine.send('fault-receiver', 'no topic'));
      return ['fault-receiver'];
    },
  },
  {
    name: 'getEvent in and out of workflows, setEvent',
    async drive({ t, call, observe }) {
      await call(() => t.engine.startWorkflow(publisher, { workflowUUID: 'fault-publisher' }));
      await call(() => t.engine.startWorkflow(watcher, { workflowUUID: 'fault-watcher' }, 'fault-publisher'));
      const outside = t.engine.getEvent('fault-publisher', 'ready', 30); // waits, outside workflows
      observe(await call(() => t.engine.getEvent('fault-publisher', 'ready', 0)));
      await t.waitUntilBlocked('fault-publisher', { kind: 'recv' });
      await call(() => t.engine.send('fault-publisher', 'go', 'go'));
      observe(await outside);
      return ['fault-publisher', 'fault-watcher'];
    },
  },
  {
    name: 'send, workflow side and handler side',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(mailbox, { workflowUUID: 'fault-mailbox' }));
      await call(() => t.engine.startWorkflow(sender, { workflowUUID: 'fault-sender' }, 'fault-mailbox'));
      await t.waitUntilBlocked('fault-mailbox', { kind: 'recv' });
      // The workflow's send first, in every run: on SQLite it commits with the sender's start, on
      // PostgreSQL in a transaction of its own that would race the handler's sends below.
      await t.engine.retrieveWorkflow('fault-sender').getResult();
      // A provider that retries its delivery: the key stores it once, whichever attempt commits.
      await call(() => t.engine.send('fault-mailbox', 'delivery', 'mail', 'delivery-1'));
      await call(() => t.engine.send('fault-mailbox', 'delivery', 'mail', 'delivery-1'));
      await call(() => t.engine.send('fault-mailbox', 'plain', 'mail'));
      return ['fault-mailbox', 'fault-sender'];
    },
  },
  {
    name: 'select and recvAny',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(chooser, { workflowUUID: 'fault-chooser' }));
      await t.waitUntilBlocked('fault-chooser', { kind: 'select' });
      await call(() => t.engine.send('fault-chooser', 'r1', 'routine', 'routine-1'));
      await call(() => t.engine.send('fault-chooser', 'u1', 'urgent', 'urgent-1'));
      return ['fault-chooser'];
    },
  },
  {
    name: 'sendMany',
    async drive({ t, call, observe }) {
      await call(() => t.engine.startWorkflow(mailbox, { workflowUUID: 'fault-bulk-a' }));
      await call(() => t.engine.startWorkflow(mailbox, { workflowUUID: 'fault-bulk-b' }));
      await t.waitUntilBlocked('fault-bulk-a', { kind: 'recv' });
      await t.waitUntilBlocked('fault-bulk-b', { kind: 'recv' });
      // A keyed batch, delivered twice as a retrying provider would: the second stores nothing.
      const keyed = [
        { destinationUUID: 'fault-bulk-a', message: 'a1', topic: 'mail', idempotencyKey: 'bulk-1' },
        { destinationUUID: 'fault-bulk-b', message: 'b1', topic: 'mail', idempotencyKey: 'bulk-2' },
        { destinationUUID: 'fault-bulk-a', message: 'a2', topic: 'mail', idempotencyKey: 'bulk-3' },
      ];
      observe(await call(() => t.engine.sendMany(keyed)));
      observe(await call(() => t.engine.sendMany(keyed)));
      observe(await call(() => t.engine.sendMany([
        { destinationUUID: 'fault-bulk-b', message: 'b2', topic: 'mail' },
        { destinationUUID: 'fault-bulk-a', message: 'a3', topic: 'mail' },
        { destinationUUID: 'fault-bulk-b', message: 'b3', topic: 'mail' },
      ])));
      // One unknown destination: nothing of the batch is stored.
      observe(await call(() => t.engine.sendMany([
        { destinationUUID: 'fault-bulk-a', message: 'lost', topic: 'mail' },
        { destinationUUID: 'fault-nobody', message: 'lost' },
      ])).catch((error: { code: string }) => error.code));
      return ['fault-bulk-a', 'fault-bulk-b'];
    },
  },
  {
    name: 'sleep',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(sleeper, { workflowUUID: 'fault-sleeper' }));
      return ['fault-sleeper'];
    },
  },
  {
    name: 'child start',
    async drive({ t, call }) {
      await call(() => t.engine.startWorkflow(parent, { workflowUUID: 'fault-parent' }));
      return ['fault-parent'];
    },
  },
  {
    name: 'completion',
    async drive({ t, call }) {
      // One at a time, so that each completion is a commit of its own.
      for (const value of [1, 2, -3]) {
        await call(() => t.engine.startWorkflow(finisher, { workflowUUID: `fault-finisher-${value}` }, value));
        await t.runUntilIdle();
      }
      return [1, 2, -3].map((value) => `fault-finisher-${value}`);
    },
  },
  {
    name: 'streams: writeStream, closeStream, readStream in and out of workflows, a step\'s writeStream',
    async drive({ t, call }) {
      // A reader outside workflows shows committed values only: one that saw a write whose commit
      // then failed would see its value twice, or out of order.
      handlerRead = (async () => {
        const values: unknown[] = [];
        for await (const value of t.engine.readStream('fault-streamer', 'progress', { timeoutSeconds: 600 })) values.push(value);
        return values;
      })();
      await call(() => t.engine.startWorkflow(streamReader, { workflowUUID: 'fault-stream-reader' }, 'fault-streamer'));
      await call(() => t.engine.startWorkflow(streamer, { workflowUUID: 'fault-streamer' }));
      await t.waitUntilBlocked('fault-streamer', { kind: 'recv' });
      await call(() => t.engine.send('fault-streamer', 'go', 'go'));
      return ['fault-streamer', 'fault-stream-reader'];
    },
    async after({ observe }) {
      observe(await handlerRead);
    },
  },
  {
    name: 'handler reads in the turn of a failing write',
    async drive({ t, call, observe }) {
      await call(() => t.engine.startWorkflow(mailbox, { workflowUUID: 'fault-reads' }));
      for (const message of ['r1', 'r2', 'r3']) {
        // A write and reads of the same rows in one turn: each read shows the write exactly when it
        // committed (the send resolved), never a row whose commit then failed.
        const sending = t.engine.send('fault-reads', message, 'mail');
        const listing = t.engine.listMessages('fault-reads', 'mail');
        const starting = t.engine.startWorkflow(finisher, { workflowUUID: `fault-read-${message}` }, 1);
        const status = t.engine.retrieveWorkflow(`fault-read-${message}`).getStatus();
        const [sent, started] = await Promise.allSettled([sending, starting]);
        const listed = (await listing).some((row) => row.message === message);
        const seen = (await status) !== null;
        if (listed !== (sent.status === 'fulfilled')) observe(`listMessages showed ${message} ${listed ? 'though its send failed' : 'though its send committed'}`);
        if (seen && started.status !== 'fulfilled') observe(`getStatus showed fault-read-${message} though its start failed`);
        if (sent.status === 'rejected') await call(() => t.engine.send('fault-reads', message, 'mail'));
        if (started.status === 'rejected') await call(() => t.engine.startWorkflow(finisher, { workflowUUID: `fault-read-${message}` }, 1));
      }
      return ['fault-reads', 'fault-read-r1', 'fault-read-r2', 'fault-read-r3'];
    },
  },
];

// --- running and comparing ---------------------------------------------------------------------------

/** Each stream's values (a step's stream, at least once, without repeats) and whether it ended. */
async function streamsOf(engine: Engine, uuid: string): Promise<unknown> {
  const streams: Record<string, unknown> = {};
  for (const { key, closed } of await engine.listStreams(uuid)) {
    const values: unknown[] = [];
    for await (const value of engine.readStream(uuid, key, { timeoutSeconds: 0 })) values.push(value);
    streams[key] = { values: key === 'steps' ? [...new Set(values)] : values, closed };
  }
  return streams;
}

/**
 * Replaces each value a workflow recorded with now() or randomUUID() by a placeholder naming the
 * operation, wherever it shows: two runs compare equal only if every use of such a value is the
 * recorded one (a replay that took a new value would not be replaced).
 */
function withRecordedValuesNamed(state: unknown, recorded: Map<unknown, string>): unknown {
  if (recorded.has(state)) return recorded.get(state);
  if (Array.isArray(state)) return state.map((item) => withRecordedValuesNamed(item, recorded));
  if (typeof state === 'object' && state !== null && !(state instanceof Error)) {
    return Object.fromEntries(Object.entries(state).map(([key, value]) => [key, withRecordedValuesNamed(value, recorded)]));
  }
  return state;
}

/** Everything a caller can read of the final state, without timestamps. */
async function snapshot(engine: Engine): Promise<unknown> {
  const workflows = await engine.listWorkflows();
  const state: unknown[] = [];
  for (const workflow of workflows) {
    const uuid = workflow.workflowUUID;
    let outcome: unknown = 'PENDING';
    if (workflow.status !== 'PENDING') {
      try {
        outcome = { result: await engine.retrieveWorkflow(uuid).getResult() };
      } catch (error) {
        outcome = { error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    }
    const listed = await engine.listOperations(uuid);
    const recorded = new Map<unknown, string>(listed
      .filter((operation) => operation.kind === 'now' || operation.kind === 'randomUUID')
      .map((operation) => [operation.output, `<${operation.kind} #${operation.operationIndex}>`]));
    state.push(withRecordedValuesNamed({
      uuid,
      name: workflow.workflowName,
      status: workflow.status,
      parent: workflow.parentUUID,
      inputs: workflow.inputs,
      outcome,
      operations: listed.map((operation) => [
        operation.operationIndex,
        operation.kind,
        operation.name,
        operation.error === null ? operation.output : `${operation.error.name}: ${operation.error.message}`,
        operation.completedAt !== null,
        operation.attempts,
        operation.failedAttempts?.map((failed) => `${failed.attempt}: ${failed.error.message}`) ?? null,
      ]),
      messages: (await engine.listMessages(uuid)).map((message) => [message.topic, message.message, message.consumed]),
      events: await engine.listEvents(uuid),
      streams: await streamsOf(engine, uuid),
    }, recorded));
  }
  return state;
}

interface RunResult {
  state: unknown;
  stateAfterCrash: unknown;
  observed: unknown[];
  /** The injected fault struck (false: the scenario made fewer commits than the fault's position). */
  struck: boolean;
  /** Handler calls that rejected with StorageError and were retried. */
  retried: number;
}

async function run(family: Family, faultAt: number | null): Promise<RunResult> {
  const t = await openTestKit({ onWarning: () => {}, settleTimeoutMs: 10_000 });
  current = t;
  violations = [];
  try {
    if (faultAt !== null) t.injectFault({ at: 'commit', code: faultCodes[faultAt % faultCodes.length]!, afterCommits: faultAt });
    const observed: unknown[] = [];
    let retried = 0;
    const driver: Driver = {
      t,
      observe: (what) => observed.push(what),
      async call<T>(action: () => Promise<T>): Promise<T> {
        for (let attempt = 1; ; attempt++) {
          try {
            return await action();
          } catch (error) {
            if (!(error instanceof StorageError) || attempt >= 5) throw error;
            retried++;
          }
        }
      },
    };
    const awaited = await family.drive(driver);
    // Let every workflow end: time moves one second at a time, so each deadline fires as it would.
    for (let round = 0; ; round++) {
      await t.runUntilIdle();
      const statuses = await Promise.all(awaited.map((uuid) => t.engine.retrieveWorkflow(uuid).getStatus()));
      if (statuses.every((status) => status !== null && status.status !== 'PENDING')) break;
      if (round > 200) throw new Error(`Still PENDING after ${round} s: ${JSON.stringify(statuses.map((status) => [status?.workflowUUID, status?.status]))}`);
      await t.advance(1);
    }
    await family.after?.(driver);
    const state = await snapshot(t.engine);
    observed.push(...violations);
    const struck = t.pendingFaults === 0;
    // Past the scenario's last commit: the fault would strike the reopened engine instead.
    if (!struck) return { state, stateAfterCrash: state, observed, struck, retried };
    await t.crash();
    await t.runUntilIdle();
    return { state, stateAfterCrash: await snapshot(t.engine), observed, struck, retried };
  } finally {
    await t.close();
  }
}

const covered: Record<string, number> = {};

describe.each(families.map((family) => [family.name, family] as const))('fail at every commit, then go on: %s', (name, family) => {
  test('every commit, failed in turn, ends in the fault-free state with nothing shown that was not committed', async () => {
    const baseline = await run(family, null);
    expect(baseline.observed.filter((what) => typeof what === 'string' && what.includes('though'))).toEqual([]);
    expect(baseline.stateAfterCrash).toEqual(baseline.state);
    let faultAt = 0;
    let retried = 0;
    for (; ; faultAt++) {
      const outcome = await run(family, faultAt);
      if (!outcome.struck) break;
      retried += outcome.retried;
      expect({ faultAt, state: outcome.state }).toEqual({ faultAt, state: baseline.state });
      expect({ faultAt, state: outcome.stateAfterCrash }).toEqual({ faultAt, state: baseline.state });
      expect({ faultAt, observed: outcome.observed }).toEqual({ faultAt, observed: baseline.observed });
    }
    expect(faultAt).toBeGreaterThan(2);
    covered[name] = faultAt;
    console.log(`fail at every commit, ${name}: ${faultAt} commit points, ${retried} handler calls retried`);
  }, 120_000);
});

afterAll(() => {
  const total = Object.values(covered).reduce((sum, points) => sum + points, 0);
  if (total > 0) console.log(`fail at every commit: ${total} commit points over ${Object.keys(covered).length} scenario families`);
});
