// ctxt.now() and ctxt.randomUUID(): recorded on the first run, replayed identically after a crash,
// following the virtual clock under TestEngine; refused where there is no workflow.
import { registerStep, registerWorkflow, WorkflowContextError, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit } from './helpers';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const stamped = registerWorkflow('time.stamped', async (ctxt: WorkflowContext) => {
  const startedMs = await ctxt.now();
  const orderId = await ctxt.randomUUID();
  await ctxt.sleep(90);
  const afterSleepMs = await ctxt.now();
  // Waits for a message, so that a crash can land after every value above was recorded.
  await ctxt.recv('go', 3600);
  const [laterMs, otherId] = await Promise.all([ctxt.now(), ctxt.randomUUID()]);
  return { startedMs, orderId, afterSleepMs, laterMs, otherId };
});

const misuse = registerStep('time.misuse', async (ctxt: StepContext) => {
  const asContext = ctxt as unknown as WorkflowContext;
  const refusals = await Promise.allSettled([asContext.now(), asContext.randomUUID()]);
  return refusals.map((refusal) => (refusal.status === 'rejected' ? (refusal.reason as WorkflowContextError).code : 'allowed'));
});
const misuser = registerWorkflow('time.misuser', async (ctxt: WorkflowContext) => ctxt.runStep(misuse));

describe('ctxt.now() and ctxt.randomUUID()', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.close();
  });

  test('follow the virtual clock, are recorded, and replay identically after a crash', async () => {
    t = await openTestKit();
    const startMs = t.clock.now();
    await t.engine.startWorkflow(stamped, { workflowUUID: 'stamped-1' });
    await t.waitUntilBlocked('stamped-1', { kind: 'sleep' });
    await t.advance(90);
    await t.waitUntilBlocked('stamped-1', { kind: 'recv' });
    const before = await t.engine.listOperations('stamped-1');
    expect(before.map((operation) => [operation.kind, operation.name])).toEqual([
      ['now', 'now'], ['randomUUID', 'randomUUID'], ['sleep', 'sleep'], ['now', 'now'], ['recv', 'recv'],
    ]);
    expect(before[0]!.output).toBe(startMs);
    expect(before[1]!.output).toMatch(UUID_V4);
    expect(before[3]!.output).toBe(startMs + 90_000);

    // Time moves on while the process is down; the recovered run gets the recorded values back.
    await t.crash();
    await t.advance(600);
    await t.engine.send('stamped-1', 'go', 'go');
    const result = (await t.engine.retrieveWorkflow('stamped-1').getResult()) as Record<string, unknown>;
    expect(result).toEqual({
      startedMs: startMs,
      orderId: before[1]!.output,
      afterSleepMs: startMs + 90_000,
      laterMs: startMs + 90_000 + 600_000,
      otherId: expect.stringMatching(UUID_V4),
    });
    expect(result.otherId).not.toBe(result.orderId);
    const after = await t.engine.listOperations('stamped-1');
    expect(after.slice(0, 4).map((operation) => operation.output)).toEqual(before.slice(0, 4).map((operation) => operation.output));
    expect(after.slice(5).map((operation) => [operation.kind, operation.output])).toEqual([['now', result.laterMs], ['randomUUID', result.otherId]]);
  });

  test('a replay that calls now() where randomUUID() was recorded fails as a determinism error', async () => {
    t = await openTestKit({ onWarning: () => {} });
    let flip = false;
    const fickle = registerWorkflow('time.fickle', async (ctxt: WorkflowContext) => {
      const value = flip ? await ctxt.now() : await ctxt.randomUUID();
      await ctxt.recv('go', 60);
      return value;
    });
    await t.engine.startWorkflow(fickle, { workflowUUID: 'fickle-1' });
    await t.waitUntilBlocked('fickle-1', { kind: 'recv' });
    flip = true;
    await t.crash();
    await expect(t.engine.retrieveWorkflow('fickle-1').getResult()).rejects.toMatchObject({
      code: 'NONDETERMINISTIC_WORKFLOW',
      recorded: 'randomUUID "randomUUID"',
      attempted: 'now "now"',
    });
  });

  test('are workflow-only: a step and an Engine refuse them with WorkflowContextError', async () => {
    t = await openTestKit();
    t.autoSkip = true;
    expect(await (await t.engine.startWorkflow(misuser)).getResult()).toEqual(['NOT_IN_WORKFLOW', 'NOT_IN_WORKFLOW']);
    const engine = t.engine as unknown as WorkflowContext;
    await expect(engine.now()).rejects.toThrow(WorkflowContextError);
    await expect(engine.randomUUID()).rejects.toThrow(WorkflowContextError);
    expect('now' in t.engine).toBe(false);
  });
});
