// The one owner of time. Nothing else in durablite reads the wall clock or sets a timer, so a test
// can swap in a VirtualClock and every deadline, sleep and timestamp follows it.

/** A scheduled callback that can be cancelled. */
export interface Alarm {
  cancel(): void;
}

/**
 * A source of time. The engine asks it for "now" and for at most one alarm at a time (the timer
 * wheel's next slot); implement it to drive an engine from your own notion of time.
 */
export interface Clock {
  /** Current time in epoch milliseconds. */
  now(): number;
  /**
   * Calls `callback` once, at or after `atMs`. While an alarm is pending it keeps a Node process
   * alive, as `setTimeout` would.
   */
  setAlarm(atMs: number, callback: () => void): Alarm;
}

/** setTimeout's longest delay; longer alarms are re-armed in steps. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Wall-clock time from `Date.now()` and `setTimeout`. The default. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setAlarm(atMs: number, callback: () => void): Alarm {
    let timer: NodeJS.Timeout;
    const schedule = (): void => {
      const delayMs = atMs - Date.now();
      if (delayMs > MAX_TIMEOUT_MS) timer = setTimeout(schedule, MAX_TIMEOUT_MS);
      else timer = setTimeout(callback, Math.max(0, delayMs));
    };
    schedule();
    return { cancel: () => clearTimeout(timer) };
  }
}

/**
 * Resolves after `ms` of real time, whatever clock the engine follows. Only for waiting on other
 * connections (a write lock another process holds) or on code outside durablite, never for workflow
 * time. With `keepAlive` false the pause alone does not keep the process running.
 */
export function pauseRealTime(ms: number, keepAlive = true): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (!keepAlive) timer.unref();
  });
}
