// Resume: a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow goes back to PENDING and
// carries on from its records, each earlier step run once, its recovery count from zero; a step
// running at the cancel finishes and is recorded; no step starts after the cancel's commit.
import { registerStep, registerWorkflow, WorkflowCancelledError, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit } from './helpers';

const runs = new Map<string, number>();
function counted(name: string): void {
  runs.set(name, (runs.get(name) ?? 0) + 1);
}

const countStep = registerStep('control.resume.count', async (_ctxt: StepContext, name: string) => {
  counted(name);
  return name;
});

const approval = registerWorkflow('control.resume.approval', async (ctxt: WorkflowContext) => {
  const first = await ctxt.runStep(countStep, 'first');
  const second = await ctxt.runStep(countStep, 'second');
  const go = await ctxt.recv<string>('go', 3600);
  const third = await ctxt.runStep(countStep, 'third');
  return [first, second, go, third].join(' ');
});

let failOnce = true;
const flaky = registerWorkflow('control.resume.flaky', async (ctxt: WorkflowContext) => {
  const before = await ctxt.runStep(countStep, 'before');
  if (failOnce) throw new Error('not yet');
  return `${before} then ok`;
});

/** A step whose end the test decides. */
let releaseStep: (value: string) => void = () => {};
const slowStep = registerStep('control.resume.slow', async (_ctxt: StepContext) => {
  counted('slow');
  return new Promise<string>((resolve) => (releaseStep = resolve));
});
const afterSlow = registerWorkflow('control.resume.afterSlow', async (ctxt: WorkflowContext) => {
  const slow = await ctxt.runStep(slowStep);
  const next = await ctxt.runStep(countStep, 'next');
  return `${slow} ${next}`;
});

let t: TestEngine;

beforeEach(async () => {
  runs.clear();
  t = await openTestKit();
});

afterEach(async () => {
  await t.close();
});

describe('resumeWorkflow', () => {
  test('cancel then resume completes the workflow with every earlier step run exactly once', async () => {
    const handle = await t.engine.startWorkflow(approval, { workflowUUID: 'approval' });
    await t.waitUntilBlocked('approval', { kind: 'recv' });
    await t.engine.cancelWorkflow('approval');
    await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowCancelledError);

    expect(await t.engine.resumeWorkflow('approval')).toEqual({ previousStatus: 'CANCELLED', resumed: true });
    // The resumed run replays the two steps and waits in the same recv again (its recorded deadline).
    await t.waitUntilBlocked('approval', { kind: 'recv' });
    expect((await handle.getStatus())?.status).toBe('PENDING');
    await t.engine.send('approval', 'approved', 'go');
    expect(await handle.getResult()).toBe('first second approved third');
    expect(Object.fromEntries(runs)).toEqual({ first: 1, second: 1, third: 1 });
  });

  test('a workflow that ended in ERROR is resumed from its records, its recovery count from zero', async () => {
    failOnce = true;
    const handle = await t.engine.startWorkflow(flaky, { workflowUUID: 'flaky' });
    await expect(handle.getResult()).rejects.toThrow('not yet');
    failOnce = false;
    expect(await t.engine.resumeWorkflow('flaky')).toEqual({ previousStatus: 'ERROR', resumed: true });
    expect(await handle.getResult()).toBe('before then ok');
    expect(runs.get('before')).toBe(1);
    const status = await handle.getStatus();
    expect(status).toMatchObject({ status: 'SUCCESS', recoveryAttempts: 0, deadlineMs: null });
    // A workflow that is PENDING or SUCCESS is left as it is.
    expect(await t.engine.resumeWorkflow('flaky')).toEqual({ previousStatus: 'SUCCESS', resumed: false });
  });

  test('cancel while a step runs: the step finishes and is recorded, no later step starts, and a resume replays it', async () => {
    // Listened to from the start: the slow step may start before or after startWorkflow resolves
    // (on PostgreSQL its start waits for a read of the row, which checks it is not cancelled).
    const started: string[] = [];
    t.engine.events.on('stepStarted', ({ name }) => started.push(name));
    const handle = await t.engine.startWorkflow(afterSlow, { workflowUUID: 'slow' });
    while (runs.get('slow') !== 1) await new Promise((resolve) => setImmediate(resolve));
    await t.engine.cancelWorkflow('slow');
    releaseStep('slow-done');
    await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowCancelledError);
    await t.runUntilIdle();
    // The running step's result was recorded; the next step never started.
    const operations = await t.engine.listOperations('slow');
    expect(operations.map(({ kind, name, output }) => ({ kind, name, output }))).toEqual([{ kind: 'step', name: 'control.resume.slow', output: 'slow-done' }]);
    expect(started).toEqual(['control.resume.slow']);
    expect(runs.get('next')).toBeUndefined();

    await t.engine.resumeWorkflow('slow');
    expect(await handle.getResult()).toBe('slow-done next');
    expect(Object.fromEntries(runs)).toEqual({ slow: 1, next: 1 });
  });

  test('a resume while the cancelled run\'s step still runs waits for it: the step runs once and its result is replayed', async () => {
    const handle = await t.engine.startWorkflow(afterSlow, { workflowUUID: 'resume-mid-step' });
    while (runs.get('slow') !== 1) await new Promise((resolve) => setImmediate(resolve));
    await t.engine.cancelWorkflow('resume-mid-step');
    await t.engine.resumeWorkflow('resume-mid-step');
    releaseStep('done once');
    expect(await handle.getResult()).toBe('done once next');
    expect(runs.get('slow')).toBe(1);
  });

  test('a workflow given up after too many recoveries is resumed with its count at zero', async () => {
    let stuck = true;
    const crashing = registerWorkflow('control.resume.crashing', async (ctxt: WorkflowContext) => {
      // Stuck outside durablite, recording nothing: each recovery counts an attempt.
      if (stuck) await new Promise(() => {});
      await ctxt.recv('go', 3600);
      return 'went';
    });
    const limited = await openTestKit({ maxRecoveryAttempts: 1 });
    try {
      await limited.engine.startWorkflow(crashing, { workflowUUID: 'given-up' });
      // Each crash before progress counts an attempt: the second recovery gives it up.
      await limited.crash();
      await limited.crash();
      stuck = false;
      expect((await limited.engine.retrieveWorkflow('given-up').getStatus())?.status).toBe('MAX_RECOVERY_ATTEMPTS_EXCEEDED');
      expect(await limited.engine.resumeWorkflow('given-up')).toEqual({ previousStatus: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', resumed: true });
      await limited.waitUntilBlocked('given-up');
      expect((await limited.engine.retrieveWorkflow('given-up').getStatus())?.recoveryAttempts).toBe(0);
      await limited.engine.send('given-up', 'now', 'go');
      expect(await limited.engine.retrieveWorkflow('given-up').getResult()).toBe('went');
    } finally {
      await limited.close();
    }
  });
});
