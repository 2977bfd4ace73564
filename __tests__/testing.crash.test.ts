import { registerStep, registerWorkflow, Step, Workflow, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { onPostgres, openTestKit, tempDatabasePath } from './helpers';

let stepRuns = 0;

// Each workflow performs one operation, then blocks at a gate (a recv on 'gate'), where the test
// crashes it. Recovery replays the operation from its record; the gate message then lets it finish.
class CrashProbe {
  @Step() static async sideEffect(_ctxt: StepContext): Promise<number> {
    stepRuns++;
    return stepRuns * 100;
  }

  @Workflow() static async afterStep(ctxt: WorkflowContext): Promise<number> {
    const value = await ctxt.invoke(CrashProbe).sideEffect();
    await ctxt.recv('gate');
    return value;
  }

  @Workflow() static async afterSend(ctxt: WorkflowContext, destination: string): Promise<void> {
    await ctxt.send(destination, 'hello', 'inbox');
    await ctxt.recv('gate');
  }

  @Workflow() static async afterRecv(ctxt: WorkflowContext): Promise<string | null> {
    const message = await ctxt.recv<string>('inbox');
    await ctxt.recv('gate');
    return message;
  }

  @Workflow() static async afterSetEvent(ctxt: WorkflowContext): Promise<void> {
    await ctxt.setEvent('status', 'first');
    await ctxt.recv('gate');
  }

  @Workflow() static async afterGetEvent(ctxt: WorkflowContext, target: string): Promise<string | null> {
    const seen = await ctxt.getEvent<string>(target, 'status', 5);
    await ctxt.recv('gate');
    return seen;
  }

  @Workflow() static async afterSleep(ctxt: WorkflowContext): Promise<string> {
    await ctxt.sleep(3600);
    await ctxt.recv('gate', 7200);
    return 'woke';
  }

  @Workflow() static async idle(ctxt: WorkflowContext): Promise<void> {
    await ctxt.recv('never', 24 * 3600);
  }
}

describe.each<[string, () => string]>([
  ['in memory', () => ':memory:'],
  // SQLite's file, where a crash closes the connection and recovery reads the file: on PostgreSQL the
  // case above already crashes as a killed process does, on a database of its own (docs/testing.md).
  ...(onPostgres ? [] : [['on a file', () => tempDatabasePath('crash')] as [string, () => string]]),
])('simulated crash and recovery (%s)', (_label, database) => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await openTestKit({ database: database() });
  });
  afterEach(async () => {
    await t.close();
  });

  async function crashAtGate(workflowUUID: string): Promise<void> {
    await t.waitUntilBlocked(workflowUUID, { kind: 'recv' });
    const engine = await t.crash();
    expect(engine.recovery.resumed).toContain(workflowUUID);
    await t.runUntilIdle();
    await t.engine.send(workflowUUID, 'open', 'gate');
  }

  test('a step that committed is not run again after the crash', async () => {
    const before = stepRuns;
    const handle = await t.engine.invoke(CrashProbe).afterStep();
    await crashAtGate(handle.getWorkflowUUID());
    expect(await t.engine.retrieveWorkflow(handle.getWorkflowUUID()).getResult()).toBe((before + 1) * 100);
    expect(stepRuns).toBe(before + 1);
  });

  test('a send that committed is not sent again after the crash', async () => {
    const target = await t.engine.invoke(CrashProbe, 'target').idle();
    const handle = await t.engine.invoke(CrashProbe).afterSend(target.getWorkflowUUID());
    await crashAtGate(handle.getWorkflowUUID());
    await t.engine.retrieveWorkflow(handle.getWorkflowUUID()).getResult();
    expect(await t.engine.listMessages('target', 'inbox')).toHaveLength(1);
  });

  test('a recv that committed returns the same message after the crash and consumes no other', async () => {
    const handle = await t.engine.invoke(CrashProbe).afterRecv();
    const uuid = handle.getWorkflowUUID();
    await t.engine.send(uuid, 'm1', 'inbox');
    await t.engine.send(uuid, 'm2', 'inbox');
    await crashAtGate(uuid);
    expect(await t.engine.retrieveWorkflow(uuid).getResult()).toBe('m1');
    const inbox = await t.engine.listMessages(uuid, 'inbox');
    expect(inbox.map((message) => [message.message, message.consumed])).toEqual([['m1', true], ['m2', false]]);
  });

  test('a setEvent that committed is replayed, not treated as a duplicate', async () => {
    const handle = await t.engine.invoke(CrashProbe).afterSetEvent();
    await crashAtGate(handle.getWorkflowUUID());
    await expect(t.engine.retrieveWorkflow(handle.getWorkflowUUID()).getResult()).resolves.toBeUndefined();
    expect(await t.engine.listEvents(handle.getWorkflowUUID())).toEqual({ status: 'first' });
  });

  test('a getEvent that timed out still returns null after the crash, even once the event exists', async () => {
    const target = await t.engine.invoke(CrashProbe, 'event-source').afterSetEvent();
    await t.waitUntilBlocked('event-source', { kind: 'recv' });
    const handle = await t.engine.invoke(CrashProbe).afterGetEvent('not-yet-started');
    await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'getEvent' });
    await t.advance(5);
    await crashAtGate(handle.getWorkflowUUID());
    expect(await t.engine.retrieveWorkflow(handle.getWorkflowUUID()).getResult()).toBeNull();
    expect(target.getWorkflowUUID()).toBe('event-source');
  });

  test('a sleep that completed is not slept again after the crash', async () => {
    const handle = await t.engine.invoke(CrashProbe).afterSleep();
    const uuid = handle.getWorkflowUUID();
    await t.waitUntilBlocked(uuid, { kind: 'sleep' });
    await t.advance(3600);
    const before = t.clock.now();
    await crashAtGate(uuid);
    expect(await t.engine.retrieveWorkflow(uuid).getResult()).toBe('woke');
    expect(t.clock.now()).toBe(before);
  });

  test('a sleep interrupted by the crash sleeps only the time that remained', async () => {
    const handle = await t.engine.invoke(CrashProbe).afterSleep();
    const uuid = handle.getWorkflowUUID();
    const wait = await t.waitUntilBlocked(uuid, { kind: 'sleep' });
    await t.advance(1000);
    await t.crash();
    const resumed = await t.waitUntilBlocked(uuid, { kind: 'sleep' });
    expect(resumed.deadlineMs).toBe(wait.deadlineMs);
    await t.advance(2599);
    expect(t.waits(uuid).map((w) => w.kind)).toEqual(['sleep']);
    await t.advance(1);
    expect(t.waits(uuid).map((w) => w.kind)).toEqual(['recv']);
  });

  test('the crashed engine writes nothing more: its late step result is dropped', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let runs = 0;
    const slow = registerStep(`slow-${_label}`, async () => {
      runs++;
      await gate;
      return 'late';
    });
    const wf = registerWorkflow(`slow-wf-${_label}`, async (ctxt: WorkflowContext) => ctxt.runStep(slow));
    const handle = await t.engine.startWorkflow(wf, { workflowUUID: 'slow-1' });
    expect(handle.getWorkflowUUID()).toBe('slow-1');
    // Crash once the step runs: on SQLite it starts within a turn, on PostgreSQL a read later (its
    // start checks the row for a cancel).
    while (runs !== 1) await new Promise((resolve) => setImmediate(resolve));
    await t.crash();
    release();
    // The recovered run re-executes the step (its result was never recorded: at-least-once
    // execution) and records it once; the crashed engine's late result is dropped.
    expect(await t.engine.retrieveWorkflow('slow-1').getResult()).toBe('late');
    expect(runs).toBe(2);
    expect((await t.engine.retrieveWorkflow('slow-1').getStatus())?.status).toBe('SUCCESS');
  });
});
