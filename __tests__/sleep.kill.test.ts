import { delay, spawnFixture, tempDatabasePath } from './helpers';

const SLEEP_SECONDS = 5;

function timeOf(line: string): number {
  return Number(line.split(' ')[1]);
}

describe('durable sleep across a real crash', () => {
  test('a workflow killed mid-sleep sleeps only the remaining time after reopening', async () => {
    const database = tempDatabasePath();

    const first = spawnFixture('sleep-crash', [database, 'start', String(SLEEP_SECONDS)]);
    const sleptAtMs = timeOf(await first.waitForLine(/^sleeping /));
    await delay(1000);
    await first.kill();
    expect((await first.exited).signal).toBe('SIGKILL');
    await delay(1000);

    const second = spawnFixture('sleep-crash', [database, 'recover']);
    const openingAtMs = timeOf(await second.waitForLine(/^opening /));
    expect(await second.waitForLine(/^recovered /)).toBe('recovered ["nap-1"]');
    const doneLine = await second.waitForLine(/^done /, 3 * SLEEP_SECONDS * 1000);
    expect((await second.exited).code).toBe(0);
    expect(doneLine.split(' ').slice(2).join(' ')).toBe(`rested ${SLEEP_SECONDS}s`);

    const wakeUpMs = sleptAtMs + SLEEP_SECONDS * 1000;
    const doneAtMs = timeOf(doneLine);
    const reopenToDoneMs = doneAtMs - openingAtMs;
    // Not woken early: the recorded wake-up time still holds after the crash...
    expect(doneAtMs).toBeGreaterThanOrEqual(wakeUpMs - 100);
    expect(reopenToDoneMs).toBeGreaterThanOrEqual(wakeUpMs - openingAtMs - 100);
    // ...and not slept again from the start: only the remainder (about 3 s minus start-up) was slept.
    expect(doneAtMs).toBeLessThan(Math.max(wakeUpMs, openingAtMs) + 1500);
    expect(reopenToDoneMs).toBeLessThan(SLEEP_SECONDS * 1000 - 1500);
  }, 60_000);
});
