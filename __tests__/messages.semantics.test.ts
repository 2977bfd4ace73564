import {
  registerWorkflow,
  WorkflowNotFoundError,
  type Clock,
  type Engine,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, testDatabase } from './helpers';
import { blockedInRecv, countRows, operationsOf, onWaitStarted } from './wait-helpers';

/** One recv of a receiver's plan. */
interface Receive {
  topic: string | null;
  timeoutSeconds?: number;
}

/** Waits for a message on 'gate', then performs each recv of `plan` in order and returns what they got. */
const receiver = registerWorkflow('messages.receiver', async (ctxt: WorkflowContext, plan: Receive[]) => {
  await ctxt.recv('gate', 30);
  const received: unknown[] = [];
  for (const { topic, timeoutSeconds } of plan) received.push(await ctxt.recv(topic, timeoutSeconds));
  return received;
});

/** Receives `count` messages on `topic` at once (no gate) and returns them. */
const drain = registerWorkflow('messages.drain', async (ctxt: WorkflowContext, topic: string, count: number) => {
  const received: unknown[] = [];
  for (let index = 0; index < count; index++) received.push(await ctxt.recv(topic, 30));
  return received;
});

const noop = registerWorkflow('messages.noop', async () => 'done');

/** Starts a receiver and resolves once it is blocked on its gate, so later sends are buffered. */
async function startGatedReceiver(engine: Engine, workflowUUID: string, plan: Receive[]) {
  const handle = await engine.startWorkflow(receiver, { workflowUUID }, plan);
  await blockedInRecv(engine, workflowUUID, 'gate');
  return handle;
}

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

describe('messages are buffered', () => {
  test('a message sent before the receiver calls recv waits in its queue and is received later', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'buffered', [{ topic: 'data', timeoutSeconds: 5 }, { topic: 'data', timeoutSeconds: 5 }]);

    await engine.send('buffered', 'first', 'data');
    await engine.send('buffered', 'second', 'data');
    expect((await engine.listMessages('buffered', 'data')).map((info) => [info.message, info.consumed])).toEqual([
      ['first', false],
      ['second', false],
    ]);

    await engine.send('buffered', 'open', 'gate');
    expect(await handle.getResult()).toEqual(['first', 'second']);
    expect((await engine.listMessages('buffered', 'data')).every((info) => info.consumed)).toBe(true);
    await engine.close();
  });
});

describe('messages are buffered across a restart', () => {
  test('a recv waiting when the engine closed gets a message sent while it was down', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(drain, { workflowUUID: 'down' }, 'mail', 2);
    await blockedInRecv(first, 'down', 'mail');
    await first.send('down', 'before close', 'mail');
    await first.close();

    const whileDown = await openTestEngine({ database, recover: false });
    await whileDown.send('down', 'while down', 'mail');
    await whileDown.close();

    const reopened = await openTestEngine({ database });
    expect(await reopened.retrieveWorkflow('down').getResult()).toEqual(['before close', 'while down']);
    await reopened.close();
  });
});

describe('messages are FIFO per (destination, topic), by insertion order', () => {
  test('1,000 sends fired without awaiting each one are received in the order the calls were made', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(drain, { workflowUUID: 'fifo-buffered' }, 'seq', 1000);
    // The receiver is already waiting: the first send wakes it, the rest queue up behind.
    await blockedInRecv(engine, 'fifo-buffered', 'seq');
    const sends: Promise<void>[] = [];
    for (let index = 0; index < 1000; index++) sends.push(engine.send('fifo-buffered', index, 'seq'));
    await Promise.all(sends);

    // One destination's sends commit in call order on every store (on PostgreSQL, one after the other).
    expect(await handle.getResult()).toEqual(range(1000));
    expect((await engine.listMessages('fifo-buffered')).map((info) => info.message)).toEqual(range(1000));
    await engine.close();
  });

  test('1,000 un-awaited sends queued before any recv are received in call order', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'fifo-gated', range(1000).map(() => ({ topic: 'seq', timeoutSeconds: 0 })));
    const sends = range(1000).map((index) => engine.send('fifo-gated', index, 'seq'));
    await Promise.all(sends);
    await engine.send('fifo-gated', 'open', 'gate');
    expect(await handle.getResult()).toEqual(range(1000));
    await engine.close();
  });

  test('messages with equal timestamps keep their insertion order (the order never depends on the clock)', async () => {
    // Time never moves: every message gets the same createdAt.
    const frozen: Clock = { now: () => 1_700_000_000_000, setAlarm: () => ({ cancel() {} }) };
    const engine = await openTestEngine({ clock: frozen });
    const handle = await startGatedReceiver(engine, 'fifo-frozen', range(200).map(() => ({ topic: 'seq', timeoutSeconds: 0 })));
    for (const index of range(200)) await engine.send('fifo-frozen', `m${index}`, 'seq');

    const listed = await engine.listMessages('fifo-frozen', 'seq');
    expect(new Set(listed.map((info) => info.createdAt))).toEqual(new Set([1_700_000_000_000]));
    expect(listed.map((info) => info.message)).toEqual(range(200).map((index) => `m${index}`));

    await engine.send('fifo-frozen', 'open', 'gate');
    expect(await handle.getResult()).toEqual(range(200).map((index) => `m${index}`));
    await engine.close();
  });
});

describe('topics are separate queues', () => {
  test('recv on a topic takes only that topic’s messages, in order, whatever was sent between them', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'topics', [
      { topic: 't2' },
      { topic: 't1' },
      { topic: 't1' },
      { topic: 't1', timeoutSeconds: 0 },
    ]);
    await engine.send('topics', 'a', 't1');
    await engine.send('topics', 'b', 't2');
    await engine.send('topics', 'c', 't1');
    await engine.send('topics', 'open', 'gate');
    expect(await handle.getResult()).toEqual(['b', 'a', 'c', null]);
    await engine.close();
  });

  test('recv without a topic receives only messages sent without a topic', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'no-topic', [
      { topic: null },
      { topic: null },
      // Topic-less queue now empty: the topic messages below are not taken by a topic-less recv.
      { topic: null, timeoutSeconds: 0 },
      { topic: 'news', timeoutSeconds: 0 },
    ]);
    await engine.send('no-topic', 'with topic', 'news');
    await engine.send('no-topic', 'plain 1');
    await engine.send('no-topic', 'plain 2', null);
    await engine.send('no-topic', 'open', 'gate');
    expect(await handle.getResult()).toEqual(['plain 1', 'plain 2', null, 'with topic']);
    await engine.close();
  });

  test('a topic-less recv ignores a topic message that arrives while it waits', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(
      registerWorkflow('messages.topiclessWait', async (ctxt: WorkflowContext) => ctxt.recv<string>(undefined, 0.3)),
      { workflowUUID: 'topicless-wait' },
    );
    await blockedInRecv(engine, 'topicless-wait', null);
    await engine.send('topicless-wait', 'for a topic', 'news');
    expect(await handle.getResult()).toBeNull();
    expect(await engine.listMessages('topicless-wait')).toEqual([
      { topic: 'news', message: 'for a topic', consumed: false, createdAt: expect.any(Number) },
    ]);
    await engine.close();
  });
});

describe('sending to a workflow that does not exist', () => {
  test('engine.send rejects with WorkflowNotFoundError and stores nothing', async () => {
    const engine = await openTestEngine();
    const error = await engine.send('ghost', { hello: 1 }, 'topic').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WorkflowNotFoundError);
    expect(error).toMatchObject({ code: 'WORKFLOW_NOT_FOUND', workflowUUID: 'ghost' });
    expect(await engine.listMessages('ghost')).toEqual([]);
    expect(await countRows(engine, 'messages')).toBe(0);
    await engine.close();
  });

  test('an idempotency key used by a send that failed is not spent', async () => {
    const engine = await openTestEngine();
    await expect(engine.send('late', 'too early', null, 'delivery-1')).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await (await engine.startWorkflow(noop, { workflowUUID: 'late' })).getResult();
    await engine.send('late', 'on time', null, 'delivery-1');
    expect((await engine.listMessages('late')).map((info) => info.message)).toEqual(['on time']);
    await engine.close();
  });

  const sendToGhost = registerWorkflow('messages.sendToGhost', async (ctxt: WorkflowContext, ghost: string) => {
    let outcome: string;
    try {
      await ctxt.send(ghost, 'hello', 'greetings');
      outcome = 'sent';
    } catch (error) {
      outcome = error instanceof WorkflowNotFoundError ? `${error.code}:${error.workflowUUID}` : `unexpected:${String(error)}`;
    }
    await ctxt.recv('continue', 30);
    return outcome;
  });

  test('inside a workflow the send throws WorkflowNotFoundError, recorded as the operation’s outcome', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(sendToGhost, { workflowUUID: 'ghost-sender' }, 'ghost-0');
    await blockedInRecv(engine, 'ghost-sender', 'continue');

    const [send] = await operationsOf(engine, 'ghost-sender');
    expect(send).toMatchObject({ operationIndex: 0, kind: 'send', output: undefined });
    const recorded = send!.error;
    expect(recorded).toBeInstanceOf(WorkflowNotFoundError);
    expect(recorded).toMatchObject({ code: 'WORKFLOW_NOT_FOUND', workflowUUID: 'ghost-0' });
    expect(await countRows(engine, 'messages')).toBe(0);

    await engine.send('ghost-sender', 'go', 'continue');
    expect(await handle.getResult()).toBe('WORKFLOW_NOT_FOUND:ghost-0');
    await engine.close();
  });

  test('after close and reopen the replayed send meets the recorded error and sends nothing, even once the destination exists', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(sendToGhost, { workflowUUID: 'ghost-sender' }, 'ghost-1');
    await blockedInRecv(first, 'ghost-sender', 'continue');
    await first.close();

    // The destination comes to exist while the sender is down: re-sending would now succeed.
    const between = await openTestEngine({ database, recover: false });
    await (await between.startWorkflow(noop, { workflowUUID: 'ghost-1' })).getResult();
    await between.close();

    const reopened = await openTestEngine({ database });
    expect(reopened.recovery.resumed).toEqual(['ghost-sender']);
    await blockedInRecv(reopened, 'ghost-sender', 'continue');
    await reopened.send('ghost-sender', 'go', 'continue');
    expect(await reopened.retrieveWorkflow('ghost-sender').getResult()).toBe('WORKFLOW_NOT_FOUND:ghost-1');
    expect(await reopened.listMessages('ghost-1')).toEqual([]);
    expect((await operationsOf(reopened, 'ghost-sender')).map((operation) => operation.kind)).toEqual(['send', 'recv']);
    await reopened.close();
  });
});

describe('finished workflows', () => {
  test('a finished workflow accepts messages; they stay unconsumed and visible in listMessages', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(noop, { workflowUUID: 'finished' });
    expect(await handle.getResult()).toBe('done');

    await engine.send('finished', 'late 1', 'updates');
    await engine.send('finished', { late: 2 });
    expect((await handle.getStatus())?.status).toBe('SUCCESS');
    expect(await engine.listMessages('finished')).toEqual([
      { topic: 'updates', message: 'late 1', consumed: false, createdAt: expect.any(Number) },
      { topic: null, message: { late: 2 }, consumed: false, createdAt: expect.any(Number) },
    ]);
    await engine.close();
  });
});

describe('idempotency keys', () => {
  test('repeats with one key store one message per destination and resolve normally, even with different payloads', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'idem', [{ topic: 'pay' }, { topic: 'pay', timeoutSeconds: 0 }]);

    await expect(engine.send('idem', 'v1', 'pay', 'delivery-7')).resolves.toBeUndefined();
    await expect(engine.send('idem', 'v2', 'pay', 'delivery-7')).resolves.toBeUndefined();
    await expect(engine.send('idem', 'v3', 'other-topic', 'delivery-7')).resolves.toBeUndefined();
    expect((await engine.listMessages('idem')).map((info) => info.message)).toEqual(['v1']);

    await engine.send('idem', 'open', 'gate');
    expect(await handle.getResult()).toEqual(['v1', null]);
    // The key is spent even after the message was consumed.
    await engine.send('idem', 'v4', 'pay', 'delivery-7');
    expect(await engine.listMessages('idem', 'pay')).toEqual([
      { topic: 'pay', message: 'v1', consumed: true, createdAt: expect.any(Number) },
    ]);
    await engine.close();
  });

  test('the same key sent to two destinations stores one message at each', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(noop, { workflowUUID: 'dest-a' })).getResult();
    await (await engine.startWorkflow(noop, { workflowUUID: 'dest-b' })).getResult();
    await engine.send('dest-a', 'to a', null, 'shared-key');
    await engine.send('dest-b', 'to b', null, 'shared-key');
    await engine.send('dest-a', 'to a again', null, 'shared-key');
    expect((await engine.listMessages('dest-a')).map((info) => info.message)).toEqual(['to a']);
    expect((await engine.listMessages('dest-b')).map((info) => info.message)).toEqual(['to b']);
    await engine.close();
  });

  test('a key stays spent after the database is closed and reopened', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await startGatedReceiver(first, 'idem-file', [{ topic: 'pay', timeoutSeconds: 0 }, { topic: 'pay', timeoutSeconds: 0 }]);
    await first.send('idem-file', 'original', 'pay', 'delivery-9');
    await first.close();

    const reopened = await openTestEngine({ database });
    await blockedInRecv(reopened, 'idem-file', 'gate');
    await expect(reopened.send('idem-file', 'retried after restart', 'pay', 'delivery-9')).resolves.toBeUndefined();
    expect((await reopened.listMessages('idem-file', 'pay')).map((info) => info.message)).toEqual(['original']);

    await reopened.send('idem-file', 'open', 'gate');
    expect(await reopened.retrieveWorkflow('idem-file').getResult()).toEqual(['original', null]);
    await reopened.close();
  });

  test('sends without a key are never deduplicated', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(noop, { workflowUUID: 'no-key' })).getResult();
    await engine.send('no-key', 'same');
    await engine.send('no-key', 'same');
    await engine.send('no-key', 'same', null, null);
    expect(await engine.listMessages('no-key')).toHaveLength(3);
    await engine.close();
  });
});

describe('listMessages', () => {
  test('lists { topic, message, consumed, createdAt } in queue order, topic null for none', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'listed', [{ topic: 'a' }]);
    const beforeMs = Date.now();
    await engine.send('listed', { n: 1 }, 'a');
    await engine.send('listed', 'plain');
    await engine.send('listed', [2], 'a');
    const afterMs = Date.now();

    const listed = await engine.listMessages('listed');
    expect(listed).toEqual([
      { topic: 'a', message: { n: 1 }, consumed: false, createdAt: expect.any(Number) },
      { topic: null, message: 'plain', consumed: false, createdAt: expect.any(Number) },
      { topic: 'a', message: [2], consumed: false, createdAt: expect.any(Number) },
    ]);
    for (const info of listed) {
      expect(Object.keys(info).sort()).toEqual(['consumed', 'createdAt', 'message', 'topic']);
      expect(info.createdAt).toBeGreaterThanOrEqual(beforeMs);
      expect(info.createdAt).toBeLessThanOrEqual(afterMs);
    }

    await engine.send('listed', 'open', 'gate');
    expect(await handle.getResult()).toEqual([{ n: 1 }]);
    expect((await engine.listMessages('listed')).map((info) => [info.message, info.consumed])).toEqual([
      [{ n: 1 }, true],
      ['plain', false],
      [[2], false],
      ['open', true],
    ]);
    await engine.close();
  });

  test('filters by topic: omitted lists all, null lists topic-less messages, a string lists that topic', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(noop, { workflowUUID: 'filtered' })).getResult();
    await engine.send('filtered', 1, 'x');
    await engine.send('filtered', 2);
    await engine.send('filtered', 3, 'y');
    await engine.send('filtered', 4, 'x');

    const messages = async (topic?: string | null) => (await engine.listMessages('filtered', topic)).map((info) => info.message);
    expect(await messages()).toEqual([1, 2, 3, 4]);
    expect(await messages(null)).toEqual([2]);
    expect(await messages('x')).toEqual([1, 4]);
    expect(await messages('y')).toEqual([3]);
    expect(await messages('z')).toEqual([]);
    expect(await engine.listMessages('nobody')).toEqual([]);
    await engine.close();
  });
});

describe('argument rules', () => {
  test('engine.send rejects an empty or non-string topic, an empty key or destination, and stores nothing', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(noop, { workflowUUID: 'target' })).getResult();

    await expect(engine.send('target', 'm', '')).rejects.toThrow(
      new TypeError('Expected `topic` to be a non-empty string, or undefined/null for no topic, got `""` (string)'),
    );
    await expect(engine.send('target', 'm', 42 as unknown as string)).rejects.toThrow(
      new TypeError('Expected `topic` to be a non-empty string, or undefined/null for no topic, got `42` (number)'),
    );
    await expect(engine.send('target', 'm', 't', '')).rejects.toThrow(TypeError);
    await expect(engine.send('target', 'm', 't', '')).rejects.toThrow(/^Expected `idempotencyKey` to be a non-empty string.*got `""` \(string\)$/);
    await expect(engine.send('target', 'm', 't', 7 as unknown as string)).rejects.toThrow(TypeError);
    await expect(engine.send('', 'm')).rejects.toThrow(new TypeError('Expected `destinationUUID` to be a non-empty string, got `""` (string)'));
    expect(await countRows(engine, 'messages')).toBe(0);
    await engine.close();
  });

  test('engine.listMessages rejects an empty topic', async () => {
    const engine = await openTestEngine();
    await expect(engine.listMessages('target', '')).rejects.toThrow(TypeError);
    await engine.close();
  });

  test('in a workflow, bad topics, keys and timeouts throw before anything is recorded', async () => {
    const engine = await openTestEngine();
    const misuse = registerWorkflow('messages.misuse', async (ctxt: WorkflowContext) => {
      const calls: [string, () => Promise<unknown>][] = [
        ['recv empty topic', () => ctxt.recv('', 1)],
        ['recv numeric topic', () => ctxt.recv(5 as unknown as string, 1)],
        ['recv negative timeout', () => ctxt.recv('t', -1)],
        ['recv NaN timeout', () => ctxt.recv('t', NaN)],
        ['recv infinite timeout', () => ctxt.recv('t', Infinity)],
        ['recv string timeout', () => ctxt.recv('t', '1' as unknown as number)],
        ['recv null timeout', () => ctxt.recv('t', null as unknown as number)],
        ['send empty topic', () => ctxt.send(ctxt.workflowUUID, 'm', '')],
        ['send empty destination', () => ctxt.send('', 'm')],
        ['setEvent empty key', () => ctxt.setEvent('', 1)],
        ['setEvent non-string key', () => ctxt.setEvent(3 as unknown as string, 1)],
        ['getEvent empty key', () => ctxt.getEvent(ctxt.workflowUUID, '', 1)],
        ['getEvent empty uuid', () => ctxt.getEvent('', 'k', 1)],
        ['getEvent negative timeout', () => ctxt.getEvent(ctxt.workflowUUID, 'k', -1)],
      ];
      const errors: Record<string, string> = {};
      for (const [name, call] of calls) {
        try {
          await call();
          errors[name] = 'no error';
        } catch (error) {
          errors[name] = `${(error as Error).constructor.name}: ${(error as Error).message}`;
        }
      }
      // The first real operation must get index 0: the rejected calls took none.
      await ctxt.setEvent('done', true);
      return errors;
    });
    const errors = await (await engine.startWorkflow(misuse, { workflowUUID: 'misuse' })).getResult();

    expect(errors).toEqual({
      'recv empty topic': 'TypeError: Expected `topic` to be a non-empty string, or undefined/null for no topic, got `""` (string)',
      'recv numeric topic': 'TypeError: Expected `topic` to be a non-empty string, or undefined/null for no topic, got `5` (number)',
      'recv negative timeout': 'RangeError: Expected `timeoutSeconds` to be a finite number >= 0, got `-1` (number)',
      'recv NaN timeout': 'RangeError: Expected `timeoutSeconds` to be a finite number >= 0, got `NaN` (number)',
      'recv infinite timeout': 'RangeError: Expected `timeoutSeconds` to be a finite number >= 0, got `Infinity` (number)',
      'recv string timeout': 'TypeError: Expected `timeoutSeconds` to be a finite number >= 0, got `"1"` (string)',
      'recv null timeout': 'TypeError: Expected `timeoutSeconds` to be a finite number >= 0, got `null` (null)',
      'send empty topic': 'TypeError: Expected `topic` to be a non-empty string, or undefined/null for no topic, got `""` (string)',
      'send empty destination': 'TypeError: Expected `destinationUUID` to be a non-empty string, got `""` (string)',
      'setEvent empty key': 'TypeError: Expected `key` to be a non-empty string, got `""` (string)',
      'setEvent non-string key': 'TypeError: Expected `key` to be a non-empty string, got `3` (number)',
      'getEvent empty key': 'TypeError: Expected `key` to be a non-empty string, got `""` (string)',
      'getEvent empty uuid': 'TypeError: Expected `workflowUUID` to be a non-empty string, got `""` (string)',
      'getEvent negative timeout': 'RangeError: Expected `timeoutSeconds` to be a finite number >= 0, got `-1` (number)',
    });
    expect((await operationsOf(engine, 'misuse')).map((operation) => [operation.operationIndex, operation.kind])).toEqual([[0, 'setEvent']]);
    expect(await engine.listEvents('misuse')).toEqual({ done: true });
    expect(await countRows(engine, 'messages')).toBe(0);
    await engine.close();
  });
});

describe('recv timeouts', () => {
  const receiveOnce = registerWorkflow('messages.receiveOnce', async (ctxt: WorkflowContext, topic: string, timeoutSeconds?: number) =>
    ctxt.recv(topic, timeoutSeconds),
  );

  test('timeout 0 checks once and returns null at once, recording null, without starting a wait', async () => {
    const engine = await openTestEngine();
    const waitsStarted: string[] = [];
    const stop = onWaitStarted(engine, (wait) => {
      if (wait.workflowUUID === 'zero') waitsStarted.push(wait.kind);
    });

    const handle = await engine.startWorkflow(receiveOnce, { workflowUUID: 'zero' }, 'nothing-here', 0);
    expect(await handle.getResult()).toBeNull();
    stop();
    expect(waitsStarted).toEqual([]);
    const [recv] = await operationsOf(engine, 'zero');
    expect(recv).toMatchObject({ operationIndex: 0, kind: 'recv', output: null, error: null });
    expect(recv!.completedAt).not.toBeNull();
    await engine.close();
  });

  test('timeout 0 returns a message already queued', async () => {
    const engine = await openTestEngine();
    const handle = await startGatedReceiver(engine, 'zero-queued', [{ topic: 'x', timeoutSeconds: 0 }]);
    await engine.send('zero-queued', 'ready', 'x');
    await engine.send('zero-queued', 'open', 'gate');
    expect(await handle.getResult()).toEqual(['ready']);
    await engine.close();
  });

  test('recv returns null when the timeout passes with no message', async () => {
    const engine = await openTestEngine();
    const startedMs = Date.now();
    const handle = await engine.startWorkflow(receiveOnce, { workflowUUID: 'times-out' }, 'silence', 0.2);
    expect(await handle.getResult()).toBeNull();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(200);
    expect((await operationsOf(engine, 'times-out'))[0]).toMatchObject({ kind: 'recv', output: null });
    await engine.close();
  });

  test('a timeout that is not a whole number of milliseconds (0.2505 s) is accepted, recorded as a whole-ms deadline, and times out', async () => {
    const engine = await openTestEngine();
    const startedMs = Date.now();
    const handle = await engine.startWorkflow(receiveOnce, { workflowUUID: 'fractional' }, 'silence', 0.2505);
    await blockedInRecv(engine, 'fractional', 'silence');
    const [pending] = (await operationsOf(engine, 'fractional')).filter((operation) => operation.completedAt === null);
    expect(Number.isInteger(pending!.deadlineMs)).toBe(true);
    expect(pending!.deadlineMs! - pending!.startedAt).toBeGreaterThanOrEqual(250);

    expect(await handle.getResult()).toBeNull();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(250);
    expect((await handle.getStatus())?.status).toBe('SUCCESS');
    await engine.close();
  });

  test('recv without a timeout waits 60 seconds: its recorded deadline is 60 s after it started', async () => {
    const engine = await openTestEngine();
    const beforeMs = Date.now();
    const handle = await engine.startWorkflow(receiveOnce, { workflowUUID: 'default-timeout' }, 'later');
    const wait = await blockedInRecv(engine, 'default-timeout', 'later');
    const afterMs = Date.now();

    const [pending] = (await operationsOf(engine, 'default-timeout')).filter((operation) => operation.completedAt === null);
    expect(pending).toMatchObject({ kind: 'recv', completedAt: null });
    expect(pending!.deadlineMs).toBeGreaterThanOrEqual(beforeMs + 60_000);
    expect(pending!.deadlineMs).toBeLessThanOrEqual(afterMs + 60_000);
    expect(wait.deadlineMs).toBe(pending!.deadlineMs);

    await engine.send('default-timeout', 'arrived', 'later');
    expect(await handle.getResult()).toBe('arrived');
    await engine.close();
  });
});
