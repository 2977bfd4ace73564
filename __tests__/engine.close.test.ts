import Database from 'better-sqlite3';
import { EngineClosedError, registerStep, registerWorkflow, type StepContext, type WorkflowContext } from '../lib';
import { openTestEngine, spawnFixture, tempDatabasePath } from './helpers';
import { blockedInRecv } from './wait-helpers';

const approval = registerWorkflow('close.approval', async (ctxt: WorkflowContext, documentName: string) => {
  const verdict = await ctxt.recv<string>('approval', 600);
  return `${documentName}:${verdict}`;
});

/** A step the test holds open, to close the engine while it runs. */
const steps = { runs: 0, started: null as (() => void) | null, release: Promise.resolve() };
const slowStep = registerStep('close.slowStep', async (_ctxt: StepContext) => {
  steps.runs++;
  steps.started?.();
  await steps.release;
  return steps.runs;
});
const withSlowStep = registerWorkflow('close.withSlowStep', async (ctxt: WorkflowContext) => ctxt.runStep(slowStep));

/** What a promise settled with: its value, or the error it rejected with. */
function settled(promise: Promise<unknown>): Promise<{ value?: unknown; error?: unknown }> {
  return promise.then((value) => ({ value }), (error: unknown) => ({ error }));
}

function storedStatus(database: string, workflowUUID: string): string | undefined {
  const db = new Database(database, { readonly: true });
  try {
    return (db.prepare('SELECT status FROM workflows WHERE workflow_uuid = ?').get(workflowUUID) as { status: string } | undefined)?.status;
  } finally {
    db.close();
  }
}

describe('closing the engine', () => {
  test('close() while a workflow waits rejects pending getResult and getEvent with EngineClosedError', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database });
    const handle = await engine.startWorkflow(approval, { workflowUUID: 'closing-1' }, 'contract');
    await blockedInRecv(engine, 'closing-1', 'approval');
    const result = settled(handle.getResult());
    const event = settled(engine.getEvent('closing-1', 'never-set', 60));

    await engine.close();
    for (const { error } of [await result, await event]) {
      expect(error).toBeInstanceOf(EngineClosedError);
      expect(error).toMatchObject({ code: 'ENGINE_CLOSED' });
    }
  });

  test('a workflow waiting at close stays PENDING in the file and completes after reopening', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(approval, { workflowUUID: 'closing-2' }, 'memo');
    await blockedInRecv(engine, 'closing-2', 'approval');
    await engine.close();
    expect(storedStatus(database, 'closing-2')).toBe('PENDING');

    const reopened = await openTestEngine({ database });
    expect(reopened.recovery.resumed).toEqual(['closing-2']);
    await blockedInRecv(reopened, 'closing-2', 'approval');
    await reopened.send('closing-2', 'approved', 'approval');
    expect(await reopened.retrieveWorkflow('closing-2').getResult()).toBe('memo:approved');
    await reopened.close();
    expect(storedStatus(database, 'closing-2')).toBe('SUCCESS');
  });

  test('a step still running at close is not recorded and runs again after reopening', async () => {
    const database = tempDatabasePath();
    let release!: () => void;
    steps.release = new Promise((resolve) => (release = resolve));
    const started = new Promise<void>((resolve) => (steps.started = resolve));
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(withSlowStep, { workflowUUID: 'closing-step' });
    await started;
    await engine.close();
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(storedStatus(database, 'closing-step')).toBe('PENDING');

    steps.started = null;
    const reopened = await openTestEngine({ database });
    expect(await reopened.retrieveWorkflow('closing-step').getResult()).toBe(2);
    expect(steps.runs).toBe(2);
    await reopened.close();
  });

  test('close() is idempotent', async () => {
    const engine = await openTestEngine();
    await engine.close();
    await expect(engine.close()).resolves.toBeUndefined();
    await expect(engine.close()).resolves.toBeUndefined();
    expect(engine.isOpen).toBe(false);
  });

  test('calls after close reject with EngineClosedError', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(approval, { workflowUUID: 'after-close' }, 'draft');
    await blockedInRecv(engine, 'after-close');
    await engine.close();

    const calls: [string, () => Promise<unknown>][] = [
      ['startWorkflow', () => engine.startWorkflow(approval, {}, 'late')],
      ['send', () => engine.send('after-close', 'late', 'approval')],
      ['getEvent', () => engine.getEvent('after-close', 'key', 1)],
      ['getEvent with timeout 0', () => engine.getEvent('after-close', 'key', 0)],
      ['listEvents', () => engine.listEvents('after-close')],
      ['listMessages', () => engine.listMessages('after-close')],
      ['handle.getStatus', () => handle.getStatus()],
      ['handle.getResult', () => handle.getResult()],
      ['retrieveWorkflow().getResult', () => engine.retrieveWorkflow('after-close').getResult()],
    ];
    for (const [name, call] of calls) {
      const { error } = await settled(call());
      expect([name, error]).toEqual([name, expect.any(EngineClosedError)]);
    }
  });

  test('after close nothing keeps the process alive: it exits by itself at once', async () => {
    const database = tempDatabasePath();
    const child = spawnFixture('close-exit', [database, 'close']);
    await child.waitForLine('closed');
    const closedAtMs = Date.now();
    const exit = await child.exited;
    expect(Date.now() - closedAtMs).toBeLessThan(5_000);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    expect(child.lines).toEqual(['result rejected ENGINE_CLOSED', 'event rejected ENGINE_CLOSED', 'closed']);
    expect(storedStatus(database, 'exit-close')).toBe('PENDING');
  }, 30_000);

  test('a pending wait with a deadline keeps an open engine\'s process alive until it times out, and no longer', async () => {
    const database = tempDatabasePath();
    const child = spawnFixture('close-exit', [database, 'timeout']);
    await child.waitForLine('started');
    const startedAtMs = Date.now();
    const exit = await child.exited;
    const aliveMs = Date.now() - startedAtMs;
    expect(exit.code).toBe(0);
    expect(child.lines).toEqual(['started', 'result null']);
    expect(aliveMs).toBeGreaterThanOrEqual(1_200);
    expect(aliveMs).toBeLessThan(6_000);
  }, 30_000);
});
