import path from 'node:path';
import {
  MaxRecoveryAttemptsExceededError,
  registerWorkflow,
  type EngineWarning,
  type WorkflowContext,
} from '../lib';
import { encode } from '../lib/store/codec';
import { SqliteStore } from '../lib/store/sqlite-store';
import { openTestEngine, readLog, spawnFixture, tempDatabasePath } from './helpers';
import { blockedInRecv } from './wait-helpers';

const runs = { quick: 0 };
beforeEach(() => {
  runs.quick = 0;
});

const quick = registerWorkflow('recovery.quick', async (_ctxt: WorkflowContext, label: string) => {
  runs.quick++;
  return `finished ${label}`;
});

const waitsForApproval = registerWorkflow('recovery.waitsForApproval', async (ctxt: WorkflowContext) => {
  return ctxt.recv<string>('approval', 600);
});

/** Writes a PENDING workflow row straight into the store, as a crashed process would have left it. */
function writePendingWorkflow(database: string, workflowUUID: string, workflowName: string, inputs: unknown[], recoveryAttempts = 0): void {
  const store = SqliteStore.open(database, 'FULL');
  try {
    store.startWorkflow(workflowUUID, workflowName, encode(inputs), Date.now());
    store.workflows.setRecoveryAttempts(workflowUUID, recoveryAttempts, Date.now());
  } finally {
    store.close();
  }
}

function recoveryReport(line: string): { resumed: string[]; unregistered: string[]; givenUp: string[]; failed: string[] } {
  return JSON.parse(line.slice('recovery '.length));
}

describe('recovery of a workflow whose code is not registered', () => {
  test('it stays PENDING, other workflows still recover, and onWarning receives WORKFLOW_NOT_REGISTERED', async () => {
    const database = tempDatabasePath();
    writePendingWorkflow(database, 'orphan-1', 'Vanished.workflow', ['x']);
    writePendingWorkflow(database, 'known-1', quick.name, ['known']);

    for (let open = 0; open < 2; open++) {
      const warnings: EngineWarning[] = [];
      const engine = await openTestEngine({ database, onWarning: (warning) => warnings.push(warning) });
      expect(engine.recovery.unregistered).toEqual(['orphan-1']);
      expect(warnings).toEqual([
        {
          code: 'WORKFLOW_NOT_REGISTERED',
          workflowUUID: 'orphan-1',
          workflowName: 'Vanished.workflow',
          message: expect.stringContaining('"Vanished.workflow"'),
        },
      ]);
      expect(await engine.retrieveWorkflow('orphan-1').getStatus()).toMatchObject({
        status: 'PENDING',
        workflowName: 'Vanished.workflow',
        recoveryAttempts: 0,
      });
      expect(await engine.retrieveWorkflow('known-1').getResult()).toBe('finished known');
      await engine.close();
    }
    expect(runs.quick).toBe(1);
  });
});

describe('recovery attempts', () => {
  test('a workflow is resumed up to maxRecoveryAttempts times, then given up as MAX_RECOVERY_ATTEMPTS_EXCEEDED', async () => {
    const database = tempDatabasePath();
    writePendingWorkflow(database, 'last-chance', quick.name, ['last'], 2);
    writePendingWorkflow(database, 'hopeless', quick.name, ['hopeless'], 3);

    const engine = await openTestEngine({ database, maxRecoveryAttempts: 3 });
    expect(engine.recovery).toEqual({ resumed: ['last-chance'], unregistered: [], givenUp: ['hopeless'], failed: [] });
    expect(await engine.retrieveWorkflow('last-chance').getResult()).toBe('finished last');

    const result = engine.retrieveWorkflow('hopeless').getResult();
    await expect(result).rejects.toBeInstanceOf(MaxRecoveryAttemptsExceededError);
    await expect(result).rejects.toMatchObject({ code: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', workflowUUID: 'hopeless' });
    expect(await engine.retrieveWorkflow('hopeless').getStatus()).toMatchObject({ status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' });
    expect(runs.quick).toBe(1);
    await engine.close();

    const reopened = await openTestEngine({ database, maxRecoveryAttempts: 3 });
    expect(reopened.recovery).toEqual({ resumed: [], unregistered: [], givenUp: [], failed: [] });
    await expect(reopened.retrieveWorkflow('hopeless').getResult()).rejects.toBeInstanceOf(MaxRecoveryAttemptsExceededError);
    expect(runs.quick).toBe(1);
    await reopened.close();
  });

  test('a workflow that kills its process at the same point every time is given up after maxRecoveryAttempts', async () => {
    const database = tempDatabasePath();
    const log = path.join(path.dirname(database), 'steps.log');
    const args = (mode: string) => [database, log, '3', mode, 'always-1'];

    const start = spawnFixture('recovery-crash', args('start-always'));
    expect((await start.exited).signal).toBe('SIGKILL');
    for (let attempt = 1; attempt <= 3; attempt++) {
      const recovering = spawnFixture('recovery-crash', args('recover'));
      expect(recoveryReport(await recovering.waitForLine(/^recovery /))).toEqual({ resumed: ['always-1'], unregistered: [], givenUp: [], failed: [] });
      expect((await recovering.exited).signal).toBe('SIGKILL');
    }
    expect(readLog(log)).toEqual(['explode', 'explode', 'explode', 'explode']);

    const last = spawnFixture('recovery-crash', args('recover'));
    expect(recoveryReport(await last.waitForLine(/^recovery /))).toEqual({ resumed: [], unregistered: [], givenUp: ['always-1'], failed: [] });
    expect(await last.waitForLine(/^outcome /)).toBe('outcome rejected MaxRecoveryAttemptsExceededError MAX_RECOVERY_ATTEMPTS_EXCEEDED');
    expect((await last.exited).code).toBe(0);
    expect(readLog(log)).toHaveLength(4);

    const engine = await openTestEngine({ database });
    expect(await engine.retrieveWorkflow('always-1').getStatus()).toMatchObject({
      status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED',
      workflowName: 'Crashy.always',
      recoveryAttempts: 3,
    });
    await expect(engine.retrieveWorkflow('always-1').getResult()).rejects.toBeInstanceOf(MaxRecoveryAttemptsExceededError);
    await engine.close();
  }, 60_000);

  test('a workflow that records progress before each crash is never given up, however many times it crashes', async () => {
    const database = tempDatabasePath();
    const log = path.join(path.dirname(database), 'steps.log');
    const args = (mode: string) => [database, log, '2', mode, 'progressive-1'];

    const start = spawnFixture('recovery-crash', args('start-progressive'));
    expect((await start.exited).signal).toBe('SIGKILL');
    // Three recoveries in a row crash (more than maxRecoveryAttempts = 2), each after recording a step.
    for (let crash = 1; crash <= 3; crash++) {
      const recovering = spawnFixture('recovery-crash', args('recover'));
      expect(recoveryReport(await recovering.waitForLine(/^recovery /))).toEqual({ resumed: ['progressive-1'], unregistered: [], givenUp: [], failed: [] });
      expect((await recovering.exited).signal).toBe('SIGKILL');
    }
    const last = spawnFixture('recovery-crash', args('recover'));
    expect(recoveryReport(await last.waitForLine(/^recovery /)).givenUp).toEqual([]);
    expect(await last.waitForLine(/^outcome /)).toBe('outcome resolved [0,10,20,30]');
    expect((await last.exited).code).toBe(0);
    expect(readLog(log)).toEqual(['crash 0', 'ok 0', 'crash 1', 'ok 1', 'crash 2', 'ok 2', 'crash 3', 'ok 3']);
  }, 60_000);

  test('a workflow waiting in recv across more reopenings than maxRecoveryAttempts is not given up', async () => {
    const database = tempDatabasePath();
    const first = await openTestEngine({ database, maxRecoveryAttempts: 2 });
    await first.startWorkflow(waitsForApproval, { workflowUUID: 'patient-1' });
    await blockedInRecv(first, 'patient-1', 'approval');
    await first.close();

    for (let reopen = 1; reopen <= 5; reopen++) {
      const engine = await openTestEngine({ database, maxRecoveryAttempts: 2 });
      expect(engine.recovery).toEqual({ resumed: ['patient-1'], unregistered: [], givenUp: [], failed: [] });
      await blockedInRecv(engine, 'patient-1', 'approval');
      // Reaching its wait again counts as progress: the attempt count restarts.
      expect(await engine.retrieveWorkflow('patient-1').getStatus()).toMatchObject({ status: 'PENDING', recoveryAttempts: 0 });
      await engine.close();
    }

    const engine = await openTestEngine({ database, maxRecoveryAttempts: 2 });
    await blockedInRecv(engine, 'patient-1', 'approval');
    await engine.send('patient-1', 'approved', 'approval');
    expect(await engine.retrieveWorkflow('patient-1').getResult()).toBe('approved');
    await engine.close();
  });
});
