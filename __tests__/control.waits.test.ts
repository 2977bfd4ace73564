// Cancel ends every kind of wait at once: the wait ends right after the cancel's commit, without
// virtual time moving, the workflow's code meets WorkflowCancelledError, and nothing after it is
// recorded. Under TestEngine, so "at once" is exact: the clock never moves.
import { registerWorkflow, WorkflowCancelledError, WorkflowNotFoundError, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit } from './helpers';

/** What each workflow's code met, by UUID: the error its wait rejected with. */
const met = new Map<string, unknown>();

async function meet(ctxt: WorkflowContext, wait: () => Promise<unknown>): Promise<string> {
  try {
    await wait();
  } catch (error) {
    met.set(ctxt.workflowUUID, error);
    // The run stops here: this never settles, and records nothing.
    await ctxt.setEvent('after-cancel', true);
  }
  return 'not reached';
}

const inRecv = registerWorkflow('control.waits.recv', (ctxt: WorkflowContext) => meet(ctxt, () => ctxt.recv('never', 3600)));
const inGetEvent = registerWorkflow('control.waits.getEvent', (ctxt: WorkflowContext) => meet(ctxt, () => ctxt.getEvent('nobody', 'never', 3600)));
const inSelect = registerWorkflow('control.waits.select', (ctxt: WorkflowContext) =>
  meet(ctxt, () => ctxt.select([{ recv: 'never' }, { getEvent: { workflowUUID: 'nobody', key: 'never' } }], 3600)));
const inSleep = registerWorkflow('control.waits.sleep', (ctxt: WorkflowContext) => meet(ctxt, () => ctxt.sleep(3600)));
const child = registerWorkflow('control.waits.child', async (ctxt: WorkflowContext) => ctxt.recv('never', 3600));
const inChildResult = registerWorkflow('control.waits.childResult', (ctxt: WorkflowContext) => meet(ctxt, () => ctxt.childWorkflow(child)));

let t: TestEngine;

beforeEach(async () => {
  t = await openTestKit();
  met.clear();
});

afterEach(async () => {
  await t.close();
});

describe('cancelWorkflow', () => {
  test.each([
    ['recv', inRecv, 'recv'],
    ['getEvent', inGetEvent, 'getEvent'],
    ['select', inSelect, 'select'],
    ['sleep', inSleep, 'sleep'],
    ['a child result', inChildResult, 'result'],
  ] as const)('a workflow waiting in %s is cancelled: the wait ends at once after the commit, without time moving', async (_name, workflow, kind) => {
    const uuid = `wait-${kind}`;
    const handle = await t.engine.startWorkflow(workflow, { workflowUUID: uuid });
    await t.waitUntilBlocked(uuid, { kind });
    const operationsBefore = await t.engine.listOperations(uuid);
    const startedAtMs = t.clock.now();
    const ended: string[] = [];
    t.engine.events.on('waitEnded', (wait, outcome) => {
      if (wait.workflowUUID === uuid) ended.push(outcome);
    });

    const result = await t.engine.cancelWorkflow(uuid);

    // By the time the cancel resolves, the wait has ended: no deadline fired, the clock stood still.
    expect(result).toEqual({ previousStatus: 'PENDING', cancelled: [uuid] });
    expect(ended).toEqual(['failed']);
    expect(t.waits(uuid)).toEqual([]);
    expect(t.clock.now()).toBe(startedAtMs);
    await t.runUntilIdle();
    expect(met.get(uuid)).toBeInstanceOf(WorkflowCancelledError);
    expect((met.get(uuid) as WorkflowCancelledError).workflowUUID).toBe(uuid);
    await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowCancelledError);
    expect((await handle.getStatus())?.status).toBe('CANCELLED');
    // Nothing after the cancel was recorded: the setEvent after the catch never ran.
    const operationsAfter = await t.engine.listOperations(uuid);
    expect(operationsAfter.map((operation) => operation.operationIndex)).toEqual(operationsBefore.map((operation) => operation.operationIndex));
    expect(await t.engine.listEvents(uuid)).toEqual({});
    expect(await t.engine.listWaits({ workflowUUID: uuid })).toEqual([]);
  });

  test('a result wait outside workflows ends at once with WorkflowCancelledError', async () => {
    const handle = await t.engine.startWorkflow(inRecv, { workflowUUID: 'awaited' });
    await t.waitUntilBlocked('awaited', { kind: 'recv' });
    const result = handle.getResult();
    await t.engine.cancelWorkflow('awaited');
    await expect(result).rejects.toBeInstanceOf(WorkflowCancelledError);
  });

  test('a finished workflow is left as it is, a cancelled one stays cancelled, an unknown UUID is WorkflowNotFoundError', async () => {
    const done = registerWorkflow('control.waits.done', async () => 'done');
    const handle = await t.engine.startWorkflow(done, { workflowUUID: 'done' });
    expect(await handle.getResult()).toBe('done');
    expect(await t.engine.cancelWorkflow('done')).toEqual({ previousStatus: 'SUCCESS', cancelled: [] });
    expect(await handle.getResult()).toBe('done');

    await t.engine.startWorkflow(inRecv, { workflowUUID: 'twice' });
    await t.waitUntilBlocked('twice');
    expect(await t.engine.cancelWorkflow('twice')).toEqual({ previousStatus: 'PENDING', cancelled: ['twice'] });
    expect(await t.engine.cancelWorkflow('twice')).toEqual({ previousStatus: 'CANCELLED', cancelled: [] });

    await expect(t.engine.cancelWorkflow('nobody')).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(t.engine.resumeWorkflow('nobody')).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  test('messages to a cancelled workflow are refused with WorkflowCancelledError and nothing is stored', async () => {
    await t.engine.startWorkflow(inRecv, { workflowUUID: 'closed' });
    await t.waitUntilBlocked('closed');
    await t.engine.cancelWorkflow('closed');
    await expect(t.engine.send('closed', 'hello', 'never')).rejects.toMatchObject({ code: 'WORKFLOW_CANCELLED', workflowUUID: 'closed' });
    await expect(t.engine.sendMany([{ destinationUUID: 'closed', message: 'hello' }])).rejects.toBeInstanceOf(WorkflowCancelledError);
    expect(await t.engine.listMessages('closed')).toEqual([]);
  });
});
