// Virtual time for tests: now() only moves when the test (or auto-skip) moves it, and alarms fire
// in deadline order as it does, so hours of workflow time pass in milliseconds, deterministically.
import type { Alarm, Clock } from './clock';

interface PendingAlarm {
  readonly atMs: number;
  readonly sequence: number;
  readonly callback: () => void;
}

/** Flushes pending promise callbacks and I/O callbacks a few times over. */
async function yieldToEventLoop(turns = 3): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A {@link Clock} whose time moves only when told. Pass it as `Engine.open({ clock })`, or let
 * `TestEngine` create one.
 *
 * @example
 * const clock = new VirtualClock();
 * const engine = await Engine.open({ database: ':memory:', clock });
 * await clock.advance(30 * 60); // fires every deadline of the next 30 minutes, in order
 */
export class VirtualClock implements Clock {
  #nowMs: number;
  #sequence = 0;
  #alarms: PendingAlarm[] = [];
  readonly #alarmListeners = new Set<() => void>();

  /** @param startMs the initial time in epoch ms. @default 2026-01-01T00:00:00Z, for reproducible timestamps */
  constructor(startMs: number = Date.UTC(2026, 0, 1)) {
    if (typeof startMs !== 'number' || !Number.isInteger(startMs)) {
      throw new TypeError(`Expected \`startMs\` to be an integer (epoch ms), got \`${String(startMs)}\` (${typeof startMs})`);
    }
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setAlarm(atMs: number, callback: () => void): Alarm {
    const alarm: PendingAlarm = { atMs, sequence: this.#sequence++, callback };
    // Keep alarms sorted by (time, creation order); the wheel holds at most a few at once.
    let index = this.#alarms.length;
    while (index > 0 && this.#alarms[index - 1]!.atMs > atMs) index--;
    this.#alarms.splice(index, 0, alarm);
    for (const listener of this.#alarmListeners) listener();
    return {
      cancel: () => {
        const position = this.#alarms.indexOf(alarm);
        if (position !== -1) this.#alarms.splice(position, 1);
      },
    };
  }

  /** Time of the earliest pending alarm, or undefined. */
  nextAlarmMs(): number | undefined {
    return this.#alarms[0]?.atMs;
  }

  /** Number of pending alarms. */
  get pendingAlarms(): number {
    return this.#alarms.length;
  }

  /**
   * Fires the earliest alarm if it is due at or before `limitMs`, first moving time to it.
   * Returns false (time unchanged) when there is none.
   */
  fireNext(limitMs = Infinity): boolean {
    const alarm = this.#alarms[0];
    if (alarm === undefined || alarm.atMs > limitMs) return false;
    this.#alarms.shift();
    if (alarm.atMs > this.#nowMs) this.#nowMs = alarm.atMs;
    alarm.callback();
    return true;
  }

  /** Sets the time without firing alarms; only forward. */
  setTime(nowMs: number): void {
    if (nowMs > this.#nowMs) this.#nowMs = Math.round(nowMs);
  }

  /**
   * Moves time forward by `seconds`, firing every alarm on the way in deadline order and letting
   * woken code run (`settle`, by default a few event-loop turns) before the next one fires.
   */
  async advance(seconds: number, settle: () => Promise<void> = () => yieldToEventLoop()): Promise<void> {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
      throw new RangeError(`Expected \`seconds\` to be a finite number >= 0, got \`${String(seconds)}\` (${typeof seconds})`);
    }
    // Whole milliseconds, like Date.now(): every stored timestamp is an integer.
    const targetMs = this.#nowMs + Math.round(seconds * 1000);
    await settle();
    while (this.fireNext(targetMs)) await settle();
    this.setTime(targetMs);
    await settle();
  }

  /** Calls `listener` whenever an alarm is set (auto-skip uses it to wake up). */
  onAlarmSet(listener: () => void): () => void {
    this.#alarmListeners.add(listener);
    return () => this.#alarmListeners.delete(listener);
  }
}

export { yieldToEventLoop };
