// timers: 1,000,000 pending recv waits with timeouts: ms to arm them, ms to fire them, peak RSS.
//
// What is measured: the engine's own wait machinery, `Waiters` over the `TimerWheel`, driven directly
// with exactly what a blocked recv hands it (its message key, a deadline, an attempt, an onTimeout),
// not 1,000,000 real workflows. Real recvs would first commit 2,000,000 rows (a workflow row and a
// started-wait row each, one commit apiece: minutes in FULL mode) and their timeouts another
// 1,000,000 commits; that SQLite cost is what the other scenarios measure, and it would bury the
// figure this scenario exists for: what holding and expiring a million deadlines costs in memory.
//
// The naive side is the same `Waiters`, given one `setTimeout` per waiter instead of the wheel, so
// the comparison isolates the timer strategy. Every deadline is the same instant (a million waits
// expiring together is the worst case for firing). Bare `wheel.arm` versus bare `setTimeout` (the
// timers without the waits) is reported beside it. Each of the four runs in a process of its own, so
// each peak RSS is its own.
import { SystemClock } from '../../lib';
import { TimerWheel, type TimerTarget } from '../../lib/runtime/timer-wheel';
import { messageKey, Waiters } from '../../lib/runtime/waiters';
import { collectGarbage, figureResult, parseArguments, peakRssMebibytes, round, rssMebibytes, runJsonChild, runScenario } from '../lib/harness';

type Side = 'wheel' | 'naive';
/** `waits`: what a blocked recv holds (Waiters + its deadline). `timers`: the bare timers alone. */
type Subject = 'waits' | 'timers';

interface PartResult {
  armMs: number;
  fireMs: number;
  peakRssMiB: number;
  baselineRssMiB: number;
}

/** One `setTimeout` per deadline, shaped like the wheel so `Waiters` can use it. */
const oneTimeoutPerWaiter = {
  arm(deadlineMs: number, target: TimerTarget) {
    const callback = typeof target === 'function' ? target : () => target.fire();
    const timeout = setTimeout(callback, Math.max(0, deadlineMs - Date.now()));
    return { cancel: () => clearTimeout(timeout) };
  },
};

/**
 * Arms `count` deadlines due at one instant (`slackMs` from now), then measures until every one has
 * fired: ms to arm (one synchronous loop), ms from the deadline (or the end of arming, if later) to
 * the last one firing, and the process's peak RSS.
 */
async function measurePart(side: Side, subject: Subject, count: number, slackMs: number): Promise<PartResult> {
  const workflowUUIDs = Array.from({ length: count }, (_, index) => `workflow-${index.toString().padStart(7, '0')}`);
  const clock = new SystemClock();
  collectGarbage();
  const baselineRssMiB = rssMebibytes();
  let fired = 0;
  let lastAtMs = 0;
  let done!: () => void;
  const allFired = new Promise<void>((resolve) => (done = resolve));
  const onFired = (): void => {
    if (++fired === count) {
      lastAtMs = performance.now();
      done();
    }
  };
  const deadlineMs = clock.now() + slackMs;
  const deadlineAtMs = performance.now() + slackMs;
  const armStartMs = performance.now();
  if (subject === 'waits') {
    const waiters = new Waiters(side === 'wheel' ? new TimerWheel(clock) : (oneTimeoutPerWaiter as unknown as TimerWheel));
    for (const workflowUUID of workflowUUIDs) {
      waiters
        .wait<string | null>({
          description: { workflowUUID, kind: 'recv', topic: null, deadlineMs },
          keys: [messageKey(workflowUUID, null)],
          attempt: () => ({ done: false }),
          onTimeout: () => null,
        })
        .then(onFired);
    }
  } else if (side === 'wheel') {
    const wheel = new TimerWheel(clock);
    for (let index = 0; index < count; index++) wheel.arm(deadlineMs, onFired);
  } else {
    for (let index = 0; index < count; index++) setTimeout(onFired, Math.max(0, deadlineMs - Date.now()));
  }
  const armEndMs = performance.now();
  await allFired;
  return {
    armMs: round(armEndMs - armStartMs, 1),
    fireMs: round(lastAtMs - Math.max(deadlineAtMs, armEndMs), 1),
    peakRssMiB: peakRssMebibytes(),
    baselineRssMiB,
  };
}

const { flags } = parseArguments(process.argv.slice(2));

if (flags.side !== undefined) {
  // A child: one side and subject, in a process of its own, so its peak RSS is its own.
  measurePart(flags.side as Side, flags.subject as Subject, Number(flags.waiters), Number(flags.slack))
    .then((result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
} else {
  runScenario('timers', async (context) => {
    const waiters = context.size('waiters', 1_000_000, 20_000);
    // Deadlines fall after arming ends (arming is one synchronous loop, so nothing fires during it).
    const slackMs = context.quick ? 300 : 4_000;
    const part = async (side: Side, subject: Subject): Promise<PartResult> =>
      (await runJsonChild(__filename, ['--side', side, '--subject', subject, '--waiters', String(waiters), '--slack', String(slackMs)])) as PartResult;
    const wheelWaits = await part('wheel', 'waits');
    const naiveWaits = await part('naive', 'waits');
    const wheelTimers = await part('wheel', 'timers');
    const setTimeouts = await part('naive', 'timers');
    return figureResult(
      context,
      { unit: 'ms to arm', engine: wheelWaits.armMs, floor: naiveWaits.armMs },
      {
        waiters,
        armSpeedup: round(naiveWaits.armMs / wheelWaits.armMs, 2),
        fireMs: wheelWaits.fireMs,
        floorFireMs: naiveWaits.fireMs,
        peakRssMiB: wheelWaits.peakRssMiB,
        floorPeakRssMiB: naiveWaits.peakRssMiB,
        baselineRssMiB: wheelWaits.baselineRssMiB,
        wheelArmMs: wheelTimers.armMs,
        wheelFireMs: wheelTimers.fireMs,
        wheelPeakRssMiB: wheelTimers.peakRssMiB,
        setTimeoutArmMs: setTimeouts.armMs,
        setTimeoutFireMs: setTimeouts.fireMs,
        setTimeoutPeakRssMiB: setTimeouts.peakRssMiB,
        timerArmSpeedup: round(setTimeouts.armMs / wheelTimers.armMs, 2),
      },
    );
  });
}
