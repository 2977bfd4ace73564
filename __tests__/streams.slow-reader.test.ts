// Ten thousand values and a reader slower than the writer: values wait in the file, not in memory,
// and the reader gets every one, in order, once, then the end.
import { registerWorkflow, type WorkflowContext } from '../lib';
import { openTestEngine, tempDatabasePath } from './helpers';

const VALUES = 10_000;

/** Writes `count` values, a hundred at a time (each hundred in one group commit), then closes. */
const rows = registerWorkflow('streamsSlow.rows', async (ctxt: WorkflowContext, count: number) => {
  for (let start = 0; start < count; start += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - start) }, (_, index) => ctxt.writeStream('rows', { row: start + index })));
  }
  await ctxt.closeStream('rows');
  return count;
});

/** A turn of the event loop: the reader lets everything else run between two values. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('a slow reader of a long stream', () => {
  test('ten thousand values, read one per turn while they are written: all of them, in order, once, then the end', async () => {
    const engine = await openTestEngine({ database: tempDatabasePath() });
    const reader = engine.readStream<{ row: number }>('rows-1', 'rows');
    const handle = await engine.startWorkflow(rows, { workflowUUID: 'rows-1' }, VALUES);
    const seen: number[] = [];
    let readBeforeTheEnd = -1;
    void handle.getResult().then(() => (readBeforeTheEnd = seen.length));
    for await (const { row } of reader) {
      seen.push(row);
      await nextTurn();
    }
    expect(await handle.getResult()).toBe(VALUES);
    // The writer finished long before the reader did: the reader really was the slow one.
    expect(readBeforeTheEnd).toBeGreaterThanOrEqual(0);
    expect(readBeforeTheEnd).toBeLessThan(VALUES);
    expect(seen).toHaveLength(VALUES);
    expect(seen.every((row, index) => row === index)).toBe(true);
    expect(await engine.listStreams('rows-1')).toEqual([{ key: 'rows', length: VALUES, closed: true }]);
    await engine.close();
  }, 60_000);
});
