// sendMany: every message or none in one transaction, queued in array order, each as `send` would
// store it (idempotency keys included), with the waiting receivers woken after the commit, in this
// process and in others. Hostile input is refused, naming the bad element, before anything is written.
import Database from 'better-sqlite3';
import {
  Client,
  EngineClosedError,
  PayloadTooLargeError,
  registerWorkflow,
  WorkflowNotFoundError,
  type SendManyMessage,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, openTestKit, spawnFixture, tempDatabasePath, testOnSqlite } from './helpers';

/** Receives `count` messages on `topic` and returns them in the order received. */
const collector = registerWorkflow('sendMany.collector', async (ctxt: WorkflowContext, topic: string | null, count: number) => {
  const got: unknown[] = [];
  for (let index = 0; index < count; index++) got.push(await ctxt.recv(topic, 60));
  return got;
});

/** Never returns on its own: a destination that only collects messages. */
const idle = registerWorkflow('sendMany.idle', async (ctxt: WorkflowContext) => {
  await ctxt.recv('never', 3600);
});

async function messagesOf(handle: { listMessages(uuid: string): Promise<{ topic: string | null; message: unknown; consumed: boolean }[]> }, uuid: string): Promise<[string | null, unknown, boolean][]> {
  return (await handle.listMessages(uuid)).map((message) => [message.topic, message.message, message.consumed]);
}

describe('sendMany stores every message or none', () => {
  test('every message is queued in array order, per destination and topic, and the call reports how many were stored', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(idle, { workflowUUID: 'a' });
    await engine.startWorkflow(idle, { workflowUUID: 'b' });
    const result = await engine.sendMany([
      { destinationUUID: 'a', message: 'a1', topic: 'x' },
      { destinationUUID: 'b', message: 'b1' },
      { destinationUUID: 'a', message: { n: 2 }, topic: 'x' },
      { destinationUUID: 'a', message: 'a-none', topic: null },
      { destinationUUID: 'b', message: 'b2', topic: undefined },
      { destinationUUID: 'a', message: 'a3', topic: 'x' },
    ]);
    expect(result).toEqual({ sent: 6, duplicates: 0 });
    expect(await messagesOf(engine, 'a')).toEqual([['x', 'a1', false], ['x', { n: 2 }, false], [null, 'a-none', false], ['x', 'a3', false]]);
    expect(await messagesOf(engine, 'b')).toEqual([[null, 'b1', false], [null, 'b2', false]]);
    await engine.close();
  });

  test('an unknown destination anywhere in the batch refuses all of it with WorkflowNotFoundError naming it, and spends no key', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(idle, { workflowUUID: 'known' });
    const batch: SendManyMessage[] = [
      { destinationUUID: 'known', message: 1, topic: 't', idempotencyKey: 'k-1' },
      { destinationUUID: 'nobody', message: 2 },
      { destinationUUID: 'also-nobody', message: 3 },
      { destinationUUID: 'known', message: 4, topic: 't', idempotencyKey: 'k-2' },
    ];
    const failure = await engine.sendMany(batch).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WorkflowNotFoundError);
    expect(failure).toMatchObject({ code: 'WORKFLOW_NOT_FOUND', workflowUUID: 'nobody' });
    expect(await engine.listMessages('known')).toEqual([]);
    // Without the unknown ones, the same keys store their messages: the failed batch spent nothing.
    expect(await engine.sendMany([batch[0]!, batch[3]!])).toEqual({ sent: 2, duplicates: 0 });
    expect(await messagesOf(engine, 'known')).toEqual([['t', 1, false], ['t', 4, false]]);
    await engine.close();
  });

  test('idempotency keys: a key used before or earlier in the batch stores nothing; the first message with a key wins', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(idle, { workflowUUID: 'a' });
    await engine.startWorkflow(idle, { workflowUUID: 'b' });
    await engine.send('a', 'sent alone', 'pay', 'delivery-0');
    const result = await engine.sendMany([
      { destinationUUID: 'a', message: 'repeat of an earlier send', topic: 'pay', idempotencyKey: 'delivery-0' },
      { destinationUUID: 'a', message: 'first of the batch', topic: 'pay', idempotencyKey: 'delivery-1' },
      { destinationUUID: 'a', message: 'same key later in the batch', topic: 'pay', idempotencyKey: 'delivery-1' },
      { destinationUUID: 'b', message: 'same key, other destination', topic: 'pay', idempotencyKey: 'delivery-1' },
      { destinationUUID: 'a', message: 'no key', topic: 'pay' },
    ]);
    expect(result).toEqual({ sent: 3, duplicates: 2 });
    expect(await messagesOf(engine, 'a')).toEqual([['pay', 'sent alone', false], ['pay', 'first of the batch', false], ['pay', 'no key', false]]);
    expect(await messagesOf(engine, 'b')).toEqual([['pay', 'same key, other destination', false]]);
    // The whole batch again, as a retrying caller would: only the message without a key is new.
    expect(await engine.sendMany([{ destinationUUID: 'a', message: 'x', topic: 'pay', idempotencyKey: 'delivery-1' }, { destinationUUID: 'b', message: 'y', topic: 'pay', idempotencyKey: 'delivery-1' }])).toEqual({ sent: 0, duplicates: 2 });
    await engine.close();
  });

  test('an empty array resolves at once and commits nothing', async () => {
    const engine = await openTestEngine();
    let commits = 0;
    engine.events.on('commit', () => commits++);
    expect(await engine.sendMany([])).toEqual({ sent: 0, duplicates: 0 });
    expect(commits).toBe(0);
    await engine.close();
  });
});

describe('sendMany wakes the receivers it feeds', () => {
  test('waiting recvs of several workflows, in this process, each get their messages in array order', async () => {
    const t = await openTestKit();
    try {
      await t.engine.startWorkflow(collector, { workflowUUID: 'c-1' }, 'jobs', 3);
      await t.engine.startWorkflow(collector, { workflowUUID: 'c-2' }, null, 2);
      await t.waitUntilBlocked('c-1', { kind: 'recv' });
      await t.waitUntilBlocked('c-2', { kind: 'recv' });
      await t.engine.sendMany([
        { destinationUUID: 'c-1', message: 'job 1', topic: 'jobs' },
        { destinationUUID: 'c-2', message: 'plain 1' },
        { destinationUUID: 'c-1', message: 'job 2', topic: 'jobs' },
        { destinationUUID: 'c-1', message: 'job 3', topic: 'jobs' },
        { destinationUUID: 'c-2', message: 'plain 2' },
      ]);
      await t.runUntilIdle();
      expect(await t.engine.retrieveWorkflow('c-1').getResult()).toEqual(['job 1', 'job 2', 'job 3']);
      expect(await t.engine.retrieveWorkflow('c-2').getResult()).toEqual(['plain 1', 'plain 2']);
    } finally {
      await t.close();
    }
  });

  testOnSqlite('a SQLite file shared by an owner process and a client: the file watcher\'s wake-up (PostgreSQL\'s cross-process wake-ups are postgres.engine.test.ts\'s)', 'a client\'s sendMany, in another process than the owner, wakes the owner\'s waiting recv', async () => {
    const database = tempDatabasePath('send-many');
    const owner = spawnFixture('owner', [database, 'start-approval', 'deploy-9']);
    try {
      await owner.waitForLine('started deploy-9');
      const client = await Client.open({ database });
      try {
        expect(await client.getEvent('deploy-9', 'requested', 10)).toBe('deploy v1');
        const result = await client.sendMany([
          { destinationUUID: 'deploy-9', message: { by: 'ada' }, topic: 'approval', idempotencyKey: 'ticket-9' },
          { destinationUUID: 'deploy-9', message: { by: 'mallory' }, topic: 'approval', idempotencyKey: 'ticket-9' },
          { destinationUUID: 'deploy-9', message: 'a note', topic: 'notes' },
        ]);
        expect(result).toEqual({ sent: 2, duplicates: 1 });
        expect(await client.retrieveWorkflow('deploy-9').getResult()).toBe('approved by ada');
        expect(await messagesOf(client, 'deploy-9')).toEqual([['approval', { by: 'ada' }, true], ['notes', 'a note', false]]);
        await expect(client.sendMany([{ destinationUUID: 'deploy-9', message: 'x' }, { destinationUUID: 'nope', message: 'y' }])).rejects.toBeInstanceOf(WorkflowNotFoundError);
        expect(await client.listMessages('deploy-9')).toHaveLength(2);
      } finally {
        await client.close();
      }
      // Printed before the commit the client saw, but read here only when the pipe delivers it.
      await owner.waitForLine('received {"by":"ada"}');
      expect(owner.lines.filter((line) => line.startsWith('received'))).toEqual(['received {"by":"ada"}']);
    } finally {
      await owner.kill();
    }
  }, 30_000);

  testOnSqlite('SQLite\'s file write lock, held by another connection (a PostgreSQL write waits for a row lock instead, asynchronously)', 'a client\'s sendMany that meets another connection\'s lock waits for it without blocking, then stores the batch', async () => {
    const database = tempDatabasePath('send-many-lock');
    const engine = await openTestEngine({ database });
    const client = await Client.open({ database });
    const holder = new Database(database);
    try {
      await engine.startWorkflow(idle, { workflowUUID: 'locked' });
      holder.exec('BEGIN IMMEDIATE');
      // Had the call blocked the thread on the lock, the holder could never commit below.
      const sending = client.sendMany([{ destinationUUID: 'locked', message: 1 }, { destinationUUID: 'locked', message: 2 }]);
      holder.exec('COMMIT');
      expect(await sending).toEqual({ sent: 2, duplicates: 0 });
      expect(await messagesOf(client, 'locked')).toEqual([[null, 1, false], [null, 2, false]]);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
      await client.close();
      await engine.close();
    }
  }, 30_000);
});

describe('sendMany refuses hostile input before writing anything', () => {
  async function expectNothingWritten(run: (engine: Awaited<ReturnType<typeof openTestEngine>>) => Promise<unknown>, expected: unknown): Promise<void> {
    const engine = await openTestEngine();
    await engine.startWorkflow(idle, { workflowUUID: 'target' });
    let commits = 0;
    engine.events.on('commit', () => commits++);
    const failure = await run(engine).then(() => 'resolved', (error: unknown) => error);
    expect(failure).toEqual(expected);
    expect(commits).toBe(0);
    expect(await engine.listMessages('target')).toEqual([]);
    await engine.close();
  }

  const good = (index: number): SendManyMessage => ({ destinationUUID: 'target', message: `m${index}`, topic: 't' });

  test.each([
    ['null', null],
    ['a string', 'target'],
    ['an object', { destinationUUID: 'target', message: 1 }],
    ['an array-like', { length: 1, 0: { destinationUUID: 'target', message: 1 } }],
    ['a Set', new Set([{ destinationUUID: 'target', message: 1 }])],
  ])('a non-array (%s) is a TypeError', async (_name, value) => {
    await expectNothingWritten(
      (engine) => engine.sendMany(value as never),
      expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/^Expected `messages` to be an array of \{ destinationUUID, message, topic\?, idempotencyKey\? \}, got /) }),
    );
  });

  test('100,000 messages, beyond the limit of 1,000, is a RangeError before any element is read', async () => {
    const huge = new Array<SendManyMessage>(100_000).fill(good(0));
    await expectNothingWritten((engine) => engine.sendMany(huge), new RangeError('Expected `messages` to hold at most 1000 messages, got 100000. Split it into several sendMany calls (each is atomic on its own).'));
    // A sparse array of that length is refused the same way, without touching its holes.
    await expectNothingWritten((engine) => engine.sendMany(new Array(100_000)), expect.objectContaining({ name: 'RangeError' }));
  });

  test('1,000 messages, the limit, are stored', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(idle, { workflowUUID: 'target' });
    expect(await engine.sendMany(Array.from({ length: 1000 }, (_, index) => good(index)))).toEqual({ sent: 1000, duplicates: 0 });
    expect((await engine.listMessages('target')).map((message) => message.message)).toEqual(Array.from({ length: 1000 }, (_, index) => `m${index}`));
    await engine.close();
  });

  test.each([
    ['a null element', null, /^Expected `messages\[3\]` to be an object like \{ destinationUUID, message, topic\?, idempotencyKey\? \}, got `null` \(null\)$/],
    ['a hole', undefined, /^Expected `messages\[3\]` to be an object like .*got `undefined` \(undefined\)$/],
    ['a number', 42, /^Expected `messages\[3\]` to be an object like/],
    ['an empty destination', { destinationUUID: '', message: 1 }, /^Expected `messages\[3\]\.destinationUUID` to be a non-empty string, got `""` \(string\)$/],
    ['a missing destination', { message: 1 }, /^Expected `messages\[3\]\.destinationUUID` to be a non-empty string, got `undefined`/],
    ['an empty topic', { destinationUUID: 'target', message: 1, topic: '' }, /^Expected `messages\[3\]\.topic` to be a non-empty string, or undefined\/null for no topic, got `""` \(string\)$/],
    ['a numeric topic', { destinationUUID: 'target', message: 1, topic: 7 }, /^Expected `messages\[3\]\.topic` to be a non-empty string/],
    ['an empty idempotency key', { destinationUUID: 'target', message: 1, idempotencyKey: '' }, /^Expected `messages\[3\]\.idempotencyKey` to be a non-empty string, or undefined\/null for none, got `""`/],
  ])('a bad element in the middle (%s) is a TypeError naming it, and nothing of the batch is stored', async (_name, element, message) => {
    const batch: unknown[] = [good(0), good(1), good(2), element, good(4)];
    if (element === undefined) delete batch[3];
    await expectNothingWritten((engine) => engine.sendMany(batch as SendManyMessage[]), expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(message) }));
  });

  test('a message that cannot be stored is a SerializationError naming it; too large, a PayloadTooLargeError', async () => {
    await expectNothingWritten(
      (engine) => engine.sendMany([good(0), good(1), { destinationUUID: 'target', message: { callback: () => 1 } }, good(3)]),
      expect.objectContaining({ code: 'SERIALIZATION_FAILED', message: expect.stringMatching(/^The message at messages\[2\] cannot be stored: /) }),
    );
    const engine = await openTestEngine({ maxPayloadBytes: 1024 });
    await engine.startWorkflow(idle, { workflowUUID: 'target' });
    const alone = await engine.sendMany([good(0), { destinationUUID: 'target', message: 'x'.repeat(2000) }]).catch((error: unknown) => error);
    expect(alone).toBeInstanceOf(PayloadTooLargeError);
    expect((alone as Error).message).toMatch(/^The message at messages\[1\] serializes to 2002 bytes, over the limit of 1024 bytes/);
    // Each fits, but together they are over maxPayloadBytes: the batch is refused, naming where it went over.
    const together = await engine.sendMany(Array.from({ length: 5 }, () => ({ destinationUUID: 'target', message: 'y'.repeat(300) }))).catch((error: unknown) => error);
    expect(together).toBeInstanceOf(PayloadTooLargeError);
    expect(together).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', sizeBytes: 1208, limitBytes: 1024 });
    expect((together as Error).message).toMatch(/^The batch \(messages\[0\] to messages\[3\] together; split it into several sendMany calls\) serializes to 1208 bytes/);
    expect(await engine.listMessages('target')).toEqual([]);
    await engine.close();
  });

  test('the argument checks come before the encoding: a bad topic after an unstorable message is the error reported', async () => {
    await expectNothingWritten(
      (engine) => engine.sendMany([{ destinationUUID: 'target', message: Symbol('no') }, { destinationUUID: 'target', message: 1, topic: '' }]),
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('`messages[1].topic`') }),
    );
  });

  test('each field is read once: a getter cannot swap a checked value for another', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(idle, { workflowUUID: 'target' });
    let reads = 0;
    const sly = {
      get destinationUUID() {
        reads++;
        return reads === 1 ? 'target' : '';
      },
      message: 'sly',
    };
    expect(await engine.sendMany([sly])).toEqual({ sent: 1, duplicates: 0 });
    expect(reads).toBe(1);
    expect(await messagesOf(engine, 'target')).toEqual([[null, 'sly', false]]);
    await engine.close();
  });

  test('a closed engine rejects with EngineClosedError', async () => {
    const engine = await openTestEngine();
    await engine.close();
    await expect(engine.sendMany([{ destinationUUID: 'target', message: 1 }])).rejects.toBeInstanceOf(EngineClosedError);
  });
});
