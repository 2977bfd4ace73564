import { registerWorkflow, type SelectBranch, type WorkflowContext } from '../lib';
import { openTestEngine, openTestKit } from './helpers';
import { countRows, waitStarted } from './wait-helpers';

/** Waits on 'go', then runs one select of `branches` and returns what it chose. */
const selector = registerWorkflow('select.selector', async (ctxt: WorkflowContext, branches: SelectBranch[], timeoutSeconds: number) => {
  await ctxt.recv('go', 60);
  return ctxt.select(branches, timeoutSeconds);
});

/** Selects at once (no gate). */
const eager = registerWorkflow('select.eager', async (ctxt: WorkflowContext, branches: SelectBranch[], timeoutSeconds: number) => {
  return ctxt.select(branches, timeoutSeconds);
});

const publisher = registerWorkflow('select.publisher', async (ctxt: WorkflowContext, key: string, value: unknown) => {
  await ctxt.setEvent(key, value);
});

const anyReceiver = registerWorkflow('select.anyReceiver', async (ctxt: WorkflowContext, topics: (string | null)[], count: number) => {
  await ctxt.recv('go', 60);
  const got: unknown[] = [];
  for (let index = 0; index < count; index++) got.push(await ctxt.recvAny(topics, index === count - 1 ? 0 : 5));
  return got;
});

/** Selects, then waits on 'after', so that a crash can come between the two. */
const selectThenWait = registerWorkflow('select.thenWait', async (ctxt: WorkflowContext) => {
  const chosen = await ctxt.select([{ recv: 'a' }, { recv: 'b' }], 60);
  const after = await ctxt.recv('after', 60);
  return { chosen, after };
});

const hostile = registerWorkflow('select.hostile', async (ctxt: WorkflowContext, attempts: unknown[]) => {
  const outcomes: string[] = [];
  for (const branches of attempts) {
    try {
      await ctxt.select(branches as SelectBranch[], 0);
      outcomes.push('accepted');
    } catch (error) {
      outcomes.push((error as Error).name);
    }
  }
  for (const topics of [[], ['x', 'x'], [''], 'x', Array.from({ length: 10_000 }, (_, index) => `t${index}`)]) {
    try {
      await ctxt.recvAny(topics as string[], 0);
      outcomes.push('accepted');
    } catch (error) {
      outcomes.push((error as Error).name);
    }
  }
  return outcomes;
});

/** Selects over an array whose length reads 1 the first time and 10,000 after. */
const growingBranches = registerWorkflow('select.growing', async (ctxt: WorkflowContext) => {
  await ctxt.recv('go', 60);
  let reads = 0;
  const branches = new Proxy([{ recv: 't0' }], {
    get: (target, property, receiver) => {
      if (property === 'length') return ++reads > 1 ? 10_000 : 1;
      if (typeof property === 'string' && /^[0-9]+$/.test(property)) return { recv: `t${property}` };
      return Reflect.get(target, property, receiver);
    },
  });
  return ctxt.select(branches, 0);
});

async function blockedIn(engine: Awaited<ReturnType<typeof openTestEngine>>, workflowUUID: string, kind: 'recv' | 'select') {
  return waitStarted(engine, (wait) => wait.workflowUUID === workflowUUID && wait.kind === kind);
}

describe('select over topics', () => {
  test('with messages waiting on two topics, the older one wins and the other stays in its queue', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(selector, { workflowUUID: 'two-topics' }, [{ recv: 'a' }, { recv: 'b' }], 5);
    await blockedIn(engine, 'two-topics', 'recv');
    await engine.send('two-topics', 'b-first', 'b');
    await engine.send('two-topics', 'a-second', 'a');
    await engine.send('two-topics', 'open', 'go');
    expect(await handle.getResult()).toEqual({ index: 1, value: 'b-first' });
    const queues = (await engine.listMessages('two-topics')).filter((info) => info.topic !== 'go').map((info) => [info.topic, info.message, info.consumed]);
    expect(queues).toEqual([['b', 'b-first', true], ['a', 'a-second', false]]);
    await engine.close();
  });

  test('a waiting select is woken by a message on any branch, and only that branch consumes', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(eager, { workflowUUID: 'woken' }, [{ recv: 'a' }, { recv: null }, { recv: 'c' }], 30);
    const wait = await blockedIn(engine, 'woken', 'select');
    expect(wait.branches).toEqual([{ recv: 'a' }, { recv: null }, { recv: 'c' }]);
    await engine.send('woken', { untopical: true });
    expect(await handle.getResult()).toEqual({ index: 1, value: { untopical: true } });
    await engine.send('woken', 'late', 'a');
    expect((await engine.listMessages('woken')).map((info) => [info.topic, info.consumed])).toEqual([[null, true], ['a', false]]);
    await engine.close();
  });

  test('the losers record nothing: the select is one operation', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(selector, { workflowUUID: 'one-op' }, [{ recv: 'a' }, { recv: 'b' }, { getEvent: { workflowUUID: 'nobody', key: 'k' } }], 5);
    await blockedIn(engine, 'one-op', 'recv');
    await engine.send('one-op', 1, 'a');
    await engine.send('one-op', 2, 'b');
    await engine.send('one-op', 'open', 'go');
    await handle.getResult();
    const operations = await engine.listOperations('one-op');
    expect(operations.map((operation) => [operation.kind, operation.output])).toEqual([['recv', 'open'], ['select', { index: 0, value: 1 }]]);
    expect(operations[1]!.waitingFor).toBeNull();
    await engine.close();
  });
});

describe('select over events and messages', () => {
  test('with an event and a message both there, the one committed first wins', async () => {
    const engine = await openTestEngine();
    const branches: SelectBranch[] = [{ getEvent: { workflowUUID: 'event-source', key: 'ready' } }, { recv: 'mail' }];

    const messageFirst = await engine.startWorkflow(selector, { workflowUUID: 'message-first' }, branches, 5);
    await blockedIn(engine, 'message-first', 'recv');
    await engine.send('message-first', 'mail came first', 'mail');
    await (await engine.startWorkflow(publisher, { workflowUUID: 'event-source' }, 'ready', 'event came second')).getResult();
    await engine.send('message-first', 'open', 'go');
    expect(await messageFirst.getResult()).toEqual({ index: 1, value: 'mail came first' });

    // Now the event is older than any message sent from here on.
    const eventFirst = await engine.startWorkflow(selector, { workflowUUID: 'event-first' }, branches, 5);
    await blockedIn(engine, 'event-first', 'recv');
    await engine.send('event-first', 'mail came second', 'mail');
    await engine.send('event-first', 'open', 'go');
    expect(await eventFirst.getResult()).toEqual({ index: 0, value: 'event came second' });
    expect((await engine.listMessages('event-first', 'mail'))[0]!.consumed).toBe(false);
    await engine.close();
  });

  test('a waiting select is woken by an event, and an event set to null is a value, not a timeout', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(eager, { workflowUUID: 'null-event' }, [{ recv: 'mail' }, { getEvent: { workflowUUID: 'null-source', key: 'k' } }], 30);
    await blockedIn(engine, 'null-event', 'select');
    await (await engine.startWorkflow(publisher, { workflowUUID: 'null-source' }, 'k', null)).getResult();
    expect(await handle.getResult()).toEqual({ index: 1, value: null });
    await engine.close();
  });

  test('among events, the one set first wins', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(publisher, { workflowUUID: 'later-source' }, 'k', 'set first')).getResult();
    await (await engine.startWorkflow(publisher, { workflowUUID: 'earlier-source' }, 'k', 'set second')).getResult();
    const handle = await engine.startWorkflow(eager, { workflowUUID: 'two-events' }, [
      { getEvent: { workflowUUID: 'earlier-source', key: 'k' } },
      { getEvent: { workflowUUID: 'later-source', key: 'k' } },
    ], 0);
    expect(await handle.getResult()).toEqual({ index: 1, value: 'set first' });
    await engine.close();
  });
});

describe('recvAny', () => {
  test('returns the oldest message across its topics with its topic, and a null message is not a timeout', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(anyReceiver, { workflowUUID: 'any' }, ['x', null, 'y'], 4);
    await blockedIn(engine, 'any', 'recv');
    await engine.send('any', 'y1', 'y');
    await engine.send('any', null);
    await engine.send('any', 'x1', 'x');
    await engine.send('any', 'ignored', 'z');
    await engine.send('any', 'open', 'go');
    expect(await handle.getResult()).toEqual([
      { topic: 'y', message: 'y1' },
      { topic: null, message: null },
      { topic: 'x', message: 'x1' },
      null,
    ]);
    expect((await engine.listMessages('any', 'z'))[0]!.consumed).toBe(false);
    await engine.close();
  });
});

describe('the deadline and replay of a select', () => {
  test('a timeout returns null; after a crash only the remaining time is waited', async () => {
    const t = await openTestKit();
    try {
      const handle = await t.engine.startWorkflow(eager, { workflowUUID: 'timed' }, [{ recv: 'a' }, { getEvent: { workflowUUID: 'nobody', key: 'k' } }], 100);
      const wait = await t.waitUntilBlocked('timed', { kind: 'select' });
      const startedAt = t.clock.now();
      expect(wait.deadlineMs).toBe(startedAt + 100_000);
      await t.advance(60);
      await t.crash();
      await t.runUntilIdle();
      const resumed = await t.waitUntilBlocked('timed', { kind: 'select' });
      expect(resumed.deadlineMs).toBe(wait.deadlineMs);
      await t.advance(39);
      expect((await t.engine.retrieveWorkflow('timed').getStatus())!.status).toBe('PENDING');
      await t.advance(1);
      expect(await t.engine.retrieveWorkflow('timed').getResult()).toBeNull();
      void handle;
    } finally {
      await t.close();
    }
  });

  test('a replayed select returns the recorded winner, even when another branch holds a message by then', async () => {
    const t = await openTestKit();
    try {
      await t.engine.startWorkflow(selectThenWait, { workflowUUID: 'replayed' });
      await t.waitUntilBlocked('replayed', { kind: 'select' });
      await t.engine.send('replayed', 'from b', 'b');
      await t.waitUntilBlocked('replayed', { kind: 'recv' });
      await t.engine.send('replayed', 'from a', 'a');
      await t.crash();
      await t.runUntilIdle();
      await t.waitUntilBlocked('replayed', { kind: 'recv' });
      await t.engine.send('replayed', 'done', 'after');
      expect(await t.engine.retrieveWorkflow('replayed').getResult()).toEqual({ chosen: { index: 1, value: 'from b' }, after: 'done' });
      expect((await t.engine.listMessages('replayed', 'a'))[0]!.consumed).toBe(false);
    } finally {
      await t.close();
    }
  });
});

describe('hostile selects', () => {
  test('no branch, 10,000 branches, duplicates and malformed branches each get a typed error and record nothing', async () => {
    const engine = await openTestEngine();
    const attempts: unknown[] = [
      [],
      Array.from({ length: 10_000 }, (_, index) => ({ recv: `t${index}` })),
      [{ recv: 'a' }, { recv: 'a' }],
      [{ recv: null }, { recv: undefined }],
      [{ getEvent: { workflowUUID: 'w', key: 'k' } }, { getEvent: { workflowUUID: 'w', key: 'k' } }],
      [{ recv: 'a', getEvent: { workflowUUID: 'w', key: 'k' } }],
      [{ recv: '' }],
      [{ getEvent: { workflowUUID: '', key: 'k' } }],
      [{ getEvent: null }],
      [{ stream: 'x' }],
      [null],
      'not an array',
      { 0: { recv: 'a' }, length: 1 },
    ];
    const before = await countRows(engine, 'operations');
    const handle = await engine.startWorkflow(hostile, { workflowUUID: 'hostile' }, attempts);
    expect(await handle.getResult()).toEqual([
      'RangeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError',
      'RangeError', 'TypeError', 'TypeError', 'TypeError', 'RangeError',
    ]);
    expect(await countRows(engine, 'operations')).toBe(before);
    expect(await countRows(engine, 'messages')).toBe(0);
    await engine.close();
  });

  test('branches are read once, index by index: a hole, a length that grows after the check and an own map are refused', async () => {
    const engine = await openTestEngine();
    const ownMap = Object.assign([{ recv: 'ok' }], { map: () => [{ recv: 'ok' }, { recv: 'ok' }] });
    const attempts: unknown[] = [new Array(3), [, { recv: 'a' }], ownMap];
    const outcomes = await (await engine.startWorkflow(hostile, { workflowUUID: 'read-once' }, attempts)).getResult();
    expect(outcomes.slice(0, 3)).toEqual(['TypeError', 'TypeError', 'accepted']);
    // A length read once: the proxy's later answers (10,000 branches, one on topic t5) change nothing.
    const growing = await engine.startWorkflow(growingBranches, { workflowUUID: 'length-once' });
    await blockedIn(engine, 'length-once', 'recv');
    await engine.send('length-once', 'not a branch', 't5');
    await engine.send('length-once', 'go', 'go');
    expect(await growing.getResult()).toBeNull();
    expect((await engine.listMessages('length-once', 't5'))[0]!.consumed).toBe(false);
    await engine.close();
  });

  test('a listener that changes the branches it is shown changes nothing the select attempts or records', async () => {
    const engine = await openTestEngine();
    const tampered: string[] = [];
    engine.events.on('waitStarted', (wait) => {
      if (wait.kind !== 'select') return;
      try {
        (wait.branches as SelectBranch[]).reverse();
        (wait.branches as SelectBranch[]).push({ recv: 'b' });
      } catch (error) {
        tampered.push((error as Error).name);
      }
    });
    const handle = await engine.startWorkflow(eager, { workflowUUID: 'tamper' }, [{ recv: 'approval' }, { recv: 'cancel' }], 30);
    await blockedIn(engine, 'tamper', 'select');
    await engine.send('tamper', 'on b', 'b');
    await engine.send('tamper', { by: 'ada' }, 'approval');
    expect(await handle.getResult()).toEqual({ index: 0, value: { by: 'ada' } });
    expect(tampered).toEqual(['TypeError']);
    expect((await engine.listMessages('tamper', 'b'))[0]!.consumed).toBe(false);
    await engine.close();
  });

  test('select and recvAny called outside a workflow fail with WorkflowContextError', async () => {
    const engine = await openTestEngine();
    const loose = engine as unknown as { select(branches: unknown[]): Promise<unknown>; recvAny(topics: unknown[]): Promise<unknown> };
    await expect(loose.select([{ recv: 'a' }])).rejects.toMatchObject({ code: 'NOT_IN_WORKFLOW' });
    await expect(loose.recvAny(['a'])).rejects.toMatchObject({ code: 'NOT_IN_WORKFLOW' });
    expect('select' in engine).toBe(false);
    await engine.close();
  });
});
