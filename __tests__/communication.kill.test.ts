// Events and messages across a real SIGKILL: fixtures in __tests__/fixtures/communication-*.ts run in
// their own Node process; the test kills them and reopens the file.
import path from 'node:path';
import { delay, openTestEngine, readLog, spawnFixture, tempDatabasePath } from './helpers';
import { operationsOf } from './wait-helpers';

describe('everything committed survives SIGKILL', () => {
  test('a new engine finds every event and every unconsumed message a killed process committed', async () => {
    const database = tempDatabasePath();
    const child = spawnFixture('communication-writer', [database]);
    await child.waitForLine('committed');
    await child.kill();
    expect((await child.exited).signal).toBe('SIGKILL');

    const engine = await openTestEngine({ database, recover: false });
    expect(await engine.listEvents('kill-waiter')).toEqual({ phase: 'waiting' });
    expect(await engine.listEvents('kill-finished')).toEqual({ result: { ok: true, total: 12.5 }, when: new Date('2026-01-02T03:04:05.000Z') });
    expect(await engine.listEvents('kill-relay')).toEqual({ relayed: true });

    const toWaiter = (await engine.listMessages('kill-waiter')).map(({ topic, message, consumed }) => ({ topic, message, consumed }));
    expect(toWaiter).toEqual([
      ...Array.from({ length: 50 }, (_, index) => ({ topic: 'inbox', message: { n: index }, consumed: false })),
      { topic: null, message: 'no topic', consumed: false },
      { topic: 'inbox', message: 'keyed', consumed: false },
      { topic: 'relayed', message: 'from a workflow', consumed: false },
    ]);
    const toFinished = (await engine.listMessages('kill-finished')).map(({ topic, message, consumed }) => ({ topic, message, consumed }));
    expect(toFinished).toEqual(
      Array.from({ length: 10 }, (_, index) => ({ topic: index % 2 === 0 ? 'even' : null, message: `late ${index}`, consumed: false })),
    );

    expect((await engine.retrieveWorkflow('kill-waiter').getStatus())?.status).toBe('PENDING');
    expect((await engine.retrieveWorkflow('kill-finished').getStatus())?.status).toBe('SUCCESS');
    // The idempotency key survived too: a retry of that delivery stores nothing.
    await engine.send('kill-waiter', 'keyed, retried after the crash', 'inbox', 'delivery-1');
    expect(await engine.listMessages('kill-waiter')).toHaveLength(53);
    await engine.close();
  }, 60_000);
});

describe('a recv timeout across SIGKILL', () => {
  test.each(['recv', 'select'])('after a kill mid-wait, the recovered %s times out when the recorded deadline passes, not a full timeout later', async (kind) => {
    const database = tempDatabasePath();
    const first = spawnFixture('communication-recv-timeout', [database, 'start', kind]);
    const waiting = JSON.parse((await first.waitForLine(/^waiting /)).slice('waiting '.length)) as { startedAtMs: number; deadlineMs: number };
    expect(waiting.deadlineMs - waiting.startedAtMs).toBeGreaterThan(2_990);
    expect(waiting.deadlineMs - waiting.startedAtMs).toBeLessThanOrEqual(3_000);

    await delay(1_000);
    await first.kill();
    expect((await first.exited).signal).toBe('SIGKILL');
    await delay(1_000);

    const second = spawnFixture('communication-recv-timeout', [database, 'recover', kind]);
    const outcome = JSON.parse((await second.waitForLine(/^result /)).slice('result '.length)) as {
      result: unknown;
      openedMs: number;
      finishedMs: number;
      resumed: string[];
    };
    expect((await second.exited).code).toBe(0);

    expect(outcome.resumed).toEqual(['timed']);
    expect(outcome.result).toBeNull();
    // Never before the deadline recorded when the wait started...
    expect(outcome.finishedMs).toBeGreaterThanOrEqual(waiting.deadlineMs);
    // ...and promptly once it (or the reopening, if that came later) passed: about the remaining
    // second, where a restarted 3 s timeout would need 3 s from the reopening.
    expect(outcome.finishedMs - Math.max(waiting.deadlineMs, outcome.openedMs)).toBeLessThan(1_000);
    expect(outcome.finishedMs - outcome.openedMs).toBeLessThan(2_000);
  }, 60_000);
});

describe('recv is exactly once across SIGKILL', () => {
  test('a message consumed right before a kill is not lost or delivered again: the next step sees it after recovery', async () => {
    const database = tempDatabasePath();
    const log = path.join(path.dirname(database), 'received.log');

    const first = spawnFixture('communication-recv-once', [database, log, 'start']);
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(readLog(log)).toEqual([]);

    // What the crash left: m1 consumed and recorded as the recv's result in one commit, m2 queued.
    const between = await openTestEngine({ database, recover: false });
    expect((await between.listMessages('consumer', 'pay')).map(({ message, consumed }) => [message, consumed])).toEqual([
      ['m1', true],
      ['m2', false],
    ]);
    expect((await operationsOf(between, 'consumer')).map(({ operationIndex, kind, output, completedAt }) => [operationIndex, kind, output, completedAt !== null])).toEqual([
      [0, 'recv', 'm1', true],
    ]);
    await between.close();

    const second = spawnFixture('communication-recv-once', [database, log, 'recover']);
    const line = await second.waitForLine(/^result /);
    expect(JSON.parse(line.slice('result '.length))).toEqual(['m1', 'm2']);
    expect((await second.exited).code).toBe(0);
    expect(readLog(log)).toEqual(['m1', 'm2']);

    const after = await openTestEngine({ database, recover: false });
    expect((await after.listMessages('consumer')).map(({ message, consumed }) => [message, consumed])).toEqual([
      ['m1', true],
      ['m2', true],
    ]);
    await after.close();
  }, 60_000);
});
