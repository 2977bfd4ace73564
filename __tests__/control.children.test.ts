// Cancel of a parent with children: with cancelChildren every PENDING descendant is cancelled in the
// same commit and each one's waits end at once; without it, only the parent stops and its children go on.
import { registerWorkflow, WorkflowCancelledError, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit } from './helpers';

const grandchild = registerWorkflow('control.children.grandchild', async (ctxt: WorkflowContext) => ctxt.recv<string>('go', 3600));
const child = registerWorkflow('control.children.child', async (ctxt: WorkflowContext) => {
  const handle = await ctxt.startChildWorkflow(grandchild);
  const own = await ctxt.recv<string>('go', 3600);
  return `${own} ${await handle.getResult()}`;
});
const parent = registerWorkflow('control.children.parent', async (ctxt: WorkflowContext) => ctxt.childWorkflow(child));

let t: TestEngine;

beforeEach(async () => {
  t = await openTestKit();
});

afterEach(async () => {
  await t.close();
});

async function startFamily(uuid: string): Promise<void> {
  await t.engine.startWorkflow(parent, { workflowUUID: uuid });
  await t.waitUntilBlocked(uuid, { kind: 'result' });
  await t.waitUntilBlocked(`${uuid}-0`, { kind: 'recv' });
  await t.waitUntilBlocked(`${uuid}-0-0`, { kind: 'recv' });
}

describe('cancelWorkflow with children', () => {
  test('cancelChildren cancels every PENDING descendant in the same commit, and every wait of theirs ends at once', async () => {
    await startFamily('family');
    const startedAtMs = t.clock.now();
    const result = await t.engine.cancelWorkflow('family', { cancelChildren: true });
    expect(result).toEqual({ previousStatus: 'PENDING', cancelled: ['family', 'family-0', 'family-0-0'] });
    expect(t.waits()).toEqual([]);
    expect(t.clock.now()).toBe(startedAtMs);
    for (const uuid of result.cancelled) {
      await expect(t.engine.retrieveWorkflow(uuid).getResult()).rejects.toBeInstanceOf(WorkflowCancelledError);
    }
  });

  test('without cancelChildren the children go on and finish', async () => {
    await startFamily('parent-only');
    expect(await t.engine.cancelWorkflow('parent-only')).toEqual({ previousStatus: 'PENDING', cancelled: ['parent-only'] });
    expect(t.waits('parent-only')).toEqual([]);
    await t.engine.send('parent-only-0-0', 'g', 'go');
    await t.engine.send('parent-only-0', 'c', 'go');
    expect(await t.engine.retrieveWorkflow('parent-only-0').getResult()).toBe('c g');
    // A later cancelChildren on the cancelled parent still reaches what is PENDING below it: nothing now.
    expect(await t.engine.cancelWorkflow('parent-only', { cancelChildren: true })).toEqual({ previousStatus: 'CANCELLED', cancelled: [] });
  });
});
