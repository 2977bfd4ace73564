// Fork: a new workflow with the original's inputs replays the original's first `fromOperation`
// operations from copies of its records (and of the events, consumed messages and stream values
// they wrote), and runs on from there: a step below the index is never run again, one at or past it is.
import { registerStep, registerWorkflow, WorkflowConflictError, WorkflowNotFoundError, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { openTestKit } from './helpers';

const runs = new Map<string, number>();

const countStep = registerStep('control.fork.count', async (ctxt: StepContext, name: string) => {
  runs.set(name, (runs.get(name) ?? 0) + 1);
  await ctxt.writeStream('log', `step ${name}`);
  return `${name}:${runs.get(name)}`;
});

const child = registerWorkflow('control.fork.child', async (ctxt: WorkflowContext, label: string) => {
  runs.set('child', (runs.get('child') ?? 0) + 1);
  await ctxt.setEvent('ready', `child of ${label}`);
  return `child ${label}`;
});

/** Every operation kind, one per index (see OPERATIONS). */
const everything = registerWorkflow('control.fork.everything', async (ctxt: WorkflowContext, label: string) => {
  const a = await ctxt.runStep(countStep, 'a');
  const nowMs = await ctxt.now();
  const uuid = await ctxt.randomUUID();
  await ctxt.setEvent('stage', 'one');
  await ctxt.writeStream('log', 'workflow');
  const childHandle = await ctxt.startChildWorkflow(child, label);
  const childUUID = childHandle.getWorkflowUUID();
  await ctxt.send(ctxt.workflowUUID, 'never read', 'self');
  const received = await ctxt.recv<string>('in', 3600);
  const selected = await ctxt.select<string>([{ recv: 'sel' }, { getEvent: { workflowUUID: childUUID, key: 'never' } }], 3600);
  const ready = await ctxt.getEvent<string>(childUUID, 'ready', 3600);
  await ctxt.sleep(5);
  const b = await ctxt.runStep(countStep, 'b');
  await ctxt.closeStream('log');
  await ctxt.setEvent('stage2', 'two');
  const childResult = await childHandle.getResult();
  return { a, nowMs, uuid, childUUID, received, selected: selected?.value, ready, b, childResult };
});

type Result = { a: string; nowMs: number; uuid: string; childUUID: string; received: string | null; selected: string | undefined; ready: string | null; b: string; childResult: string };

let t: TestEngine;

beforeEach(async () => {
  runs.clear();
  t = await openTestKit();
});

afterEach(async () => {
  await t.close();
});

async function runOriginal(): Promise<Result> {
  const handle = await t.engine.startWorkflow(everything, { workflowUUID: 'original' }, 'x');
  await t.engine.send('original', 'first in', 'in');
  await t.engine.send('original', 'first sel', 'sel');
  await t.waitUntilBlocked('original', { kind: 'sleep' });
  await t.advance(5);
  return handle.getResult();
}

const comparable = (operations: { kind: string; name: string; output: unknown; error: unknown }[]) =>
  operations.map(({ kind, name, output, error }) => ({ kind, name, output, error }));

describe('forkWorkflow', () => {
  test('fork from each operation index of a workflow that used every operation kind', async () => {
    const original = await runOriginal();
    const recorded = await t.engine.listOperations('original');
    const kinds = recorded.map((operation) => operation.kind);
    expect(kinds).toEqual(expect.arrayContaining(['step', 'now', 'randomUUID', 'setEvent', 'writeStream', 'child', 'send', 'recv', 'select', 'getEvent', 'sleep', 'closeStream']));
    const stepAIndex = kinds.indexOf('step');
    const stepBIndex = kinds.lastIndexOf('step');
    const childIndex = kinds.indexOf('child');
    const sendIndex = kinds.indexOf('send');
    const recvIndex = kinds.indexOf('recv');
    const selectIndex = kinds.indexOf('select');
    const originalEvents = await t.engine.listEvents('original');
    const originalMessages = await t.engine.listMessages('original');

    for (let k = 0; k <= recorded.length; k++) {
      const before = new Map(runs);
      const fork = await t.engine.forkWorkflow<Result>('original', { fromOperation: k, newWorkflowUUID: `fork-${k}` });
      expect(fork.getWorkflowUUID()).toBe(`fork-${k}`);
      if (k <= recvIndex) await t.engine.send(`fork-${k}`, `fork ${k} in`, 'in');
      if (k <= selectIndex) await t.engine.send(`fork-${k}`, `fork ${k} sel`, 'sel');
      if (k <= stepBIndex) {
        await t.waitUntilBlocked(`fork-${k}`, { kind: 'sleep' }).catch(() => {});
        await t.advance(5);
      }
      const result = await fork.getResult();
      expect((await fork.getStatus())!.status).toBe('SUCCESS');

      // Its first k records are the original's, as recorded.
      const forkOperations = await t.engine.listOperations(`fork-${k}`);
      expect(comparable(forkOperations.slice(0, k))).toEqual(comparable(recorded.slice(0, k)));
      expect(forkOperations.map((operation) => operation.kind)).toEqual(kinds);

      // Steps below k ran once, in the original; from k on they ran again.
      const ranAgain = (name: string): number => (runs.get(name) ?? 0) - (before.get(name) ?? 0);
      expect(ranAgain('a')).toBe(k <= stepAIndex ? 1 : 0);
      expect(ranAgain('b')).toBe(k <= stepBIndex ? 1 : 0);
      expect(ranAgain('child')).toBe(k <= childIndex ? 1 : 0);
      expect(result.a).toBe(k <= stepAIndex ? `a:${runs.get('a')}` : original.a);
      expect(result.childUUID === original.childUUID).toBe(k > childIndex);
      expect(result.received).toBe(k <= recvIndex ? `fork ${k} in` : original.received);
      expect(result.selected).toBe(k <= selectIndex ? `fork ${k} sel` : original.selected);

      // What its operations wrote: the same events, its consumed messages, the same stream.
      expect(await t.engine.listEvents(`fork-${k}`)).toEqual(originalEvents);
      const messages = await t.engine.listMessages(`fork-${k}`);
      expect(messages.filter((message) => message.consumed).map((message) => message.message).sort()).toEqual([
        k <= recvIndex ? `fork ${k} in` : 'first in',
        k <= selectIndex ? `fork ${k} sel` : 'first sel',
      ].sort());
      expect(messages.some((message) => message.topic === 'self')).toBe(k <= sendIndex);
      const values: string[] = [];
      for await (const value of t.engine.readStream<string>(`fork-${k}`, 'log')) values.push(value);
      expect(values).toEqual(['step a', 'workflow', 'step b']);
    }
    // The original is as it was: its unconsumed message stays with it.
    expect(await t.engine.listMessages('original')).toEqual(originalMessages);
  });

  test('hostile inputs are refused and write nothing', async () => {
    const { childUUID } = await runOriginal();
    const count = (await t.engine.listOperations('original')).length;
    await expect(t.engine.forkWorkflow('nobody', { fromOperation: 0 })).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(t.engine.forkWorkflow('original', { fromOperation: -1 })).rejects.toThrow(RangeError);
    await expect(t.engine.forkWorkflow('original', { fromOperation: 1.5 })).rejects.toThrow(RangeError);
    await expect(t.engine.forkWorkflow('original', { fromOperation: count + 1 })).rejects.toThrow(RangeError);
    await expect(t.engine.forkWorkflow('original', { fromOperation: '1' as unknown as number })).rejects.toThrow(TypeError);
    await expect(t.engine.forkWorkflow('original', undefined as unknown as { fromOperation: number })).rejects.toThrow(TypeError);
    await expect(t.engine.forkWorkflow('', { fromOperation: 0 })).rejects.toThrow(TypeError);
    await expect(t.engine.forkWorkflow('original', { fromOperation: 0, newWorkflowUUID: 'original' })).rejects.toBeInstanceOf(WorkflowConflictError);
    await expect(t.engine.forkWorkflow('original', { fromOperation: 0, newWorkflowUUID: childUUID })).rejects.toBeInstanceOf(WorkflowConflictError);
    expect((await t.engine.listWorkflows()).map((workflow) => workflow.workflowUUID).sort()).toEqual(['original', childUUID].sort());
  });

  test('a fork of a PENDING workflow copies what it completed, gets a fresh UUID, and the original goes on', async () => {
    await t.engine.startWorkflow(everything, { workflowUUID: 'waiting' }, 'y');
    await t.waitUntilBlocked('waiting', { kind: 'recv' });
    const count = (await t.engine.listOperations('waiting')).length;
    const fork = await t.engine.forkWorkflow<Result>('waiting', { fromOperation: count });
    expect(fork.getWorkflowUUID()).not.toBe('waiting');
    // The recv under way was not copied: the fork waits anew, on its own queue.
    const originalRecv = (await t.engine.listOperations('waiting'))[count - 1]!;
    await t.waitUntilBlocked(fork.getWorkflowUUID(), { kind: 'recv' });
    const forkRecv = (await t.engine.listOperations(fork.getWorkflowUUID()))[count - 1]!;
    expect([originalRecv.kind, originalRecv.completedAt, forkRecv.kind, forkRecv.completedAt]).toEqual(['recv', null, 'recv', null]);
    expect(forkRecv.startedAt).toBeGreaterThanOrEqual(originalRecv.startedAt);
    for (const uuid of ['waiting', fork.getWorkflowUUID()]) {
      await t.engine.send(uuid, 'in', 'in');
      await t.engine.send(uuid, 'sel', 'sel');
    }
    await t.advance(5);
    const result = await fork.getResult();
    expect(result.received).toBe('in');
    expect(runs.get('a')).toBe(1);
    expect(await t.engine.retrieveWorkflow('waiting').getResult()).toMatchObject({ received: 'in' });
  });
});
