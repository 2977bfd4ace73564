// Messages and events against a model: fast-check drives random interleavings of handler sends
// (random topics, idempotency keys with repeats, unknown destinations), workflow recvs and getEvents
// (random topics and timeouts, 0 included), setEvents (duplicates included), handler getEvents,
// selects and recvAnys over topics and events (whichever committed first wins, the losers consume
// nothing), virtual time and crash-recovery, on the real engine; after every action the engine's stored state
// (each workflow's recorded operations, queues, events, statuses) must equal a plain in-memory model:
// one FIFO per (destination, topic), at most one message per (idempotency key, destination), and
// events whose first value is kept.
import fc from 'fast-check';
import { DurabliteError, registerWorkflow, type SelectBranch, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { onPostgres, openTestKit, tempDatabasePath, testOnSqlite } from './helpers';

type Topic = string | null;

type ScriptOp =
  | { op: 'recv'; topic: Topic; timeoutSeconds: number | undefined }
  | { op: 'setEvent'; key: string; value: number }
  | { op: 'getEvent'; target: string; key: string; timeoutSeconds: number }
  | { op: 'select'; branches: SelectBranch[]; timeoutSeconds: number };

type Action =
  | { kind: 'send'; destination: string; topic: Topic; idempotencyKey: string | null }
  | { kind: 'getEventNow'; target: string; key: string }
  | { kind: 'getEventLater'; target: string; key: string; timeoutSeconds: number }
  | { kind: 'advance'; seconds: number }
  | { kind: 'crash' };

/** Runs its script of recv / setEvent / getEvent and returns what each gave. */
const scripted = registerWorkflow('model.scripted', async (ctxt: WorkflowContext, script: ScriptOp[]) => {
  const results: unknown[] = [];
  for (const step of script) {
    if (step.op === 'recv') {
      results.push(await ctxt.recv(step.topic, step.timeoutSeconds));
    } else if (step.op === 'getEvent') {
      results.push(await ctxt.getEvent(step.target, step.key, step.timeoutSeconds));
    } else if (step.op === 'select') {
      results.push(await ctxt.select(step.branches, step.timeoutSeconds));
    } else {
      try {
        await ctxt.setEvent(step.key, step.value);
        results.push('set');
      } catch (error) {
        results.push((error as DurabliteError).code);
      }
    }
  }
  return results;
});

// Receivers recv and setEvent; watchers only getEvent. Receivers act at whole seconds (handler
// actions and their own integer timeouts); watchers' and handlers' getEvent timeouts carry a few
// extra milliseconds, so a getEvent deadline never falls in the same millisecond as a setEvent —
// the one tie whose outcome would depend on the order of simultaneous timers, not on semantics.
const RECEIVERS = ['r0', 'r1'] as const;
const WATCHERS = ['w0'] as const;
const WORKFLOWS = [...RECEIVERS, ...WATCHERS];
const DESTINATIONS = [...WORKFLOWS, 'nobody'];
const TOPICS: Topic[] = [null, 'a', 'b'];
const EVENT_KEYS = ['k0', 'k1', 'k2'];
const IDEMPOTENCY_KEYS = [null, null, 'key-1', 'key-2', 'key-3'];

// --- the model -------------------------------------------------------------------------------------

interface ModelOperation {
  kind: 'recv' | 'setEvent' | 'getEvent' | 'select';
  output: unknown;
  error: string | null;
  completed: boolean;
  deadlineMs: number | null;
}

interface ModelWorkflow {
  readonly script: ScriptOp[];
  pc: number;
  readonly operations: ModelOperation[];
  readonly results: unknown[];
  /** The operation waiting, if any (always the last one). */
  waiting: ModelOperation | null;
}

interface ModelMessage {
  topic: Topic;
  message: string;
  consumed: boolean;
  /** Commit order across every message and event (not compared with the engine). */
  order?: number;
}

interface HandlerWait {
  readonly target: string;
  readonly key: string;
  readonly deadlineMs: number;
  settled: boolean;
  value: unknown;
}

/** The deadline the engine records: whole milliseconds, rounded up. */
function deadlineOf(nowMs: number, timeoutSeconds: number | undefined): number {
  return Math.ceil(nowMs + (timeoutSeconds ?? 60) * 1000);
}

class Model {
  nowMs: number;
  readonly workflows = new Map<string, ModelWorkflow>();
  readonly messages = new Map<string, ModelMessage[]>();
  readonly spentKeys = new Set<string>();
  readonly events = new Map<string, Map<string, unknown>>();
  /** The commit order of each event, by workflow then key, on the same count as messages'. */
  readonly eventOrder = new Map<string, Map<string, number>>();
  #nextOrder = 0;
  readonly handlerWaits: HandlerWait[] = [];

  constructor(nowMs: number, scripts: Record<string, ScriptOp[]>) {
    this.nowMs = nowMs;
    for (const workflowUUID of WORKFLOWS) {
      this.workflows.set(workflowUUID, { script: scripts[workflowUUID]!, pc: 0, operations: [], results: [], waiting: null });
      this.messages.set(workflowUUID, []);
      this.events.set(workflowUUID, new Map());
      this.eventOrder.set(workflowUUID, new Map());
    }
    this.#settle();
  }

  /** A handler send: 'ok', or the error name when the destination does not exist. */
  send(destination: string, message: string, topic: Topic, idempotencyKey: string | null): string {
    const queue = this.messages.get(destination);
    if (queue === undefined) return 'WorkflowNotFoundError';
    if (idempotencyKey !== null) {
      const spent = `${destination}\u0000${idempotencyKey}`;
      if (this.spentKeys.has(spent)) return 'ok';
      this.spentKeys.add(spent);
    }
    queue.push({ topic, message, consumed: false, order: this.#nextOrder++ });
    this.#settle();
    return 'ok';
  }

  getEventNow(target: string, key: string): unknown {
    return this.events.get(target)?.has(key) ? this.events.get(target)!.get(key) : null;
  }

  getEventLater(target: string, key: string, timeoutSeconds: number): HandlerWait {
    const wait: HandlerWait = { target, key, deadlineMs: deadlineOf(this.nowMs, timeoutSeconds), settled: false, value: undefined };
    if (this.events.get(target)?.has(key)) {
      wait.settled = true;
      wait.value = this.events.get(target)!.get(key);
    }
    this.handlerWaits.push(wait);
    return wait;
  }

  advance(seconds: number): void {
    const targetMs = this.nowMs + seconds * 1000;
    for (;;) {
      const deadlines = [
        ...[...this.workflows.values()].flatMap((workflow) => (workflow.waiting === null ? [] : [workflow.waiting.deadlineMs!])),
        ...this.handlerWaits.filter((wait) => !wait.settled).map((wait) => wait.deadlineMs),
      ];
      const next = Math.min(...deadlines);
      if (!(next <= targetMs)) break;
      this.nowMs = next;
      // Everything due in this millisecond times out before any woken code runs.
      for (const workflow of this.workflows.values()) {
        const waiting = workflow.waiting;
        if (waiting === null || waiting.deadlineMs !== next) continue;
        this.#complete(workflow, null);
      }
      for (const wait of this.handlerWaits) {
        if (!wait.settled && wait.deadlineMs === next) {
          wait.settled = true;
          wait.value = null;
        }
      }
      this.#settle();
    }
    this.nowMs = targetMs;
  }

  /** A crash loses nothing committed; handler calls waiting in the dead process never settle. */
  crash(): void {
    for (let index = this.handlerWaits.length - 1; index >= 0; index--) if (!this.handlerWaits[index]!.settled) this.handlerWaits.splice(index, 1);
  }

  #complete(workflow: ModelWorkflow, output: unknown): void {
    const waiting = workflow.waiting!;
    waiting.output = output;
    waiting.completed = true;
    workflow.results.push(output);
    workflow.waiting = null;
    workflow.pc++;
  }

  /**
   * A select's winner: the candidate committed first (the oldest message across its recv topics, or
   * the earliest event among its getEvent branches), its message consumed; undefined when none is there.
   */
  #choose(workflowUUID: string, branches: SelectBranch[]): { index: number; value: unknown } | undefined {
    let best: { index: number; value: unknown; order: number; message?: ModelMessage } | undefined;
    branches.forEach((branch, index) => {
      if ('recv' in branch) {
        const message = this.messages.get(workflowUUID)!.find((candidate) => candidate.topic === branch.recv && !candidate.consumed);
        if (message !== undefined && (best === undefined || message.order! < best.order)) best = { index, value: message.message, order: message.order!, message };
      } else {
        const { workflowUUID: target, key } = branch.getEvent;
        const order = this.eventOrder.get(target)?.get(key);
        if (order !== undefined && (best === undefined || order < best.order)) best = { index, value: this.events.get(target)!.get(key), order };
      }
    });
    if (best === undefined) return undefined;
    if (best.message !== undefined) best.message.consumed = true;
    return { index: best.index, value: best.value };
  }

  #consume(workflowUUID: string, topic: Topic): string | undefined {
    const message = this.messages.get(workflowUUID)!.find((candidate) => candidate.topic === topic && !candidate.consumed);
    if (message === undefined) return undefined;
    message.consumed = true;
    return message.message;
  }

  /** Runs every workflow until each is finished or waiting. */
  #settle(): void {
    for (let progress = true; progress;) {
      progress = false;
      for (const [workflowUUID, workflow] of this.workflows) {
        // A waiting operation is woken by what it waits for.
        const waiting = workflow.waiting;
        if (waiting !== null) {
          const step = workflow.script[workflow.pc]!;
          if (step.op === 'recv') {
            const message = this.#consume(workflowUUID, step.topic);
            if (message === undefined) continue;
            this.#complete(workflow, message);
          } else if (step.op === 'getEvent') {
            const events = this.events.get(step.target);
            if (!events?.has(step.key)) continue;
            this.#complete(workflow, events.get(step.key));
          } else if (step.op === 'select') {
            const chosen = this.#choose(workflowUUID, step.branches);
            if (chosen === undefined) continue;
            this.#complete(workflow, chosen);
          }
          progress = true;
        }
        while (workflow.waiting === null && workflow.pc < workflow.script.length) {
          progress = true;
          this.#start(workflowUUID, workflow, workflow.script[workflow.pc]!);
        }
      }
    }
  }

  #start(workflowUUID: string, workflow: ModelWorkflow, step: ScriptOp): void {
    if (step.op === 'setEvent') {
      const events = this.events.get(workflowUUID)!;
      const duplicate = events.has(step.key);
      if (!duplicate) {
        events.set(step.key, step.value);
        this.eventOrder.get(workflowUUID)!.set(step.key, this.#nextOrder++);
      }
      workflow.operations.push({ kind: 'setEvent', output: undefined, error: duplicate ? 'DuplicateEventKeyError' : null, completed: true, deadlineMs: null });
      workflow.results.push(duplicate ? 'DUPLICATE_EVENT_KEY' : 'set');
      workflow.pc++;
      if (!duplicate) {
        for (const wait of this.handlerWaits) {
          if (!wait.settled && wait.target === workflowUUID && wait.key === step.key) {
            wait.settled = true;
            wait.value = step.value;
          }
        }
      }
      return;
    }
    const found = step.op === 'recv'
      ? this.#consume(workflowUUID, step.topic)
      : step.op === 'select'
        ? this.#choose(workflowUUID, step.branches)
        : this.events.get(step.target)?.has(step.key) ? this.events.get(step.target)!.get(step.key) : undefined;
    const deadlineMs = deadlineOf(this.nowMs, step.timeoutSeconds);
    if (found !== undefined || deadlineMs <= this.nowMs) {
      const output = found ?? null;
      workflow.operations.push({ kind: step.op, output, error: null, completed: true, deadlineMs: null });
      workflow.results.push(output);
      workflow.pc++;
      return;
    }
    const operation: ModelOperation = { kind: step.op, output: undefined, error: null, completed: false, deadlineMs };
    workflow.operations.push(operation);
    workflow.waiting = operation;
  }
}

// --- comparing the engine with the model --------------------------------------------------------------

/** Live handler getEvent calls on the engine, paired with the model's expectation. */
interface LiveWait {
  readonly model: HandlerWait;
  settled: boolean;
  value: unknown;
}

async function compare(t: TestEngine, model: Model, liveWaits: LiveWait[], where: string): Promise<void> {
  const engine = t.engine;
  const seen: Record<string, unknown> = { now: t.clock.now() };
  const expected: Record<string, unknown> = { now: model.nowMs };
  for (const workflowUUID of WORKFLOWS) {
    const workflow = model.workflows.get(workflowUUID)!;
    seen[workflowUUID] = {
      // Only a wait under way has a deadline to compare: one that completed at once recorded none.
      operations: (await engine.listOperations(workflowUUID)).map((operation) => ({
        kind: operation.kind,
        output: operation.output,
        error: operation.error?.name ?? null,
        completed: operation.completedAt !== null,
        deadlineMs: operation.completedAt === null ? operation.deadlineMs : null,
      })),
      messages: (await engine.listMessages(workflowUUID)).map(({ topic, message, consumed }) => ({ topic, message, consumed })),
      events: await engine.listEvents(workflowUUID),
      status: (await engine.retrieveWorkflow(workflowUUID).getStatus())?.status,
    };
    expected[workflowUUID] = {
      operations: workflow.operations.map((operation) => ({ ...operation, deadlineMs: operation.completed ? null : operation.deadlineMs })),
      messages: model.messages.get(workflowUUID)!.map(({ topic, message, consumed }) => ({ topic, message, consumed })),
      events: Object.fromEntries(model.events.get(workflowUUID)!),
      status: workflow.pc === workflow.script.length ? 'SUCCESS' : 'PENDING',
    };
  }
  seen.handlerGetEvents = liveWaits.map(({ settled, value }) => ({ settled, value }));
  expected.handlerGetEvents = liveWaits.map(({ model: wait }) => ({ settled: wait.settled, value: wait.value }));
  expect({ after: where, state: seen }).toEqual({ after: where, state: expected });
}

async function apply(t: TestEngine, model: Model, liveWaits: LiveWait[], action: Action, payload: string): Promise<void> {
  switch (action.kind) {
    case 'send': {
      let outcome = 'ok';
      try {
        await t.engine.send(action.destination, payload, action.topic, action.idempotencyKey);
      } catch (error) {
        outcome = (error as Error).name;
      }
      expect({ send: action, outcome }).toEqual({ send: action, outcome: model.send(action.destination, payload, action.topic, action.idempotencyKey) });
      break;
    }
    case 'getEventNow': {
      const value = await t.engine.getEvent(action.target, action.key, 0);
      expect({ getEvent: action, value }).toEqual({ getEvent: action, value: model.getEventNow(action.target, action.key) });
      break;
    }
    case 'getEventLater': {
      const live: LiveWait = { model: model.getEventLater(action.target, action.key, action.timeoutSeconds), settled: false, value: undefined };
      liveWaits.push(live);
      void t.engine.getEvent(action.target, action.key, action.timeoutSeconds).then((value) => {
        live.settled = true;
        live.value = value;
      });
      break;
    }
    case 'advance':
      await t.advance(action.seconds);
      model.advance(action.seconds);
      break;
    case 'crash':
      await t.crash();
      model.crash();
      // Calls made on the dead engine never settle; only the model's surviving waits are compared.
      for (let index = liveWaits.length - 1; index >= 0; index--) if (!liveWaits[index]!.model.settled) liveWaits.splice(index, 1);
      break;
  }
  await t.runUntilIdle();
}

// --- arbitraries ------------------------------------------------------------------------------------------

const topicArbitrary = fc.constantFrom(...TOPICS);
const eventKeyArbitrary = fc.constantFrom(...EVENT_KEYS);
/** Whole seconds plus 1..199 ms (see above). */
const oddTimeoutArbitrary = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 199 })).map(([seconds, ms]) => seconds + ms / 1000);

/**
 * A select's branches: one to three of the workflow's topics, in any order, and up to two events.
 * With an event branch the timeout is odd (see above), as a getEvent's is.
 *
 * The event branches of one select name one real workflow (and perhaps 'ghost'), never both r0 and
 * r1: the two receivers run concurrently, so which of their setEvents commits first depends on the
 * scheduling of the engine's commits, while the model runs them one after the other. One
 * workflow's events commit in its program order, which the model follows.
 */
const selectArbitrary = fc
  .tuple(
    fc.shuffledSubarray(TOPICS, { minLength: 1, maxLength: 3 }),
    fc.constantFrom('r0', 'r1'),
    fc.uniqueArray(fc.tuple(fc.boolean(), eventKeyArbitrary), { maxLength: 2, selector: ([ghost, key]) => `${ghost}/${key}` }),
    fc.constantFrom(0, 1, 2, 5),
    oddTimeoutArbitrary,
    fc.boolean(),
  )
  .map(([topics, eventTarget, events, wholeSeconds, oddSeconds, eventsFirst]): ScriptOp => {
    const recvBranches: SelectBranch[] = topics.map((topic) => ({ recv: topic }));
    const eventBranches: SelectBranch[] = events.map(([ghost, key]) => ({ getEvent: { workflowUUID: ghost ? 'ghost' : eventTarget, key } }));
    const branches = eventsFirst ? [...eventBranches, ...recvBranches] : [...recvBranches, ...eventBranches];
    return { op: 'select', branches, timeoutSeconds: events.length > 0 ? oddSeconds : wholeSeconds };
  });

const receiverScript = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('recv' as const), topic: topicArbitrary, timeoutSeconds: fc.constantFrom(undefined, 0, 0, 1, 2, 5) }) },
    { weight: 2, arbitrary: selectArbitrary },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('setEvent' as const), key: eventKeyArbitrary, value: fc.integer({ min: 0, max: 99 }) }) },
  ),
  { minLength: 1, maxLength: 6, size: 'max' },
);
const watcherScript = fc.array(
  fc.record({ op: fc.constant('getEvent' as const), target: fc.constantFrom('r0', 'r1', 'ghost'), key: eventKeyArbitrary, timeoutSeconds: oddTimeoutArbitrary }),
  { minLength: 1, maxLength: 4, size: 'max' },
);
const scriptsArbitrary = fc.record({ r0: receiverScript, r1: receiverScript, w0: watcherScript }) as fc.Arbitrary<Record<string, ScriptOp[]>>;

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), destination: fc.constantFrom(...DESTINATIONS), topic: topicArbitrary, idempotencyKey: fc.constantFrom(...IDEMPOTENCY_KEYS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('getEventNow' as const), target: fc.constantFrom('r0', 'r1', 'ghost'), key: eventKeyArbitrary }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('getEventLater' as const), target: fc.constantFrom('r0', 'r1', 'ghost'), key: eventKeyArbitrary, timeoutSeconds: oddTimeoutArbitrary }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.constantFrom(0, 1, 1, 2, 3, 7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const) }) },
);
const actionsArbitrary = fc.array(actionArbitrary, { minLength: 1, maxLength: 40, size: 'max' });

// --- the properties ------------------------------------------------------------------------------------------

const figures = { properties: 0, runs: 0, actions: 0, crashes: 0 };

afterAll(() => {
  console.log(`queues.model: ${figures.properties} properties, ${figures.runs} runs, ${figures.actions} actions (${figures.crashes} crash-recoveries), each checked against the model after every action`);
});

/** One run: start the workflows, apply every action comparing after each, then let everything time out. */
async function runAgainstModel(database: string | undefined, scripts: Record<string, ScriptOp[]>, actions: Action[]): Promise<void> {
  figures.runs++;
  const t = await openTestKit(database === undefined ? {} : { database });
  try {
    for (const workflowUUID of WORKFLOWS) await t.engine.startWorkflow(scripted, { workflowUUID }, scripts[workflowUUID]!);
    await t.runUntilIdle();
    const model = new Model(t.clock.now(), scripts);
    const liveWaits: LiveWait[] = [];
    await compare(t, model, liveWaits, 'start');
    for (const [index, action] of actions.entries()) {
      figures.actions++;
      if (action.kind === 'crash') figures.crashes++;
      await apply(t, model, liveWaits, action, `m${index}`);
      await compare(t, model, liveWaits, `action #${index} ${JSON.stringify(action)}`);
    }
    // Long enough for every wait left (at most 6 recvs of the default 60 s each) to time out.
    await apply(t, model, liveWaits, { kind: 'advance', seconds: 400 }, 'unused');
    await compare(t, model, liveWaits, 'the end');
    // compare() checked the engine's statuses against these, so no getResult below can hang.
    expect([...model.workflows.values()].every((workflow) => workflow.pc === workflow.script.length)).toBe(true);
    for (const workflowUUID of WORKFLOWS) {
      expect(await t.engine.retrieveWorkflow(workflowUUID).getResult()).toEqual(model.workflows.get(workflowUUID)!.results);
    }
  } finally {
    await t.close();
  }
}

describe('queues and events against a model', () => {
  test('random sends, recvs, getEvents, setEvents, time and crashes: the engine always equals the model (in memory)', async () => {
    figures.properties++;
    await fc.assert(
      fc.asyncProperty(scriptsArbitrary, actionsArbitrary, (scripts, actions) => runAgainstModel(undefined, scripts, actions)),
      // A run on PostgreSQL takes a database of its own and a round trip per operation: fewer runs there.
      { numRuns: onPostgres ? 12 : 500 },
    );
  }, 240_000);

  testOnSqlite('the PostgreSQL run of the property above already crashes as a killed process does (every connection closed, recovery reads the database)', 'the same on a database file, where each crash closes the connection and recovery reads the file', async () => {
    figures.properties++;
    await fc.assert(
      fc.asyncProperty(scriptsArbitrary, actionsArbitrary, (scripts, actions) => runAgainstModel(tempDatabasePath('model'), scripts, actions)),
      { numRuns: 150 },
    );
  }, 240_000);
});
