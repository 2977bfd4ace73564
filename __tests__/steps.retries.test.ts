// Step retries under the virtual clock: attempts at the times the backoff says, each failed attempt
// recorded (and listed) before the pause, the count carried across a crash (simulated, and a real
// SIGKILL between attempts), StepRetriesExceededError after the last attempt, and the options checked
// at registration.
import path from 'node:path';
import { registerStep, registerWorkflow, Step, StepRetriesExceededError, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit, readLog, spawnFixture, tempFolder, testDatabase } from './helpers';

/** Every real attempt: which step, which attempt, at what virtual time. */
const attempts: { key: string; attempt: number; atMs: number }[] = [];
let clockOf: () => number = () => 0;

function failUntil(key: string, succeedAt: number) {
  return (ctxt: StepContext): string => {
    attempts.push({ key, attempt: ctxt.attempt, atMs: clockOf() });
    if (ctxt.attempt < succeedAt) throw new TypeError(`${key} failed attempt ${ctxt.attempt}`);
    return `${key} ok at attempt ${ctxt.attempt}`;
  };
}

const flaky = registerStep('retries.flaky', failUntil('flaky', 4), {
  retries: { maxAttempts: 5, intervalSeconds: 10, backoffRate: 2, maxIntervalSeconds: 30 },
});
const hopeless = registerStep('retries.hopeless', failUntil('hopeless', Infinity), { retries: { maxAttempts: 3, intervalSeconds: 1 } });
const plain = registerStep('retries.plain', failUntil('plain', 1));
const picky = registerStep('retries.picky', failUntil('picky', Infinity), {
  retries: { maxAttempts: 5, intervalSeconds: 1, retryIf: (error) => !(error instanceof TypeError) },
});

const runFlaky = registerWorkflow('retries.runFlaky', async (ctxt: WorkflowContext) => ctxt.runStep(flaky));
const runPlain = registerWorkflow('retries.runPlain', async (ctxt: WorkflowContext) => ctxt.runStep(plain));

/** The step's failure as the workflow sees it, as plain data (the same before and after a crash). */
async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    return { result: await promise };
  } catch (error) {
    const failure = error as StepRetriesExceededError;
    return {
      name: failure.name,
      code: failure.code,
      attempts: failure.attempts,
      stepName: failure.stepName,
      isRetriesExceeded: failure instanceof StepRetriesExceededError,
      cause: failure.cause instanceof Error ? `${failure.cause.name}: ${failure.cause.message}` : failure.cause,
      message: failure.message,
    };
  }
}

const runHopeless = registerWorkflow('retries.runHopeless', async (ctxt: WorkflowContext) => {
  const failure = await failureOf(ctxt.runStep(hopeless));
  await ctxt.recv('go', 600);
  return failure;
});
const runPicky = registerWorkflow('retries.runPicky', async (ctxt: WorkflowContext) => failureOf(ctxt.runStep(picky)));

class Decorated {
  @Step({ retries: { maxAttempts: 2, intervalSeconds: 5 } }) static async twice(ctxt: StepContext): Promise<number> {
    attempts.push({ key: 'decorated', attempt: ctxt.attempt, atMs: clockOf() });
    if (ctxt.attempt === 1) throw new Error('first try fails');
    return ctxt.attempt;
  }

  @Step() static async once(ctxt: StepContext): Promise<number> {
    return ctxt.attempt;
  }
}

const runDecorated = registerWorkflow('retries.runDecorated', async (ctxt: WorkflowContext) => [
  await ctxt.invoke(Decorated).twice(),
  await ctxt.invoke(Decorated).once(),
]);

describe('step retries', () => {
  let t: TestEngine;
  beforeEach(async () => {
    attempts.length = 0;
    t = await openTestKit();
    clockOf = () => t.clock.now();
  });
  afterEach(async () => {
    await t.close();
  });

  test('attempts run at the virtual times of the backoff (10 s, 20 s, then capped at 30 s), each failure listed before the pause', async () => {
    const startMs = t.clock.now();
    const handle = await t.engine.startWorkflow(runFlaky, { workflowUUID: 'flaky-1' });
    const first = await t.waitUntilBlocked('flaky-1', { kind: 'step' });
    expect(first).toMatchObject({ kind: 'step', stepName: 'retries.flaky', attempt: 2, deadlineMs: startMs + 10_000 });

    const [backingOff] = await t.engine.listOperations('flaky-1');
    expect(backingOff).toMatchObject({ kind: 'step', completedAt: null, deadlineMs: startMs + 10_000, attempts: 1, waitingFor: null });
    expect(backingOff!.failedAttempts!.map((failed) => [failed.attempt, failed.failedAt, `${failed.error.name}: ${failed.error.message}`])).toEqual([
      [1, startMs, 'TypeError: flaky failed attempt 1'],
    ]);
    expect((await t.engine.listWaits({ workflowUUID: 'flaky-1' })).map((wait) => [wait.kind, wait.deadlineMs])).toEqual([['step', startMs + 10_000]]);

    await t.advance(9.999);
    expect(attempts).toHaveLength(1);
    await t.advance(0.001);
    expect(attempts).toHaveLength(2);
    expect((await t.waitUntilBlocked('flaky-1', { kind: 'step' })).deadlineMs).toBe(startMs + 30_000);
    await t.advance(20);
    // The third pause would be 40 s; maxIntervalSeconds caps it at 30 s.
    expect((await t.waitUntilBlocked('flaky-1', { kind: 'step' })).deadlineMs).toBe(startMs + 60_000);
    await t.advance(30);
    expect(await handle.getResult()).toBe('flaky ok at attempt 4');

    expect(attempts.map(({ attempt, atMs }) => [attempt, atMs - startMs])).toEqual([[1, 0], [2, 10_000], [3, 30_000], [4, 60_000]]);
    const [done] = await t.engine.listOperations('flaky-1');
    expect(done).toMatchObject({ output: 'flaky ok at attempt 4', error: null, attempts: 4 });
    expect(done!.completedAt).not.toBeNull();
    expect(done!.failedAttempts!.map((failed) => [failed.attempt, failed.failedAt - startMs, failed.error.message])).toEqual([
      [1, 0, 'flaky failed attempt 1'],
      [2, 10_000, 'flaky failed attempt 2'],
      [3, 30_000, 'flaky failed attempt 3'],
    ]);
  });

  test('after the last attempt the step fails with StepRetriesExceededError, the last error its cause, and a replay rethrows the same', async () => {
    await t.engine.startWorkflow(runHopeless, { workflowUUID: 'hopeless-1' });
    await t.advance(1);
    await t.advance(2);
    await t.waitUntilBlocked('hopeless-1', { kind: 'recv' });
    // A crash after the step recorded its failure: the recovered run replays the step from its record.
    await t.crash();
    await t.runUntilIdle();
    await t.engine.send('hopeless-1', 'go', 'go');
    const failure = await t.engine.retrieveWorkflow('hopeless-1').getResult();
    expect(failure).toEqual({
      name: 'StepRetriesExceededError',
      code: 'STEP_RETRIES_EXCEEDED',
      attempts: 3,
      stepName: 'retries.hopeless',
      isRetriesExceeded: true,
      cause: 'TypeError: hopeless failed attempt 3',
      message: expect.stringContaining('Step "retries.hopeless" (operation #0 of workflow "hopeless-1") failed 3 times'),
    });
    expect(attempts.map(({ attempt }) => attempt)).toEqual([1, 2, 3]);
    const [operation] = await t.engine.listOperations('hopeless-1');
    expect(operation!.error).toBeInstanceOf(StepRetriesExceededError);
    expect((operation!.error as StepRetriesExceededError).attempts).toBe(3);
    expect(operation!.attempts).toBe(3);
    expect(operation!.failedAttempts!.map((failed) => failed.error.message)).toEqual(['hopeless failed attempt 1', 'hopeless failed attempt 2']);
  });

  test('a crash while a step backs off resumes at its next attempt, at the recorded time: the count survives', async () => {
    const startMs = t.clock.now();
    await t.engine.startWorkflow(runFlaky, { workflowUUID: 'flaky-crash' });
    await t.waitUntilBlocked('flaky-crash', { kind: 'step' });
    await t.advance(10);
    expect((await t.waitUntilBlocked('flaky-crash', { kind: 'step' })).attempt).toBe(3);

    await t.crash();
    await t.runUntilIdle();
    const resumed = await t.waitUntilBlocked('flaky-crash', { kind: 'step' });
    expect(resumed).toMatchObject({ attempt: 3, deadlineMs: startMs + 30_000 });
    await t.advance(50);
    expect(await t.engine.retrieveWorkflow('flaky-crash').getResult()).toBe('flaky ok at attempt 4');
    expect(attempts.map(({ attempt, atMs }) => [attempt, atMs - startMs])).toEqual([[1, 0], [2, 10_000], [3, 30_000], [4, 60_000]]);
  });

  test('a pause that ended while the process was down: recovery runs the next attempt at once, not attempt 1', async () => {
    await t.engine.startWorkflow(runFlaky, { workflowUUID: 'flaky-late' });
    await t.waitUntilBlocked('flaky-late', { kind: 'step' });
    // The process is down while the pause ends: recovery finds the deadline passed and runs attempt 2 at once.
    await t.crash();
    t.clock.setTime(t.clock.now() + 15_000);
    await t.advance(0);
    expect(attempts.map(({ attempt }) => attempt)).toEqual([1, 2]);
    expect((await t.waitUntilBlocked('flaky-late', { kind: 'step' })).attempt).toBe(3);
  });

  test('retryIf: an error it refuses fails the step at once, as it is', async () => {
    t.autoSkip = true;
    const failure = await (await t.engine.startWorkflow(runPicky, { workflowUUID: 'picky-1' })).getResult();
    expect(failure).toMatchObject({ name: 'TypeError', isRetriesExceeded: false, message: 'picky failed attempt 1' });
    expect(attempts).toHaveLength(1);
    const [operation] = await t.engine.listOperations('picky-1');
    expect(operation).toMatchObject({ attempts: 1, failedAttempts: [] });
  });

  test('ctxt.attempt is 1 for a step without retries; @Step({ retries }) retries as registerStep does', async () => {
    t.autoSkip = true;
    expect(await (await t.engine.startWorkflow(runPlain, { workflowUUID: 'plain-1' })).getResult()).toBe('plain ok at attempt 1');
    expect((await t.engine.listOperations('plain-1'))[0]).toMatchObject({ attempts: 1, failedAttempts: [] });
    const startMs = t.clock.now();
    expect(await (await t.engine.startWorkflow(runDecorated, { workflowUUID: 'decorated-1' })).getResult()).toEqual([2, 1]);
    expect(attempts.filter(({ key }) => key === 'decorated').map(({ attempt, atMs }) => [attempt, atMs - startMs])).toEqual([[1, 0], [2, 5000]]);
  });

  test('retry options are checked at registration, in the house phrasing', () => {
    const step = (): number => 1;
    expect(() => registerStep('retries.bad1', step, { retries: { maxAttempts: 0 } })).toThrow(
      new RangeError('Expected `retries.maxAttempts` to be an integer >= 1, got `0` (number)'),
    );
    expect(() => registerStep('retries.bad2', step, { retries: { maxAttempts: 1.5 } })).toThrow(RangeError);
    expect(() => registerStep('retries.bad3', step, { retries: { maxAttempts: 1001 } })).toThrow(
      new RangeError('Expected `retries.maxAttempts` to be an integer from 1 to 1000, got `1001` (number)'),
    );
    expect(() => registerStep('retries.bad4', step, { retries: { intervalSeconds: -1 } })).toThrow(
      new RangeError('Expected `retries.intervalSeconds` to be a finite number >= 0, got `-1` (number)'),
    );
    expect(() => registerStep('retries.bad5', step, { retries: { backoffRate: 0.5 } })).toThrow(
      new RangeError('Expected `retries.backoffRate` to be a finite number >= 1, got `0.5` (number)'),
    );
    expect(() => registerStep('retries.bad6', step, { retries: { intervalSeconds: 10, maxIntervalSeconds: 5 } })).toThrow(
      new RangeError('Expected `retries.maxIntervalSeconds` to be a finite number >= 10, got `5` (number)'),
    );
    expect(() => registerStep('retries.bad7', step, { retries: { maxAttempts: '3' as unknown as number } })).toThrow(
      new TypeError('Expected `retries.maxAttempts` to be an integer >= 1, got `"3"` (string)'),
    );
    expect(() => registerStep('retries.bad8', step, { retries: null as never })).toThrow(TypeError);
    expect(() => registerStep('retries.bad9', step, { retries: { retryIf: true as never } })).toThrow(TypeError);
    expect(() => Step({ retries: { backoffRate: Number.NaN } })).toThrow(RangeError);
    // None of them was registered: the names are still free.
    expect(registerStep('retries.bad1', step, { retries: { maxAttempts: 2 } }).retries).toMatchObject({ maxAttempts: 2, intervalMs: 1000, backoffRate: 2, maxIntervalMs: 3_600_000 });
  });
});

// A real crash: the failed attempt was recorded before the pause, so the new process carries on at
// the next attempt, at the recorded time, and the step's count is not reset.
/** Fails every attempt; with a zero interval and a rate so large that 0 × rate^n is NaN. */
const zeroInterval = registerStep('retries.zeroInterval', failUntil('zero', 4), { retries: { maxAttempts: 5, intervalSeconds: 0, backoffRate: 1e300 } });
/** Fails with an error whose own field holds a function (as HTTP clients' errors do). */
const unstorable = registerStep('retries.unstorable', () => {
  const error = new Error('Request failed with status code 503');
  Object.assign(error, { config: { transform: () => 1 } });
  throw error;
}, { retries: { maxAttempts: 2, intervalSeconds: 1 } });
/** Refuses every error at once, even on the last attempt. */
class ValidationError extends Error {}
const refusedLast = registerStep('retries.refusedLast', (ctxt: StepContext) => {
  throw ctxt.attempt < 2 ? new RangeError('transient') : new ValidationError('bad input');
}, { retries: { maxAttempts: 2, intervalSeconds: 1, retryIf: (error) => !(error instanceof ValidationError) } });
const asyncRetryIf = registerStep('retries.asyncRetryIf', failUntil('async', Infinity), {
  retries: { maxAttempts: 3, intervalSeconds: 1, retryIf: (async () => Promise.reject(new Error('cannot classify'))) as unknown as () => boolean },
});
const hugeError = registerStep('retries.hugeError', (ctxt: StepContext) => {
  throw new Error(`${'x'.repeat(1_000_000)} attempt ${ctxt.attempt}`);
}, { retries: { maxAttempts: 3, intervalSeconds: 1 } });
const runAny = registerWorkflow('retries.runAny', async (ctxt: WorkflowContext, name: string) => {
  const steps = { zeroInterval, unstorable, refusedLast, asyncRetryIf, hugeError } as Record<string, typeof plain>;
  return failureOf(ctxt.runStep(steps[name]!));
});

describe('step retries, attacked', () => {
  let t: TestEngine;
  beforeEach(async () => {
    attempts.length = 0;
    t = await openTestKit({ autoSkip: true });
    clockOf = () => t.clock.now();
  });
  afterEach(async () => {
    await t.close();
  });

  test('a zero interval with a huge backoff rate pauses 0 s, never NaN', async () => {
    expect(await (await t.engine.startWorkflow(runAny, { workflowUUID: 'zero' }, 'zeroInterval')).getResult()).toEqual({ result: 'zero ok at attempt 4' });
    expect(new Set(attempts.map((attempt) => attempt.atMs)).size).toBe(1);
  });

  test('the cause of StepRetriesExceededError is the error as recorded, the same in the first run and after a crash', async () => {
    const first = await (await t.engine.startWorkflow(runAny, { workflowUUID: 'unstorable' }, 'unstorable')).getResult();
    expect(first).toMatchObject({ isRetriesExceeded: true, attempts: 2, cause: 'Error: Request failed with status code 503' });
    await t.crash();
    const replayed = await t.engine.retrieveWorkflow('unstorable').getResult();
    expect(replayed).toEqual(first);
  });

  test('retryIf is asked on the last attempt too: an error it refuses is never wrapped', async () => {
    const failure = await (await t.engine.startWorkflow(runAny, { workflowUUID: 'refused-last' }, 'refusedLast')).getResult();
    expect(failure).toMatchObject({ isRetriesExceeded: false, message: 'bad input' });
  });

  test('a retryIf answering with a promise refuses the retry, and its rejection is absorbed', async () => {
    const failure = await (await t.engine.startWorkflow(runAny, { workflowUUID: 'async-retry-if' }, 'asyncRetryIf')).getResult();
    expect(failure).toMatchObject({ isRetriesExceeded: false, message: 'async failed attempt 1' });
    expect(attempts).toHaveLength(1);
  });

  test('an error of a million characters is cut in the recorded history, which stays bounded', async () => {
    const failure = await (await t.engine.startWorkflow(runAny, { workflowUUID: 'huge' }, 'hugeError')).getResult();
    expect(failure).toMatchObject({ isRetriesExceeded: true, attempts: 3 });
    const [operation] = await t.engine.listOperations('huge');
    expect(operation!.failedAttempts).toHaveLength(2);
    for (const failed of operation!.failedAttempts!) expect(failed.error.message.length).toBeLessThan(5_000);
  });
});

describe('step retries across a real crash', () => {
  test('a process killed between attempts resumes at the next attempt after restart, not at attempt 1', async () => {
    const database = await testDatabase();
    const log = path.join(tempFolder(), 'attempts.log');

    const first = spawnFixture('retries-crash', [database, log, 'start']);
    const waiting = await first.waitForLine(/^waiting /);
    const [, attempt, deadlineMs] = waiting.split(' ');
    expect(attempt).toBe('2');
    await first.kill();
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(readLog(log).map((line) => line.split(' ')[0])).toEqual(['1']);

    const second = spawnFixture('retries-crash', [database, log, 'recover']);
    const result = await second.waitForLine(/^result /);
    expect(JSON.parse(result.slice('result '.length))).toBe('done at attempt 3');
    const operations = await second.waitForLine(/^operations /);
    expect(JSON.parse(operations.slice('operations '.length))).toEqual([[3, ['attempt 1 failed', 'attempt 2 failed']]]);
    expect((await second.exited).code).toBe(0);

    const attempts = readLog(log).map((line) => line.split(' ').map(Number) as [number, number]);
    expect(attempts.map(([number]) => number)).toEqual([1, 2, 3]);
    // Attempt 2 did not start before the time recorded for it in the killed process.
    expect(attempts[1]![1]).toBeGreaterThanOrEqual(Number(deadlineMs));
  }, 60_000);
});
