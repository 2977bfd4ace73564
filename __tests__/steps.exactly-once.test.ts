import { readLog, spawnFixture, tempFolder, testDatabase } from './helpers';
import path from 'node:path';

describe('steps across a real crash', () => {
  test('a workflow killed with SIGKILL after two steps finishes after restart, each step run once', async () => {
    const database = await testDatabase();
    const log = path.join(tempFolder(), 'steps.log');

    const first = spawnFixture('steps-crash', [database, log, 'start']);
    await first.waitForLine('after-b');
    await first.kill();
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(readLog(log)).toEqual(['a', 'b']);

    const second = spawnFixture('steps-crash', [database, log, 'recover']);
    const line = await second.waitForLine(/^result /);
    expect(JSON.parse(line.slice('result '.length))).toEqual(['job:A', 'job:B', 'job:C']);
    expect((await second.exited).code).toBe(0);
    expect(readLog(log)).toEqual(['a', 'b', 'c']);
  }, 60_000);
});
