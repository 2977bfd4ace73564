// The one owner of wake-ups. A commit that may satisfy someone calls notify(key) right after it
// commits; every wait re-tries its attempt when one of its keys is notified, and gives up through the
// timer wheel at its deadline. On a synchronous store the attempts are synchronous, so "check, then
// subscribe" has no gap in which a notification could be lost. On an asynchronous store the wait
// subscribes first and takes its first check as an attempt already under way (`initial`); a wait
// runs one attempt at a time, and a notification that comes during one runs another after it, so
// none is lost either. Such a wait is told (the observer's `started`, describe()) only once its first
// check came back empty, so that a wait satisfied at once is not one on either kind of store.
//
// Wake-ups go straight from notify() to the waits of that key, found in a Map: the fastest dispatch,
// O(1) per wait even with ten thousand on one key. Observability is the engine's typed emitter
// (engine.events), told of each wait's start and end through the WaitObserver; it is not on the
// wake-up path.
import { isPromise, type Awaitable } from '../awaitable';
import type { SelectBranch } from '../types';
import type { TimerHandle, TimerWheel } from './timer-wheel';

/** The wake-up key for messages to `workflowUUID` on `topic` (null = no topic). */
export function messageKey(workflowUUID: string, topic: string | null): string {
  return topic === null ? `message\u0000${workflowUUID}` : `message\u0000${workflowUUID}\u0000${topic}`;
}

/** The wake-up key for event `key` of `workflowUUID`. */
export function eventKey(workflowUUID: string, key: string): string {
  return `event\u0000${workflowUUID}\u0000${key}`;
}

/** The wake-up key for stream `key` of `workflowUUID` (a value written, or the stream closed). */
export function streamKey(workflowUUID: string, key: string): string {
  return `stream\u0000${workflowUUID}\u0000${key}`;
}

/** The prefix shared by every {@link workflowKey}. */
export const WORKFLOW_KEY_PREFIX = 'workflow\u0000';

/** The wake-up key for `workflowUUID` reaching a final status. */
export function workflowKey(workflowUUID: string): string {
  return `${WORKFLOW_KEY_PREFIX}${workflowUUID}`;
}

/** What a wait is for, as shown to tests and tools. */
export interface WaitDescription {
  /** The workflow that waits, or null for a wait outside workflows (a handler's getEvent). */
  workflowUUID: string | null;
  kind: 'recv' | 'getEvent' | 'sleep' | 'result' | 'select' | 'readStream' | 'step';
  /** recv: the topic (null for none). */
  topic?: string | null;
  /** select: its branches, in order. */
  branches?: readonly SelectBranch[];
  /** getEvent, readStream: the workflow and key awaited. result: the workflow awaited. */
  targetUUID?: string;
  key?: string;
  /** readStream: the position of the value awaited. */
  offset?: number;
  /** step: the step pausing between attempts, and the attempt it waits to start. */
  stepName?: string;
  attempt?: number;
  /** Absolute deadline in epoch ms, or null for none. */
  deadlineMs: number | null;
}

/** One attempt's outcome: done with a value, or keep waiting. */
export type Attempt<T> = { done: true; value: T } | { done: false };

/** A wait under way, as handed to `onStarted`: it can be ended early with an error. */
export interface StartedWait {
  fail(error: Error): void;
}

export interface WaitOptions<T> {
  description: WaitDescription;
  /** Keys whose notification may satisfy the wait. */
  keys: readonly string[];
  /**
   * Re-checks the condition. `payload` is what the notifier passed along (e.g. the event's stored
   * value), so many waiters on one key need not each read it again. A throw (or a rejection)
   * rejects the wait.
   */
  attempt: (payload?: string) => Awaitable<Attempt<T>>;
  /**
   * The first check, already under way when the wait starts (on an asynchronous store, subscribing
   * before checking): it counts as the wait's attempt in flight.
   */
  initial?: Promise<Attempt<T>>;
  /** Called once at the deadline (a last attempt belongs inside it); its value resolves the wait. */
  onTimeout: () => Awaitable<T>;
  /** Receives the wait once it is subscribed, to end it early (e.g. when recording its start failed). */
  onStarted?: (wait: StartedWait) => void;
}

/** Told of each wait as it starts and ends (the engine forwards these to its typed events). */
export interface WaitObserver {
  started(description: WaitDescription): void;
  ended(description: WaitDescription, outcome: 'satisfied' | 'timeout' | 'failed'): void;
}

// One object per wait: it is the timer wheel's target and the subscriber of its keys, so a pending
// wait costs this object, its promise and the caller's options, and no closures of its own.
class Wait<T> implements StartedWait {
  readonly #waiters: Waiters;
  readonly options: WaitOptions<T>;
  readonly #resolve: (value: T) => void;
  readonly #reject: (error: unknown) => void;
  timer: TimerHandle | null = null;
  settled = false;
  /** Whether it was told as waiting: at once on a synchronous check, after an empty first check otherwise. */
  reported = false;
  // An asynchronous attempt under way; what came meanwhile: a notification (and its payload), the deadline.
  #inFlight = false;
  #notifiedMeanwhile = false;
  #payloadMeanwhile: string | undefined;
  #deadlineMeanwhile = false;

  constructor(waiters: Waiters, options: WaitOptions<T>, resolve: (value: T) => void, reject: (error: unknown) => void) {
    this.#waiters = waiters;
    this.options = options;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** A notification of one of its keys. */
  wake(payload: string | undefined): void {
    if (this.settled) return;
    if (this.#inFlight) {
      this.#notifiedMeanwhile = true;
      if (payload !== undefined) this.#payloadMeanwhile = payload;
      return;
    }
    let result: Awaitable<Attempt<T>>;
    try {
      result = this.options.attempt(payload);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (isPromise(result)) this.follow(result);
    else if (result.done) this.#succeed(result.value);
  }

  /** Takes `attempt`, under way, as this wait's attempt in flight. */
  follow(attempt: Promise<Attempt<T>>): void {
    this.#inFlight = true;
    attempt.then(
      (result) => {
        this.#inFlight = false;
        if (this.settled) return;
        if (result.done) {
          this.#succeed(result.value);
          return;
        }
        this.#waiters.report(this);
        if (this.#deadlineMeanwhile) this.fire();
        else if (this.#notifiedMeanwhile) {
          const payload = this.#payloadMeanwhile;
          this.#notifiedMeanwhile = false;
          this.#payloadMeanwhile = undefined;
          this.wake(payload);
        }
      },
      (error: unknown) => {
        this.#inFlight = false;
        this.fail(error as Error);
      },
    );
  }

  #succeed(value: T): void {
    this.#waiters.finish(this, 'satisfied');
    this.#resolve(value);
  }

  /** The deadline (called by the timer wheel). */
  fire(): void {
    if (this.settled) return;
    this.timer = null;
    // The attempt under way may still find what was awaited: the deadline is met after it.
    if (this.#inFlight) {
      this.#deadlineMeanwhile = true;
      return;
    }
    this.#waiters.finish(this, 'timeout');
    try {
      const value = this.options.onTimeout();
      if (isPromise(value)) value.then(this.#resolve, this.#reject);
      else this.#resolve(value);
    } catch (error) {
      this.#reject(error);
    }
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.#waiters.finish(this, 'failed');
    this.#reject(error);
  }
}

export class Waiters {
  readonly #wheel: TimerWheel;
  #observer: WaitObserver | null;
  readonly #live = new Set<Wait<any>>();
  // Per key, the waits subscribed to it: one Wait directly (the common case), or a Set of them.
  readonly #byKey = new Map<string, Wait<any> | Set<Wait<any>>>();
  #onBusyChange: ((busy: boolean) => void) | null = null;

  constructor(wheel: TimerWheel, observer: WaitObserver | null = null) {
    this.#wheel = wheel;
    this.#observer = observer;
  }

  /** Tells `observer` of each wait's start and end from now on (null: nobody, at no cost). */
  setObserver(observer: WaitObserver | null): void {
    this.#observer = observer;
  }

  /** Number of waits under way. */
  get size(): number {
    return this.#live.size;
  }

  /** What every wait under way is waiting for. */
  describe(): WaitDescription[] {
    return [...this.#live].filter((wait) => wait.reported).map((wait) => wait.options.description);
  }

  /** Calls `listener(true)` when the first wait starts and `listener(false)` when the last one ends. */
  setBusyListener(listener: ((busy: boolean) => void) | null): void {
    this.#onBusyChange = listener;
  }

  /** Wakes every wait under way (after notifications may have been lost: each re-checks). */
  notifyAll(): void {
    for (const key of [...this.#byKey.keys()]) this.notify(key);
  }

  /** Wakes every wait subscribed to a key that starts with `prefix` (e.g. every result wait). */
  notifyPrefix(prefix: string): void {
    for (const key of [...this.#byKey.keys()]) if (key.startsWith(prefix)) this.notify(key);
  }

  /**
   * Wakes every wait subscribed to `key`, handing them `payload` if given. Call right after the
   * commit that may satisfy them.
   */
  notify(key: string, payload?: string): void {
    const subscribed = this.#byKey.get(key);
    if (subscribed === undefined) return;
    if (subscribed instanceof Wait) subscribed.wake(payload);
    else for (const wait of [...subscribed]) wait.wake(payload);
  }

  /** Waits until `attempt` succeeds after a notification, or the deadline passes. */
  wait<T>(options: WaitOptions<T>): Promise<T> {
    let wait!: Wait<T>;
    const promise = new Promise<T>((resolve, reject) => {
      wait = new Wait(this, options, resolve, reject);
    });
    this.#live.add(wait);
    if (this.#live.size === 1) this.#onBusyChange?.(true);
    for (const key of options.keys) this.#subscribe(key, wait);
    const deadlineMs = options.description.deadlineMs;
    if (deadlineMs !== null) wait.timer = this.#wheel.arm(deadlineMs, wait);
    options.onStarted?.(wait);
    if (options.initial === undefined) this.report(wait);
    else wait.follow(options.initial);
    return promise;
  }

  /** @internal Tells that `wait` waits (once): its first check found nothing. */
  report(wait: Wait<any>): void {
    if (wait.reported || wait.settled) return;
    wait.reported = true;
    this.#observer?.started(wait.options.description);
  }

  /**
   * Waits unless `first` (the caller's first check) found what is awaited. A synchronous check that
   * did not find it subscribes in the same turn; a check still under way becomes the wait's first
   * attempt (`initial`).
   */
  waitUnlessDone<T>(first: Awaitable<Attempt<T>>, options: WaitOptions<T>): Promise<T> {
    if (isPromise(first)) return this.wait({ ...options, initial: first });
    return first.done ? Promise.resolve(first.value) : this.wait(options);
  }

  /** Rejects every wait under way with `error` (used when the engine closes). */
  failAll(error: Error): void {
    for (const wait of [...this.#live]) wait.fail(error);
  }

  /** @internal Called by a wait as it settles: unsubscribes it and cancels its deadline. */
  finish(wait: Wait<any>, outcome: 'satisfied' | 'timeout' | 'failed'): void {
    wait.settled = true;
    this.#live.delete(wait);
    wait.timer?.cancel();
    wait.timer = null;
    for (const key of wait.options.keys) this.#unsubscribe(key, wait);
    if (this.#live.size === 0) this.#onBusyChange?.(false);
    if (wait.reported) this.#observer?.ended(wait.options.description, outcome);
  }

  #subscribe(key: string, wait: Wait<any>): void {
    const subscribed = this.#byKey.get(key);
    if (subscribed === undefined) this.#byKey.set(key, wait);
    else if (subscribed instanceof Wait) this.#byKey.set(key, new Set([subscribed, wait]));
    else subscribed.add(wait);
  }

  #unsubscribe(key: string, wait: Wait<any>): void {
    const subscribed = this.#byKey.get(key);
    if (subscribed === wait) this.#byKey.delete(key);
    else if (subscribed instanceof Set) {
      subscribed.delete(wait);
      if (subscribed.size === 0) this.#byKey.delete(key);
    }
  }
}
