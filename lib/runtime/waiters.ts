// The one owner of wake-ups. A commit that may satisfy someone calls notify(key) right after it
// commits; every wait re-tries its (synchronous) attempt when one of its keys is notified, and gives up
// through the timer wheel at its deadline. Attempts are synchronous, so "check, then subscribe" has
// no gap in which a notification could be lost.
import { EventEmitter } from 'eventemitter3';
import type { TimerHandle, TimerWheel } from './timer-wheel';

/** The wake-up key for messages to `workflowUUID` on `topic` (null = no topic). */
export function messageKey(workflowUUID: string, topic: string | null): string {
  return topic === null ? `message\u0000${workflowUUID}` : `message\u0000${workflowUUID}\u0000${topic}`;
}

/** The wake-up key for event `key` of `workflowUUID`. */
export function eventKey(workflowUUID: string, key: string): string {
  return `event\u0000${workflowUUID}\u0000${key}`;
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
  kind: 'recv' | 'getEvent' | 'sleep' | 'result';
  /** recv: the topic (null for none). */
  topic?: string | null;
  /** getEvent: the workflow and key awaited. result: the workflow awaited. */
  targetUUID?: string;
  key?: string;
  /** Absolute deadline in epoch ms, or null for none. */
  deadlineMs: number | null;
}

/** One attempt's outcome: done with a value, or keep waiting. */
export type Attempt<T> = { done: true; value: T } | { done: false };

export interface WaitOptions<T> {
  description: WaitDescription;
  /** Keys whose notification may satisfy the wait. */
  keys: readonly string[];
  /** Re-checks the condition; synchronous. A throw rejects the wait. */
  attempt: () => Attempt<T>;
  /** Called once at the deadline (a last attempt belongs inside it); its value resolves the wait. */
  onTimeout: () => T;
  /** Receives a function that ends the wait early with an error (e.g. when recording its start failed). */
  onStarted?: (fail: (error: Error) => void) => void;
}

interface LiveWait {
  readonly description: WaitDescription;
  fail(error: Error): void;
}

export class Waiters {
  readonly #emitter = new EventEmitter();
  readonly #wheel: TimerWheel;
  readonly #live = new Set<LiveWait>();
  // Per key, the callbacks to run; the emitter holds one dispatcher per key, so adding and removing a
  // waiter is O(1) even with thousands waiting on one key.
  readonly #subscribers = new Map<string, Set<() => void>>();
  readonly #listeners = new Set<(description: WaitDescription) => void>();
  #started = 0;
  #onBusyChange: ((busy: boolean) => void) | null = null;

  constructor(wheel: TimerWheel) {
    this.#wheel = wheel;
  }

  /** Number of waits under way. */
  get size(): number {
    return this.#live.size;
  }

  /** How many waits were ever started (a cheap progress counter for test tools). */
  get started(): number {
    return this.#started;
  }

  /** What every wait under way is waiting for. */
  describe(): WaitDescription[] {
    return [...this.#live].map((wait) => wait.description);
  }

  /** Calls `listener` each time a wait starts (used by test tools to await "blocked" states). */
  onWaitStarted(listener: (description: WaitDescription) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener(true)` when the first wait starts and `listener(false)` when the last one ends. */
  setBusyListener(listener: ((busy: boolean) => void) | null): void {
    this.#onBusyChange = listener;
  }

  /** Wakes every wait subscribed to a key that starts with `prefix` (e.g. every result wait). */
  notifyPrefix(prefix: string): void {
    for (const key of [...this.#subscribers.keys()]) if (key.startsWith(prefix)) this.notify(key);
  }

  /** Wakes every wait subscribed to `key`. Call right after the commit that may satisfy them. */
  notify(key: string): void {
    this.#emitter.emit(key);
  }

  /** Waits until `attempt` succeeds after a notification, or the deadline passes. */
  wait<T>(options: WaitOptions<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: TimerHandle | null = null;
      let settled = false;
      const unsubscribers: (() => void)[] = [];
      const finish = (): void => {
        settled = true;
        this.#live.delete(live);
        if (this.#live.size === 0) this.#onBusyChange?.(false);
        timer?.cancel();
        for (const unsubscribe of unsubscribers) unsubscribe();
      };
      const live: LiveWait = {
        description: options.description,
        fail: (error) => {
          finish();
          reject(error);
        },
      };
      const onNotify = (): void => {
        if (settled) return;
        let result: Attempt<T>;
        try {
          result = options.attempt();
        } catch (error) {
          live.fail(error as Error);
          return;
        }
        if (result.done) {
          finish();
          resolve(result.value);
        }
      };
      const onDeadline = (): void => {
        if (settled) return;
        finish();
        try {
          resolve(options.onTimeout());
        } catch (error) {
          reject(error);
        }
      };
      this.#live.add(live);
      this.#started++;
      if (this.#live.size === 1) this.#onBusyChange?.(true);
      options.onStarted?.((error) => {
        if (!settled) live.fail(error);
      });
      for (const key of options.keys) unsubscribers.push(this.#subscribe(key, onNotify));
      const deadlineMs = options.description.deadlineMs;
      if (deadlineMs !== null) timer = this.#wheel.arm(deadlineMs, onDeadline);
      for (const listener of this.#listeners) listener(options.description);
    });
  }

  /** Rejects every wait under way with `error` (used when the engine closes). */
  failAll(error: Error): void {
    for (const wait of [...this.#live]) wait.fail(error);
  }

  #subscribe(key: string, callback: () => void): () => void {
    let callbacks = this.#subscribers.get(key);
    if (callbacks === undefined) {
      const set = new Set<() => void>();
      callbacks = set;
      this.#subscribers.set(key, set);
      this.#emitter.on(key, () => {
        for (const waiting of [...set]) waiting();
      });
    }
    callbacks.add(callback);
    return () => {
      callbacks.delete(callback);
      if (callbacks.size === 0 && this.#subscribers.get(key) === callbacks) {
        this.#subscribers.delete(key);
        this.#emitter.removeAllListeners(key);
      }
    };
  }
}
