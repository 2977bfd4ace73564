// Workflow timeouts: a deadline recorded at start (timeoutSeconds, or @Workflow({ timeoutSeconds }))
// cancels the workflow and its children with WorkflowTimeoutError when it passes, wherever the
// workflow is (waiting, sleeping, in a step); a child's deadline is never later than its parent's; a
// restart waits only the remaining time. Under TestEngine: time moves only when the test moves it.
import {
  registerStep, registerWorkflow, Workflow, WorkflowCancelledError, WorkflowTimeoutError,
  type StepContext, type WorkflowContext,
} from '../lib';
import { TestEngine, VirtualClock } from '../lib/testing';
import { openTestKit, testDatabase } from './helpers';

const waiting = registerWorkflow('timeouts.waiting', async (ctxt: WorkflowContext) => ctxt.recv<string>('never', 3600));
const sleeping = registerWorkflow('timeouts.sleeping', async (ctxt: WorkflowContext) => {
  await ctxt.sleep(3600);
  return 'slept';
});

let releaseStep: (value: string) => void = () => {};
let stepRuns = 0;
const slowStep = registerStep('timeouts.slow', async (_ctxt: StepContext) => {
  stepRuns++;
  return new Promise<string>((resolve) => (releaseStep = resolve));
});
const afterStep = registerStep('timeouts.after', async () => 'after');
const inStep = registerWorkflow('timeouts.inStep', async (ctxt: WorkflowContext) => {
  const slow = await ctxt.runStep(slowStep);
  return `${slow} ${await ctxt.runStep(afterStep)}`;
});

const waitThenStep = registerWorkflow('timeouts.waitThenStep', async (ctxt: WorkflowContext) => {
  await ctxt.recv<string>('never', 2);
  return ctxt.runStep(slowStep);
});

const longChild = registerWorkflow('timeouts.longChild', async (ctxt: WorkflowContext) => ctxt.recv<string>('never', 3600), { timeoutSeconds: 100 });
const shortChild = registerWorkflow('timeouts.shortChild', async (ctxt: WorkflowContext) => ctxt.recv<string>('never', 3600), { timeoutSeconds: 3 });
const parent = registerWorkflow('timeouts.parent', async (ctxt: WorkflowContext, which: 'long' | 'short') => {
  return ctxt.childWorkflow(which === 'long' ? longChild : shortChild);
});

class Reports {
  @Workflow({ timeoutSeconds: 20 }) static async build(ctxt: WorkflowContext): Promise<string | null> {
    return ctxt.recv<string>('never', 3600);
  }
}

let t: TestEngine;

beforeEach(async () => {
  t = await openTestKit();
});

afterEach(async () => {
  await t.close();
});

/** The UUID's status and the error its getResult rejects with (or its result). */
async function outcome(uuid: string): Promise<{ status: string | undefined; error?: unknown; result?: unknown }> {
  const handle = t.engine.retrieveWorkflow(uuid);
  const status = (await handle.getStatus())?.status;
  if (status === 'PENDING') return { status };
  return handle.getResult().then((result) => ({ status, result }), (error: unknown) => ({ status, error }));
}

describe('workflow timeouts', () => {
  test('a workflow that times out while waiting is cancelled with WorkflowTimeoutError at its deadline, not before', async () => {
    const startMs = t.clock.now();
    const handle = await t.engine.startWorkflow(waiting, { workflowUUID: 'waits', timeoutSeconds: 10 });
    await t.waitUntilBlocked('waits', { kind: 'recv' });
    expect((await handle.getStatus())?.deadlineMs).toBe(startMs + 10_000);
    await t.advance(9.999);
    expect((await outcome('waits')).status).toBe('PENDING');
    await t.advance(0.001);
    const { status, error } = await outcome('waits');
    expect(status).toBe('CANCELLED');
    expect(error).toBeInstanceOf(WorkflowTimeoutError);
    expect(error).toBeInstanceOf(WorkflowCancelledError);
    expect(error).toMatchObject({ code: 'WORKFLOW_TIMEOUT', workflowUUID: 'waits', deadlineMs: startMs + 10_000 });
    expect(t.waits('waits')).toEqual([]);
  });

  test('a workflow that times out while sleeping is cancelled at its deadline', async () => {
    await t.engine.startWorkflow(sleeping, { workflowUUID: 'sleeps', timeoutSeconds: 5 });
    await t.waitUntilBlocked('sleeps', { kind: 'sleep' });
    await t.advance(5);
    expect(await outcome('sleeps')).toMatchObject({ status: 'CANCELLED', error: expect.any(WorkflowTimeoutError) });
  });

  test('a workflow that times out while a step runs: the step finishes and is recorded, the next never starts', async () => {
    stepRuns = 0;
    await t.engine.startWorkflow(inStep, { workflowUUID: 'in-step', timeoutSeconds: 5 });
    while (stepRuns === 0) await new Promise((resolve) => setImmediate(resolve));
    // The step is still running: move the clock alone (runUntilIdle would wait for the step).
    await t.clock.advance(5);
    expect((await t.engine.retrieveWorkflow('in-step').getStatus())?.status).toBe('CANCELLED');
    releaseStep('slow');
    await t.runUntilIdle();
    expect((await t.engine.listOperations('in-step')).map(({ name, output }) => [name, output])).toEqual([['timeouts.slow', 'slow']]);
    expect(await outcome('in-step')).toMatchObject({ status: 'CANCELLED', error: expect.any(WorkflowTimeoutError) });
  });

  test('a child is bounded by its parent: its deadline is the earlier of its own and its parent\'s, and it is cancelled with its parent', async () => {
    const startMs = t.clock.now();
    await t.engine.startWorkflow(parent, { workflowUUID: 'bounded', timeoutSeconds: 10 }, 'long');
    await t.engine.startWorkflow(parent, { workflowUUID: 'own', timeoutSeconds: 10 }, 'short');
    await t.waitUntilBlocked('bounded-0', { kind: 'recv' });
    await t.waitUntilBlocked('own-0', { kind: 'recv' });
    expect((await t.engine.retrieveWorkflow('bounded-0').getStatus())?.deadlineMs).toBe(startMs + 10_000);
    expect((await t.engine.retrieveWorkflow('own-0').getStatus())?.deadlineMs).toBe(startMs + 3_000);

    await t.advance(3);
    // The short child timed out on its own; its parent met the child's error and failed with it.
    expect(await outcome('own-0')).toMatchObject({ status: 'CANCELLED', error: expect.any(WorkflowTimeoutError) });
    expect(await outcome('own')).toMatchObject({ status: 'ERROR', error: expect.objectContaining({ code: 'WORKFLOW_TIMEOUT', workflowUUID: 'own-0' }) });
    expect((await outcome('bounded-0')).status).toBe('PENDING');

    await t.advance(7);
    for (const uuid of ['bounded', 'bounded-0']) {
      expect(await outcome(uuid)).toMatchObject({ status: 'CANCELLED', error: expect.objectContaining({ code: 'WORKFLOW_TIMEOUT', workflowUUID: uuid }) });
    }
  });

  test('a deadline already past when the run starts cancels it before any of its code runs (a timeout of 0, a reopen after the deadline)', async () => {
    stepRuns = 0;
    await t.engine.startWorkflow(inStep, { workflowUUID: 'zero', timeoutSeconds: 0 });
    await t.runUntilIdle();
    expect(stepRuns).toBe(0);
    expect(await outcome('zero')).toMatchObject({ status: 'CANCELLED', error: expect.any(WorkflowTimeoutError) });

    // The deadline passes while no engine runs: the reopened engine cancels it before its step starts.
    const database = await testDatabase('overdue');
    const clock = new VirtualClock();
    const before = await openTestKit({ database, clock });
    await before.engine.startWorkflow(waitThenStep, { workflowUUID: 'overdue', timeoutSeconds: 1 });
    await before.waitUntilBlocked('overdue', { kind: 'recv' });
    await before.close();
    await clock.advance(3);
    const after = await openTestKit({ database, clock });
    try {
      await after.runUntilIdle();
      expect(stepRuns).toBe(0);
      await expect(after.engine.retrieveWorkflow('overdue').getResult()).rejects.toBeInstanceOf(WorkflowTimeoutError);
    } finally {
      await after.close();
    }
  });

  test('a timeout across a restart waits only the remaining time', async () => {
    const startMs = t.clock.now();
    await t.engine.startWorkflow(waiting, { workflowUUID: 'restarted', timeoutSeconds: 10 });
    await t.waitUntilBlocked('restarted', { kind: 'recv' });
    await t.advance(6);
    await t.crash();
    await t.runUntilIdle();
    await t.waitUntilBlocked('restarted', { kind: 'recv' });
    await t.advance(3.999);
    expect((await outcome('restarted')).status).toBe('PENDING');
    await t.advance(0.001);
    expect(t.clock.now()).toBe(startMs + 10_000);
    expect(await outcome('restarted')).toMatchObject({ status: 'CANCELLED', error: expect.any(WorkflowTimeoutError) });
  });

  test('@Workflow({ timeoutSeconds }) is the default, startWorkflow\'s timeoutSeconds overrides it, and a resume clears the deadline', async () => {
    const startMs = t.clock.now();
    const byDefault = await t.engine.invoke(Reports, 'report-default').build();
    const overridden = await t.engine.startWorkflow(Reports.build, { workflowUUID: 'report-override', timeoutSeconds: 60 });
    expect((await byDefault.getStatus())?.deadlineMs).toBe(startMs + 20_000);
    expect((await overridden.getStatus())?.deadlineMs).toBe(startMs + 60_000);
    await t.advance(20);
    await expect(byDefault.getResult()).rejects.toBeInstanceOf(WorkflowTimeoutError);
    expect((await overridden.getStatus())?.status).toBe('PENDING');

    expect(await t.engine.resumeWorkflow('report-default')).toEqual({ previousStatus: 'CANCELLED', resumed: true });
    await t.waitUntilBlocked('report-default', { kind: 'recv' });
    expect((await byDefault.getStatus())?.deadlineMs).toBeNull();
    await t.engine.send('report-default', 'done', 'never');
    expect(await byDefault.getResult()).toBe('done');
  });

  test('timeoutSeconds is checked like every duration', async () => {
    await expect(t.engine.startWorkflow(waiting, { timeoutSeconds: -1 })).rejects.toThrow('Expected `timeoutSeconds` to be a finite number >= 0, got `-1` (number)');
    await expect(t.engine.startWorkflow(waiting, { timeoutSeconds: 'soon' as unknown as number })).rejects.toThrow(TypeError);
    expect(() => registerWorkflow('timeouts.bad', async () => 1, { timeoutSeconds: Number.NaN })).toThrow(RangeError);
  });
});
