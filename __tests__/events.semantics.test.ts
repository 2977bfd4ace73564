import {
  DuplicateEventKeyError,
  registerStep,
  registerWorkflow,
  type Engine,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, queryDatabase, testDatabase } from './helpers';
import { blockedInGetEvent, blockedInRecv, operationsOf, waitStarted, waitsOf, onWaitStarted } from './wait-helpers';

/** Sets each [key, value] in order. */
const publish = registerWorkflow('events.publish', async (ctxt: WorkflowContext, entries: [string, unknown][]) => {
  for (const [key, value] of entries) await ctxt.setEvent(key, value);
});

/** Waits for a message on 'go', then sets `key`. */
const publishOnSignal = registerWorkflow('events.publishOnSignal', async (ctxt: WorkflowContext, key: string, value: unknown) => {
  await ctxt.recv('go', 30);
  await ctxt.setEvent(key, value);
});

/** Reads another workflow's event from inside a workflow. */
const read = registerWorkflow('events.read', async (ctxt: WorkflowContext, target: string, key: string, timeoutSeconds?: number) =>
  ctxt.getEvent(target, key, timeoutSeconds),
);

/** Resolves once `count` waits (handler or workflow) are waiting for event `key` of `target`. */
function waitersOnEvent(engine: Engine, target: string, key: string, count: number) {
  const onKey = () =>
    waitsOf(engine).filter((wait) => wait.kind === 'getEvent' && wait.targetUUID === target && wait.key === key).length;
  return waitStarted(engine, () => onKey() >= count);
}

/** Records every wait started for event `key`, to show when none was needed. */
function recordEventWaits(engine: Engine, key: string): { waits: unknown[]; stop: () => void } {
  const waits: unknown[] = [];
  const stop = onWaitStarted(engine, (wait) => {
    if (wait.kind === 'getEvent' && wait.key === key) waits.push(wait);
  });
  return { waits, stop };
}

describe('setEvent then getEvent', () => {
  test('a handler’s getEvent returns the value a workflow set', async () => {
    const engine = await openTestEngine();
    const value = { url: 'https://pay.example/s/1', at: new Date('2026-01-01T00:00:00Z'), amounts: new Map([['EUR', 12n]]) };
    await (await engine.startWorkflow(publish, { workflowUUID: 'pub' }, [['checkout', value]])).getResult();
    expect(await engine.getEvent('pub', 'checkout', 1)).toEqual(value);
    await engine.close();
  });

  test('a workflow’s getEvent waits for and returns the value another workflow sets', async () => {
    const engine = await openTestEngine();
    const publisher = await engine.startWorkflow(publishOnSignal, { workflowUUID: 'pub' }, 'state', 'ready');
    const reader = await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'pub', 'state', 5);
    await blockedInGetEvent(engine, 'reader');
    await engine.send('pub', 'now', 'go');
    await publisher.getResult();
    expect(await reader.getResult()).toBe('ready');
    expect(await operationsOf(engine, 'reader')).toMatchObject([{ kind: 'getEvent', output: 'ready' }]);
    await engine.close();
  });

  test('an event already set is returned at once, without starting a wait', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(publish, { workflowUUID: 'pub' }, [['done', 42]])).getResult();
    const { waits, stop } = recordEventWaits(engine, 'done');

    expect(await engine.getEvent('pub', 'done', 30)).toBe(42);
    expect(await (await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'pub', 'done', 30)).getResult()).toBe(42);
    stop();
    expect(waits).toEqual([]);
    await engine.close();
  });

  test('getEvent on a workflow that does not exist yet waits, and resolves when it is started later and sets the key', async () => {
    const engine = await openTestEngine();
    const fromHandler = engine.getEvent<string>('not-yet', 'greeting', 5);
    const reader = await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'not-yet', 'greeting', 5);
    await waitersOnEvent(engine, 'not-yet', 'greeting', 2);
    expect(await engine.retrieveWorkflow('not-yet').getStatus()).toBeNull();

    await engine.startWorkflow(publish, { workflowUUID: 'not-yet' }, [['greeting', 'hello']]);
    expect(await fromHandler).toBe('hello');
    expect(await reader.getResult()).toBe('hello');
    await engine.close();
  });

  test('250 concurrent waiters on one key (200 handlers, 50 workflows) all wake when it is set', async () => {
    const engine = await openTestEngine();
    const publisher = await engine.startWorkflow(publishOnSignal, { workflowUUID: 'pub' }, 'shared', 'for everyone');
    const handlerWaits = Array.from({ length: 200 }, () => engine.getEvent<string>('pub', 'shared', 10));
    const readers = await Promise.all(
      Array.from({ length: 50 }, (_, index) => engine.startWorkflow(read, { workflowUUID: `reader-${index}` }, 'pub', 'shared', 10)),
    );
    await waitersOnEvent(engine, 'pub', 'shared', 250);

    const setMs = Date.now();
    await engine.send('pub', 'now', 'go');
    await publisher.getResult();
    const seen = await Promise.all([...handlerWaits, ...readers.map((reader) => reader.getResult())]);
    // Woken by the commit, not by their 10 s deadlines.
    expect(Date.now() - setMs).toBeLessThan(2_000);
    expect(seen).toHaveLength(250);
    expect(new Set(seen)).toEqual(new Set(['for everyone']));
    expect(waitsOf(engine).filter((wait) => wait.kind === 'getEvent')).toEqual([]);
    await engine.close();
  });
});

describe('getEvent timeouts', () => {
  test('a handler’s getEvent returns null when the timeout passes', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(publish, { workflowUUID: 'quiet' }, [])).getResult();
    const startedMs = Date.now();
    expect(await engine.getEvent('quiet', 'never', 0.2)).toBeNull();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(200);
    await engine.close();
  });

  test('a workflow’s getEvent returns null when the timeout passes, and records null', async () => {
    const engine = await openTestEngine();
    const startedMs = Date.now();
    const reader = await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'nobody', 'never', 0.2);
    expect(await reader.getResult()).toBeNull();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(200);
    expect(await operationsOf(engine, 'reader')).toMatchObject([{ kind: 'getEvent', output: null, error: null }]);
    await engine.close();
  });

  test('a timeout that is not a whole number of milliseconds (0.1234 s) works in a workflow and in a handler', async () => {
    const engine = await openTestEngine();
    const reader = await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'nobody', 'never', 0.1234);
    expect(await engine.getEvent('nobody', 'never', 0.1234)).toBeNull();
    expect(await reader.getResult()).toBeNull();
    expect((await reader.getStatus())?.status).toBe('SUCCESS');
    await engine.close();
  });

  test('timeout 0 checks once and returns null without waiting', async () => {
    const engine = await openTestEngine();
    const { waits, stop } = recordEventWaits(engine, 'never');
    expect(await engine.getEvent('nobody', 'never', 0)).toBeNull();
    expect(await (await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'nobody', 'never', 0)).getResult()).toBeNull();
    stop();
    expect(waits).toEqual([]);
    await engine.close();
  });

  test('without a timeout getEvent waits 60 seconds, in a handler and in a workflow (recorded deadline)', async () => {
    const engine = await openTestEngine();
    const beforeMs = Date.now();
    const fromHandler = engine.getEvent('later', 'k');
    const reader = await engine.startWorkflow(read, { workflowUUID: 'reader' }, 'later', 'k');
    const [handlerWait, readerWait] = await Promise.all([
      waitStarted(engine, (wait) => wait.kind === 'getEvent' && wait.workflowUUID === null),
      blockedInGetEvent(engine, 'reader'),
    ]);
    const afterMs = Date.now();

    const [recorded] = (await operationsOf(engine, 'reader')).filter((operation) => operation.completedAt === null);
    expect(recorded).toMatchObject({ kind: 'getEvent', completedAt: null });
    for (const deadlineMs of [handlerWait.deadlineMs!, readerWait.deadlineMs!, recorded!.deadlineMs!]) {
      expect(deadlineMs).toBeGreaterThanOrEqual(beforeMs + 60_000);
      expect(deadlineMs).toBeLessThanOrEqual(afterMs + 60_000);
    }

    await engine.startWorkflow(publish, { workflowUUID: 'later' }, [['k', 'v']]);
    expect(await fromHandler).toBe('v');
    expect(await reader.getResult()).toBe('v');
    await engine.close();
  });

  test('engine.getEvent rejects bad keys and timeouts with TypeError/RangeError before waiting', async () => {
    const engine = await openTestEngine();
    await expect(engine.getEvent('w', 'k', -1)).rejects.toThrow(new RangeError('Expected `timeoutSeconds` to be a finite number >= 0, got `-1` (number)'));
    await expect(engine.getEvent('w', 'k', NaN)).rejects.toThrow(new RangeError('Expected `timeoutSeconds` to be a finite number >= 0, got `NaN` (number)'));
    await expect(engine.getEvent('w', 'k', -Infinity)).rejects.toThrow(RangeError);
    await expect(engine.getEvent('w', 'k', '5' as unknown as number)).rejects.toThrow(
      new TypeError('Expected `timeoutSeconds` to be a finite number >= 0, got `"5"` (string)'),
    );
    await expect(engine.getEvent('w', '', 1)).rejects.toThrow(new TypeError('Expected `key` to be a non-empty string, got `""` (string)'));
    await expect(engine.getEvent('', 'k', 1)).rejects.toThrow(new TypeError('Expected `workflowUUID` to be a non-empty string, got `""` (string)'));
    expect(waitsOf(engine)).toHaveLength(0);
    await engine.close();
  });
});

describe('events are immutable', () => {
  const setTwice = registerWorkflow('events.setTwice', async (ctxt: WorkflowContext, wait: boolean) => {
    await ctxt.setEvent('status', 'first');
    let outcome: Record<string, unknown>;
    try {
      await ctxt.setEvent('status', 'second');
      outcome = { thrown: false };
    } catch (error) {
      const duplicate = error as DuplicateEventKeyError;
      outcome = {
        isDuplicateEventKeyError: error instanceof DuplicateEventKeyError,
        code: duplicate.code,
        workflowUUID: duplicate.workflowUUID,
        key: duplicate.key,
      };
    }
    if (wait) await ctxt.recv('continue', 30);
    return outcome;
  });

  const expectedOutcome = (workflowUUID: string) => ({ isDuplicateEventKeyError: true, code: 'DUPLICATE_EVENT_KEY', workflowUUID, key: 'status' });

  test('a second setEvent of a key rejects with DuplicateEventKeyError and keeps the first value', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(setTwice, { workflowUUID: 'twice' }, false);
    expect(await handle.getResult()).toEqual(expectedOutcome('twice'));
    expect(await engine.listEvents('twice')).toEqual({ status: 'first' });
    expect(await engine.getEvent('twice', 'status', 0)).toBe('first');
    await engine.close();
  });

  test('the duplicate error is recorded as the operation’s outcome, and a replay meets it without writing again', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(setTwice, { workflowUUID: 'twice' }, true);
    await blockedInRecv(first, 'twice', 'continue');
    const operations = await operationsOf(first, 'twice');
    expect(operations.map((operation) => [operation.kind, operation.error === null])).toEqual([
      ['setEvent', true],
      ['setEvent', false],
      ['recv', true],
    ]);
    const recorded = operations[1]!.error;
    expect(recorded).toBeInstanceOf(DuplicateEventKeyError);
    expect(recorded).toMatchObject({ code: 'DUPLICATE_EVENT_KEY', workflowUUID: 'twice', key: 'status' });
    await first.close();

    // Remove the event behind the engine's back: a replay that re-ran either setEvent would now
    // write it again (and the second would succeed), so only the recorded outcomes explain the result.
    await queryDatabase(database, 'DELETE FROM events');

    const reopened = await openTestEngine({ database });
    await blockedInRecv(reopened, 'twice', 'continue');
    await reopened.send('twice', 'go', 'continue');
    expect(await reopened.retrieveWorkflow('twice').getResult()).toEqual(expectedOutcome('twice'));
    expect(await reopened.listEvents('twice')).toEqual({});
    await reopened.close();
  });

  test('a setEvent replayed after close and reopen is not a duplicate', async () => {
    const database = await testDatabase();
    const setOnceThenWait = registerWorkflow('events.setOnceThenWait', async (ctxt: WorkflowContext) => {
      await ctxt.setEvent('phase', 'started');
      return ctxt.recv<string>('continue', 30);
    });
    const first = await openTestEngine({ database });
    await first.startWorkflow(setOnceThenWait, { workflowUUID: 'once' });
    await blockedInRecv(first, 'once', 'continue');
    await first.close();

    const reopened = await openTestEngine({ database });
    await blockedInRecv(reopened, 'once', 'continue');
    await reopened.send('once', 'finish', 'continue');
    expect(await reopened.retrieveWorkflow('once').getResult()).toBe('finish');
    expect(await reopened.listEvents('once')).toEqual({ phase: 'started' });
    await reopened.close();
  });
});

describe('in-workflow getEvent is recorded', () => {
  const peek = registerWorkflow('events.peek', async (ctxt: WorkflowContext, target: string) => {
    const seen = await ctxt.getEvent<string>(target, 'k', 0.2);
    await ctxt.recv('continue', 30);
    return seen;
  });

  test('after reopen it returns what it saw the first time: a null timeout stays null even though the event now exists', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(peek, { workflowUUID: 'peeker' }, 'target');
    await blockedInRecv(first, 'peeker', 'continue');
    expect((await operationsOf(first, 'peeker'))[0]).toMatchObject({ kind: 'getEvent', output: null });
    await first.close();

    const between = await openTestEngine({ database, recover: false });
    await (await between.startWorkflow(publish, { workflowUUID: 'target' }, [['k', 'now set']])).getResult();
    await between.close();

    const reopened = await openTestEngine({ database });
    expect(reopened.recovery.resumed).toEqual(['peeker']);
    await blockedInRecv(reopened, 'peeker', 'continue');
    await reopened.send('peeker', 'go', 'continue');
    expect(await reopened.retrieveWorkflow('peeker').getResult()).toBeNull();
    // A fresh read sees the event: only the record explains the null.
    expect(await reopened.getEvent('target', 'k', 0)).toBe('now set');
    await reopened.close();
  });

  test('a getEvent still waiting at close resumes after reopen and sees the event set later', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(read, { workflowUUID: 'reader' }, 'target', 'k', 30);
    await blockedInGetEvent(first, 'reader');
    await first.close();

    const reopened = await openTestEngine({ database });
    await blockedInGetEvent(reopened, 'reader');
    await reopened.startWorkflow(publish, { workflowUUID: 'target' }, [['k', 'after restart']]);
    expect(await reopened.retrieveWorkflow('reader').getResult()).toBe('after restart');
    expect(await operationsOf(reopened, 'reader')).toHaveLength(1);
    await reopened.close();
  });
});

describe('listEvents', () => {
  test('returns every event of a workflow as { key: value }, and {} for an unknown UUID', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(publish, { workflowUUID: 'pub' }, [['a', 1], ['b', { nested: [true] }], ['c', null]])).getResult();
    expect(await engine.listEvents('pub')).toEqual({ a: 1, b: { nested: [true] }, c: null });
    expect(await engine.listEvents('nobody')).toEqual({});
    await engine.close();
  });
});

describe('where communication operations exist', () => {
  const inspectStep = registerStep('events.inspectStep', (ctxt: StepContext) => ({
    recv: 'recv' in ctxt,
    setEvent: 'setEvent' in ctxt,
    send: 'send' in ctxt,
    getEvent: 'getEvent' in ctxt,
  }));
  const inspect = registerWorkflow('events.inspect', async (ctxt: WorkflowContext) => ({
    step: await ctxt.runStep(inspectStep),
    workflow: { recv: typeof ctxt.recv, setEvent: typeof ctxt.setEvent, send: typeof ctxt.send, getEvent: typeof ctxt.getEvent },
  }));

  test('recv and setEvent exist on WorkflowContext only: not on StepContext, not on the engine', async () => {
    const engine = await openTestEngine();
    const seen = await (await engine.startWorkflow(inspect, { workflowUUID: 'inspect' })).getResult();
    expect(seen.workflow).toEqual({ recv: 'function', setEvent: 'function', send: 'function', getEvent: 'function' });
    expect(seen.step).toEqual({ recv: false, setEvent: false, send: false, getEvent: false });
    expect('recv' in engine).toBe(false);
    expect('setEvent' in engine).toBe(false);
    expect(typeof engine.send).toBe('function');
    expect(typeof engine.getEvent).toBe('function');
    await engine.close();
  });
});
