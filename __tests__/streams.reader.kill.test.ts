// A workflow's stream reader across a real SIGKILL: each value it read is recorded, so the recovered
// run replays what was read and reads on from the same offset, handing each value on once.
import path from 'node:path';
import { openTestEngine, readLog, spawnFixture, tempDatabasePath } from './helpers';

describe('a checkpointed stream reader across SIGKILL', () => {
  test('a workflow killed mid-stream resumes at the offset it had reached: every value is handed on once, in order', async () => {
    const database = tempDatabasePath();
    const log = path.join(path.dirname(database), 'values.log');
    const first = spawnFixture('streams-reader', [database, log, 'start']);
    const { signal } = await first.exited;
    expect(signal).toBe('SIGKILL');
    expect(readLog(log)).toEqual(['0', '1', '2']);

    // What the killed process committed: reads of offsets 0 to 3, the steps of 0 to 2.
    const engine = await openTestEngine({ database, recover: false });
    const before = (await engine.listOperations('reader')).map((operation) => [operation.kind, operation.output]);
    expect(before).toEqual([
      ['readStream', { offset: 0, value: 0 }], ['step', 0],
      ['readStream', { offset: 1, value: 1 }], ['step', 1],
      ['readStream', { offset: 2, value: 2 }], ['step', 2],
      ['readStream', { offset: 3, value: 3 }],
    ]);
    await engine.close();

    const second = spawnFixture('streams-reader', [database, log, 'recover']);
    const result = await second.waitForLine(/^result /);
    const operations = JSON.parse((await second.waitForLine(/^operations /)).slice('operations '.length)) as unknown[];
    expect((await second.exited).code).toBe(0);
    const values = Array.from({ length: 10 }, (_, index) => index);
    expect(JSON.parse(result.slice('result '.length))).toEqual(values);
    // The step of 3 ran once, after the recovery; no value was handed on twice or skipped.
    expect(readLog(log)).toEqual(values.map(String));
    expect(operations).toEqual([
      ...values.flatMap((value) => [['readStream', { offset: value, value }], ['step', value]]),
      ['readStream', { offset: 10, end: true }],
    ]);
  }, 60_000);
});
