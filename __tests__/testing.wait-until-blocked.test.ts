// TestEngine.waitUntilBlocked answers at once when the answer is already known: a workflow that has
// finished, or a UUID no workflow has, can never block. Each test's engine waits a minute before
// giving up, so only an immediate answer finishes within jest's 5-second test timeout.
import { Workflow, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';

class Blocking {
  @Workflow() static async quick(_ctxt: WorkflowContext): Promise<string> {
    return 'done';
  }

  @Workflow() static async failing(_ctxt: WorkflowContext): Promise<string> {
    throw new Error('boom');
  }

  @Workflow() static async waitsThenEnds(ctxt: WorkflowContext): Promise<string | null> {
    return ctxt.recv<string>('go', 60);
  }
}

describe('TestEngine.waitUntilBlocked', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await TestEngine.open({ settleTimeoutMs: 60_000 });
  });
  afterEach(async () => {
    await t.close();
  });

  test('rejects at once for a UUID that no workflow has, naming the UUID', async () => {
    await expect(t.waitUntilBlocked('no-such-workflow')).rejects.toThrow(/"no-such-workflow".*no workflow has this UUID/);
  });

  test('rejects at once for a workflow that finished, with its status', async () => {
    const done = await t.engine.invoke(Blocking, 'quick-1').quick();
    await done.getResult();
    await expect(t.waitUntilBlocked('quick-1', { kind: 'recv' })).rejects.toThrow(/"quick-1" finished \(status SUCCESS\) without blocking in recv/);

    const failed = await t.engine.invoke(Blocking, 'failing-1').failing();
    await expect(failed.getResult()).rejects.toThrow('boom');
    await expect(t.waitUntilBlocked('failing-1')).rejects.toThrow(/status ERROR/);
  });

  test('rejects as soon as the workflow finishes while it is waited on for another kind of wait', async () => {
    const handle = await t.engine.invoke(Blocking, 'waits-1').waitsThenEnds();
    const waiting = t.waitUntilBlocked('waits-1', { kind: 'sleep' });
    await t.waitUntilBlocked('waits-1', { kind: 'recv' });
    await t.engine.send('waits-1', 'now', 'go');
    await expect(waiting).rejects.toThrow(/finished \(status SUCCESS\) without blocking in sleep/);
    expect(await handle.getResult()).toBe('now');
  });

  test('still resolves with the wait when the workflow blocks', async () => {
    await t.engine.invoke(Blocking, 'waits-2').waitsThenEnds();
    expect(await t.waitUntilBlocked('waits-2')).toMatchObject({ kind: 'recv', workflowUUID: 'waits-2' });
  });
});
