import { SystemClock, type Clock } from '../lib';
import { VirtualClock } from '../lib/testing';
import { TimerWheel } from '../lib/runtime/timer-wheel';
import { delay } from './helpers';

// The same behaviours under both clocks: the system clock in real (short) time, the virtual one
// moved by hand.
const clocks: [string, () => { clock: Clock; pass: (ms: number) => Promise<void>; alarms: () => number | undefined }][] = [
  ['system clock', () => ({ clock: new SystemClock(), pass: (ms) => delay(ms + 25), alarms: () => undefined })],
  [
    'virtual clock',
    () => {
      const clock = new VirtualClock();
      return { clock, pass: (ms) => clock.advance(ms / 1000), alarms: () => clock.pendingAlarms };
    },
  ],
];

describe.each(clocks)('TimerWheel under the %s', (_name, make) => {
  test('fires deadlines in deadline order, whatever the order they were armed in', async () => {
    const { clock, pass } = make();
    const wheel = new TimerWheel(clock);
    const fired: number[] = [];
    const now = clock.now();
    for (const offset of [30, 10, 20, 10, 40]) wheel.arm(now + offset, () => fired.push(offset));
    expect(wheel.size).toBe(5);
    await pass(50);
    expect(fired).toEqual([10, 10, 20, 30, 40]);
    expect(wheel.size).toBe(0);
  });

  test('a cancelled timer never fires and the others still do', async () => {
    const { clock, pass } = make();
    const wheel = new TimerWheel(clock);
    const fired: string[] = [];
    const now = clock.now();
    const first = wheel.arm(now + 10, () => fired.push('first'));
    wheel.arm(now + 20, () => fired.push('second'));
    first.cancel();
    first.cancel();
    expect(wheel.size).toBe(1);
    await pass(40);
    expect(fired).toEqual(['second']);
  });

  test('a timer armed from inside a callback fires too', async () => {
    const { clock, pass } = make();
    const wheel = new TimerWheel(clock);
    const fired: string[] = [];
    wheel.arm(clock.now() + 5, () => {
      fired.push('outer');
      wheel.arm(clock.now() + 5, () => fired.push('inner'));
    });
    await pass(15);
    await pass(15);
    expect(fired).toEqual(['outer', 'inner']);
  });

  test('a deadline already in the past fires on the next turn', async () => {
    const { clock, pass } = make();
    const wheel = new TimerWheel(clock);
    let fired = false;
    wheel.arm(clock.now() - 1000, () => (fired = true));
    await pass(0);
    expect(fired).toBe(true);
  });

  test('holds no clock alarm once nothing is pending', async () => {
    const { clock, alarms } = make();
    const wheel = new TimerWheel(clock);
    const handles = [wheel.arm(clock.now() + 1000, () => {}), wheel.arm(clock.now() + 2000, () => {})];
    if (alarms() !== undefined) expect(alarms()).toBe(1);
    for (const handle of handles) handle.cancel();
    expect(wheel.size).toBe(0);
    expect(wheel.nextDeadlineMs()).toBeUndefined();
    if (alarms() !== undefined) expect(alarms()).toBe(0);
  });

  test('many timers in one millisecond share a slot and all fire', async () => {
    const { clock, pass } = make();
    const wheel = new TimerWheel(clock);
    let count = 0;
    const at = clock.now() + 10;
    for (let index = 0; index < 10_000; index++) wheel.arm(at, () => count++);
    await pass(30);
    expect(count).toBe(10_000);
  });
});
