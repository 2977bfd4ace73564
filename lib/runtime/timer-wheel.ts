// Every deadline in the engine lives here: a hashed timing wheel whose slots are whole milliseconds,
// with a min-heap of occupied slots, driven by ONE clock alarm set for the earliest slot. Arming is
// O(1) when the slot exists (timers armed in the same millisecond with the same timeout share one),
// cancelling is O(1), and there is no alarm at all while nothing is pending.
import type { Alarm, Clock } from './clock';

/** A pending deadline; `cancel()` is idempotent and safe after it fired. */
export interface TimerHandle {
  cancel(): void;
}

/** What fires at a deadline: a function, or an object whose `fire()` is called (no closure needed). */
export type TimerTarget = (() => void) | { fire(): void };

interface Slot {
  readonly atMs: number;
  head: TimerEntry | null;
  tail: TimerEntry | null;
  live: number;
}

// One small object per timer, chained per slot: no closure and no array growth per timer, which is
// what a million pending deadlines cost in memory and garbage collection.
class TimerEntry implements TimerHandle {
  target: TimerTarget | null;
  readonly slot: Slot;
  readonly wheel: TimerWheel;
  next: TimerEntry | null = null;

  constructor(wheel: TimerWheel, slot: Slot, target: TimerTarget) {
    this.wheel = wheel;
    this.slot = slot;
    this.target = target;
  }

  cancel(): void {
    this.wheel.cancelEntry(this);
  }
}

/** A binary min-heap of slot times. Stale entries (slots emptied by cancels) are skipped lazily. */
class SlotHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): number | undefined {
    return this.#items[0];
  }

  clear(): void {
    this.#items.length = 0;
  }

  push(value: number): void {
    const items = this.#items;
    let index = items.push(value) - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent]! <= value) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = value;
  }

  pop(): number | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && items[right]! < items[left]! ? right : left;
        if (items[child]! >= last) break;
        items[index] = items[child]!;
        index = child;
      }
      items[index] = last;
    }
    return top;
  }
}

export class TimerWheel {
  readonly #clock: Clock;
  readonly #slots = new Map<number, Slot>();
  readonly #heap = new SlotHeap();
  #alarm: Alarm | null = null;
  #alarmAtMs = Infinity;
  #pending = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Number of armed, not yet fired or cancelled, timers. */
  get size(): number {
    return this.#pending;
  }

  /** The earliest pending deadline in epoch ms, or undefined when nothing is pending. */
  nextDeadlineMs(): number | undefined {
    this.#dropStaleSlots();
    return this.#heap.peek();
  }

  /** Fires `target` once when the clock reaches `deadlineMs` (epoch ms), unless cancelled first. */
  arm(deadlineMs: number, target: TimerTarget): TimerHandle {
    // NaN would break the heap's order and delay every other timer: refuse it where it comes in.
    if (Number.isNaN(deadlineMs)) throw new RangeError('Expected a deadline in epoch milliseconds, got NaN');
    const atMs = Math.ceil(deadlineMs);
    let slot = this.#slots.get(atMs);
    if (slot === undefined) {
      slot = { atMs, head: null, tail: null, live: 0 };
      this.#slots.set(atMs, slot);
      this.#heap.push(atMs);
    }
    const entry = new TimerEntry(this, slot, target);
    if (slot.tail === null) slot.head = entry;
    else slot.tail.next = entry;
    slot.tail = entry;
    slot.live++;
    this.#pending++;
    if (atMs < this.#alarmAtMs) this.#setAlarm(atMs);
    return entry;
  }

  /** Cancels every timer and the alarm; the wheel stays usable. */
  clear(): void {
    for (const slot of this.#slots.values()) {
      for (let entry = slot.head; entry !== null; entry = entry.next) entry.target = null;
    }
    this.#slots.clear();
    this.#heap.clear();
    this.#pending = 0;
    this.#cancelAlarm();
  }

  /** @internal Use the handle's `cancel()`. */
  cancelEntry(entry: TimerEntry): void {
    if (entry.target === null) return;
    entry.target = null;
    this.#pending--;
    const slot = entry.slot;
    if (--slot.live === 0 && this.#slots.get(slot.atMs) === slot) this.#slots.delete(slot.atMs);
    if (this.#pending === 0) {
      this.#heap.clear();
      this.#cancelAlarm();
    }
  }

  #dropStaleSlots(): void {
    const heap = this.#heap;
    while (heap.size > 0 && !this.#slots.has(heap.peek()!)) heap.pop();
  }

  #setAlarm(atMs: number): void {
    this.#alarm?.cancel();
    this.#alarmAtMs = atMs;
    this.#alarm = this.#clock.setAlarm(atMs, () => this.#fire());
  }

  #cancelAlarm(): void {
    this.#alarm?.cancel();
    this.#alarm = null;
    this.#alarmAtMs = Infinity;
  }

  #fire(): void {
    this.#alarm = null;
    this.#alarmAtMs = Infinity;
    const nowMs = this.#clock.now();
    const due: Slot[] = [];
    for (;;) {
      this.#dropStaleSlots();
      const atMs = this.#heap.peek();
      if (atMs === undefined || atMs > nowMs) break;
      this.#heap.pop();
      due.push(this.#slots.get(atMs)!);
      this.#slots.delete(atMs);
    }
    for (const slot of due) {
      for (let entry = slot.head; entry !== null; entry = entry.next) {
        const target = entry.target;
        if (target === null) continue;
        entry.target = null;
        this.#pending--;
        if (typeof target === 'function') target();
        else target.fire();
      }
    }
    this.#dropStaleSlots();
    const next = this.#heap.peek();
    if (next !== undefined && next < this.#alarmAtMs) this.#setAlarm(next);
  }
}
