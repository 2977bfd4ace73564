// A reader in another process (a Client) is woken by the owner's commits, as every cross-process wait
// is (the change feed, told by the file watcher): one wait per value, each ended by the commit that
// wrote it, none by its deadline, and the end of the workflow ends the stream there too.
import { registerWorkflow, type WorkflowContext } from '../lib';
import { openTestEngine, spawnFixture, tempDatabasePath } from './helpers';
import { blockedInRecv } from './wait-helpers';

/** Writes each message it receives on 'next' to its stream 'lines', until 'stop'. */
const relay = registerWorkflow('streamsCross.relay', async (ctxt: WorkflowContext) => {
  for (;;) {
    const line = await ctxt.recv<string>('next', 60);
    if (line === 'stop' || line === null) return 'stopped';
    await ctxt.writeStream('lines', line);
  }
});

describe('a stream reader in another process', () => {
  test('started before the writer exists, it is woken by each commit that writes a value, and ends when the workflow does', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database });
    const reader = spawnFixture('streams-client-reader', [database, 'relay-1', 'lines']);
    await reader.waitForLine('waiting 0');
    const handle = await engine.startWorkflow(relay, { workflowUUID: 'relay-1' });
    const lines = ['first', 'second', 'third', 'fourth', 'fifth'];
    for (const [offset, line] of lines.entries()) {
      // Lockstep: the value is written only once the reader waits for it, so only a wake-up brings it.
      await reader.waitForLine(`waiting ${offset}`);
      await blockedInRecv(engine, 'relay-1');
      await engine.send('relay-1', line, 'next');
      await reader.waitForLine(`value ${JSON.stringify(line)}`);
    }
    await reader.waitForLine(`waiting ${lines.length}`);
    await engine.send('relay-1', 'stop', 'next');
    expect(await handle.getResult()).toBe('stopped');
    const waits = JSON.parse((await reader.waitForLine(/^waits /)).slice('waits '.length)) as string[];
    expect((await reader.exited).code).toBe(0);
    expect(reader.lines.filter((line) => line.startsWith('value '))).toEqual(lines.map((line) => `value ${JSON.stringify(line)}`));
    // One wait per value and one for the end, each satisfied by a commit: no deadline, no re-polling.
    expect(waits).toEqual(Array.from({ length: lines.length + 1 }, () => 'satisfied'));
    await engine.close();
  }, 60_000);
});
