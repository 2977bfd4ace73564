// The waiters with asynchronous attempts, as a store on a database server makes them: one attempt at
// a time per wait, a notification that comes during one answered by another right after it, a
// deadline that comes during one met after it, a first check still under way taken as the wait's
// first attempt, and a rejected attempt failing the wait. The synchronous side is covered by every
// engine test on SQLite.
import { VirtualClock } from '../lib/testing';
import { TimerWheel } from '../lib/runtime/timer-wheel';
import { Waiters, type Attempt, type WaitDescription } from '../lib/runtime/waiters';

/** An attempt whose answer the test gives by hand, and the calls made to it. */
class ManualAttempts {
  calls: (string | undefined)[] = [];
  #pending: ((attempt: Attempt<string>) => void)[] = [];
  #failures: ((error: Error) => void)[] = [];

  readonly attempt = (payload?: string): Promise<Attempt<string>> => {
    this.calls.push(payload);
    return new Promise((resolve, reject) => {
      this.#pending.push(resolve);
      this.#failures.push(reject);
    });
  };

  get inFlight(): number {
    return this.#pending.length;
  }

  answer(attempt: Attempt<string>): void {
    this.#failures.shift();
    this.#pending.shift()!(attempt);
  }

  fail(error: Error): void {
    this.#pending.shift();
    this.#failures.shift()!(error);
  }
}

/** Lets every promise callback queued so far run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 5; round++) await Promise.resolve();
}

function setUp(): { clock: VirtualClock; waiters: Waiters; description: (deadlineMs: number | null) => WaitDescription } {
  const clock = new VirtualClock();
  const waiters = new Waiters(new TimerWheel(clock));
  return { clock, waiters, description: (deadlineMs) => ({ workflowUUID: null, kind: 'getEvent', targetUUID: 'w', key: 'k', deadlineMs }) };
}

const NOT_YET: Attempt<string> = { done: false };

describe('waits whose attempts are asynchronous', () => {
  test('a notification during an attempt runs one more attempt after it, never two at once', async () => {
    const { waiters, description } = setUp();
    const attempts = new ManualAttempts();
    let value: string | undefined;
    void waiters.wait({ description: description(null), keys: ['k'], attempt: attempts.attempt, onTimeout: () => 'timeout' }).then((found) => (value = found));
    waiters.notify('k', 'first');
    expect(attempts.calls).toEqual(['first']);
    // Two more notifications while the first attempt is under way: one attempt follows, with the latest payload.
    waiters.notify('k', 'second');
    waiters.notify('k', 'third');
    expect(attempts.inFlight).toBe(1);
    attempts.answer(NOT_YET);
    await settle();
    expect(attempts.calls).toEqual(['first', 'third']);
    expect(attempts.inFlight).toBe(1);
    attempts.answer({ done: true, value: 'found' });
    await settle();
    expect(value).toBe('found');
    expect(waiters.size).toBe(0);
  });

  test('a first check still under way is the first attempt: what it finds resolves the wait', async () => {
    const { waiters, description } = setUp();
    const attempts = new ManualAttempts();
    const first = attempts.attempt();
    const waiting = waiters.waitUnlessDone(first, { description: description(null), keys: ['k'], attempt: attempts.attempt, onTimeout: () => 'timeout' });
    // Subscribed before the check answered: a notification now is not lost, it waits its turn.
    expect(waiters.size).toBe(1);
    waiters.notify('k');
    expect(attempts.calls).toEqual([undefined]);
    attempts.answer({ done: true, value: 'there all along' });
    await expect(waiting).resolves.toBe('there all along');
    expect(attempts.calls).toEqual([undefined]);
  });

  test('a first check that found nothing, with a notification during it, attempts again at once', async () => {
    const { waiters, description } = setUp();
    const attempts = new ManualAttempts();
    const waiting = waiters.waitUnlessDone(attempts.attempt(), { description: description(null), keys: ['k'], attempt: attempts.attempt, onTimeout: () => 'timeout' });
    waiters.notify('k', 'meanwhile');
    attempts.answer(NOT_YET);
    await settle();
    expect(attempts.calls).toEqual([undefined, 'meanwhile']);
    attempts.answer({ done: true, value: 'the wake-up found it' });
    await expect(waiting).resolves.toBe('the wake-up found it');
  });

  test('a deadline during an attempt is met after it: the attempt may still find the value', async () => {
    const { clock, waiters, description } = setUp();
    const attempts = new ManualAttempts();
    let timeouts = 0;
    const options = { keys: ['k'], attempt: attempts.attempt, onTimeout: () => (++timeouts, 'timeout') };
    const found = waiters.wait({ ...options, description: description(clock.now() + 1000) });
    waiters.notify('k');
    await clock.advance(2);
    expect(timeouts).toBe(0);
    attempts.answer({ done: true, value: 'just in time' });
    await expect(found).resolves.toBe('just in time');
    expect(timeouts).toBe(0);

    const timedOut = waiters.wait({ ...options, description: description(clock.now() + 1000) });
    waiters.notify('k');
    await clock.advance(2);
    attempts.answer(NOT_YET);
    await expect(timedOut).resolves.toBe('timeout');
    expect(timeouts).toBe(1);
    expect(waiters.size).toBe(0);
  });

  test('an asynchronous timeout resolves the wait with what it found', async () => {
    const { clock, waiters, description } = setUp();
    const waiting = waiters.wait({
      description: description(clock.now() + 500),
      keys: ['k'],
      attempt: () => NOT_YET,
      onTimeout: () => Promise.resolve('read at the deadline'),
    });
    await clock.advance(1);
    await expect(waiting).resolves.toBe('read at the deadline');
  });

  test('a rejected attempt fails the wait, and it is unsubscribed', async () => {
    const { waiters, description } = setUp();
    const attempts = new ManualAttempts();
    const waiting = waiters.wait({ description: description(null), keys: ['k'], attempt: attempts.attempt, onTimeout: () => 'timeout' });
    waiters.notify('k');
    attempts.fail(new Error('the database went away'));
    await expect(waiting).rejects.toThrow('the database went away');
    expect(waiters.size).toBe(0);
    waiters.notify('k');
    expect(attempts.calls).toHaveLength(1);
  });

  test('a wait failed during an attempt ignores what that attempt finds', async () => {
    const { waiters, description } = setUp();
    const attempts = new ManualAttempts();
    let wait!: { fail(error: Error): void };
    const waiting = waiters.wait({ description: description(null), keys: ['k'], attempt: attempts.attempt, onTimeout: () => 'timeout', onStarted: (started) => (wait = started) });
    waiters.notify('k');
    wait.fail(new Error('the run ended'));
    attempts.answer({ done: true, value: 'too late' });
    await expect(waiting).rejects.toThrow('the run ended');
  });
});
