// Recovery under pressure, in real processes: clients starting workflows while an owner recovers a
// large file, a workflow that kills its process synchronously on every run, and opens that fail then
// succeed in the same process.
import path from 'node:path';
import {
  Client,
  DatabaseOwnedError,
  DurabliteError,
  registerWorkflow,
  StorageError,
  type WorkflowContext,
} from '../lib';
import { encode } from '../lib/store/codec';
import { SqliteStore } from '../lib/store/sqlite-store';
import { TestEngine } from '../lib/testing';
import { openTestEngine, readLog, removeTempFolder, spawnFixture, tempDatabasePath } from './helpers';
import { blockedInRecv } from './wait-helpers';

const waitsForGo = registerWorkflow('recoveryRace.waitsForGo', async (ctxt: WorkflowContext) => {
  const message = await ctxt.recv<string>('go', 600);
  return `got ${message}`;
});

/** Writes PENDING workflow rows straight into the store, in one commit, as a crashed process would have left them. */
function writePendingWorkflows(database: string, workflows: { uuid: string; name: string; inputs: unknown[] }[]): void {
  const store = SqliteStore.open(database, 'NORMAL');
  try {
    const nowMs = Date.now();
    for (const { uuid, name, inputs } of workflows) store.startWorkflow(uuid, name, encode(inputs), nowMs);
  } finally {
    store.close(); // commits the writes
  }
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newDatabase(name: string): string {
  const database = tempDatabasePath(name);
  cleanups.push(() => removeTempFolder(database));
  return database;
}

describe('the recovery race', () => {
  test('every workflow a Client starts while the owner opens a file of 20,000 PENDING workflows is run', async () => {
    const database = newDatabase('race');
    const pending = 20_000;
    const buildingMs = performance.now();
    writePendingWorkflows(database, Array.from({ length: pending }, (_, n) => ({ uuid: `pending-${n}`, name: 'race.double', inputs: [n] })));
    const buildMs = Math.round(performance.now() - buildingMs);

    const client = spawnFixture('recovery-race-client', [database]);
    cleanups.push(() => client.kill());
    await client.waitForLine(/^started /);
    const startedBefore = (): number => Number(client.lines.filter((line) => line.startsWith('started ')).at(-1)!.split(' ')[1]);
    const beforeOwner = startedBefore();

    const openingMs = performance.now();
    const owner = spawnFixture('recovery-race-owner', [database]);
    cleanups.push(() => owner.kill());
    const opened = JSON.parse((await owner.waitForLine(/^opened /, 30_000)).slice('opened '.length)) as { resumed: number; openMs: number };
    const whenOpened = startedBefore();
    // Let the client go on a little after the open, then stop it.
    await client.waitForLine(`started ${whenOpened + 2_000}`, 30_000);
    client.process.kill('SIGUSR2');
    const done = JSON.parse((await client.waitForLine(/^done /, 30_000)).slice('done '.length)) as { started: number; failedBatches: number };
    expect((await client.exited).code).toBe(0);

    owner.process.kill('SIGUSR2');
    const finished = await owner.waitForLine(/^all-finished /, 40_000).then(
      (line) => (JSON.parse(line.slice('all-finished '.length)) as { finished: number }).finished,
      () => null,
    );
    const runMs = Math.round(performance.now() - openingMs);
    if (finished !== null) expect((await owner.exited).code).toBe(0);
    else await owner.kill();

    const reader = await Client.open({ database });
    cleanups.push(() => reader.close());
    const workflows = await reader.listWorkflows();
    const byUUID = new Map(workflows.map((workflow) => [workflow.workflowUUID, workflow]));
    const clientUUIDs = Array.from({ length: done.started }, (_, n) => `client-${n}`);
    const notRun = clientUUIDs.filter((uuid) => byUUID.get(uuid)?.status !== 'SUCCESS');
    const fromRecovery = opened.resumed - pending;
    console.log(
      `recovery race: ${pending} PENDING written in ${buildMs} ms; the owner's open took ${opened.openMs} ms and resumed ${opened.resumed} ` +
        `(${fromRecovery} client starts committed before its snapshot); the client started ${done.started} in all ` +
        `(${beforeOwner} before the owner was spawned, ${whenOpened} by the time it had opened, ${done.started - fromRecovery} after the snapshot; ` +
        `${done.failedBatches} batches failed and were retried); ${notRun.length} not run; everything finished ${runMs} ms after the owner was spawned`,
    );

    expect(notRun).toEqual([]);
    expect(finished).toBe(pending + done.started);
    expect(workflows).toHaveLength(pending + done.started);
    const results = await Promise.all(clientUUIDs.map((uuid) => reader.retrieveWorkflow(uuid).getResult()));
    expect(results).toEqual(clientUUIDs.map((_, n) => 2 * n));
    expect(workflows.every((workflow) => workflow.status === 'SUCCESS')).toBe(true);
    // Clients kept starting workflows across the whole open: some were recovered, others arrived after it.
    expect(fromRecovery).toBeGreaterThan(0);
    expect(done.started - fromRecovery).toBeGreaterThan(0);
  }, 90_000);
});

describe('a synchronous crash loop', () => {
  test('a workflow whose step kills its process before any await, on every run, is given up after maxRecoveryAttempts; the other PENDING workflow still completes', async () => {
    const database = newDatabase('sync-crash');
    const log = path.join(path.dirname(database), 'steps.log');
    const maxRecoveryAttempts = 3;
    writePendingWorkflows(database, [
      { uuid: 'patient-1', name: 'syncCrash.patient', inputs: [] },
      { uuid: 'crasher-1', name: 'syncCrash.always', inputs: [] },
    ]);
    const attemptsOf = async (): Promise<Record<string, number>> => {
      const reader = await Client.open({ database });
      try {
        const workflows = await reader.listWorkflows();
        return Object.fromEntries(workflows.map((workflow) => [workflow.workflowUUID, workflow.recoveryAttempts]));
      } finally {
        await reader.close();
      }
    };

    // Each open resumes both and dies inside Engine.open, before it prints anything: the crash is
    // synchronous. crasher-1 runs first (same creation time, UUID order): patient-1 never gets a turn.
    const history: Record<string, number>[] = [];
    for (let attempt = 1; attempt <= maxRecoveryAttempts; attempt++) {
      const opening = spawnFixture('recovery-sync-crash', [database, log, String(maxRecoveryAttempts)]);
      cleanups.push(() => opening.kill());
      const exit = await opening.exited;
      expect(exit.signal).toBe('SIGKILL');
      expect(opening.lines).toEqual([]);
      expect(readLog(log)).toHaveLength(attempt);
      // The attempt was committed before the workflow ran a line of code.
      history.push(await attemptsOf());
      expect(history.at(-1)!['crasher-1']).toBe(attempt);
    }
    console.log(`synchronous crash loop: recovery attempts after each of ${maxRecoveryAttempts} crashed opens: ${JSON.stringify(history)}`);

    const last = spawnFixture('recovery-sync-crash', [database, log, String(maxRecoveryAttempts)]);
    cleanups.push(() => last.kill());
    const report = JSON.parse((await last.waitForLine(/^recovery /)).slice('recovery '.length));
    expect(report).toEqual({ resumed: ['patient-1'], unregistered: [], givenUp: ['crasher-1'], failed: [] });
    expect(await last.waitForLine(/^outcome crasher-1 /)).toBe('outcome crasher-1 rejected MaxRecoveryAttemptsExceededError MAX_RECOVERY_ATTEMPTS_EXCEEDED');
    expect(await last.waitForLine(/^outcome patient-1 /)).toBe('outcome patient-1 resolved "got go"');
    expect((await last.exited).code).toBe(0);
    expect(readLog(log)).toHaveLength(maxRecoveryAttempts);
  }, 60_000);
});

describe('a failed open followed by a successful one in the same process', () => {
  test('a recovery pass whose commit fails rejects with StorageError; the next open of the file in this process recovers the workflow', async () => {
    const database = newDatabase('reopen');
    const t = await TestEngine.open({ database });
    await t.engine.startWorkflow(waitsForGo, { workflowUUID: 'reopen-1' });
    await t.waitUntilBlocked('reopen-1', { kind: 'recv' });

    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
    const failed = t.crash();
    await expect(failed).rejects.toBeInstanceOf(StorageError);
    await expect(failed).rejects.toMatchObject({ code: 'STORAGE_FAILED', storageCode: 'SQLITE_IOERR' });
    expect(t.pendingFaults).toBe(0);

    // The same TestEngine opens the file again: nothing of the failed open is in the way.
    const reopened = await t.crash();
    expect(reopened.recovery).toEqual({ resumed: ['reopen-1'], unregistered: [], givenUp: [], failed: [] });
    await t.waitUntilBlocked('reopen-1', { kind: 'recv' });

    // Once more, then a plain Engine.open in this process takes over the file.
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
    await expect(t.crash()).rejects.toBeInstanceOf(StorageError);
    await t.close();
    // On the same clock: the recv's deadline was recorded in the TestEngine's virtual time.
    const engine = await openTestEngine({ database, clock: t.clock });
    expect(engine.recovery).toEqual({ resumed: ['reopen-1'], unregistered: [], givenUp: [], failed: [] });
    await blockedInRecv(engine, 'reopen-1', 'go');
    await engine.send('reopen-1', 'go', 'go');
    expect(await engine.retrieveWorkflow('reopen-1').getResult()).toBe('got go');
    expect((await engine.listOperations('reopen-1')).map(({ kind, output }) => [kind, output])).toEqual([['recv', 'go']]);
    await engine.close();
  }, 30_000);

  test('an Engine.open that fails because another process holds the write lock past busy_timeout releases the file; the next open in this process succeeds', async () => {
    const database = newDatabase('locked-open');
    const first = await openTestEngine({ database });
    await first.startWorkflow(waitsForGo, { workflowUUID: 'locked-1' });
    await blockedInRecv(first, 'locked-1', 'go');
    await first.close();

    const holder = spawnFixture('hold-write-lock', [database]);
    cleanups.push(() => holder.kill());
    await holder.waitForLine('locked');
    const failed = openTestEngine({ database });
    const error = await failed.then(() => null, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(DurabliteError);
    expect(error).not.toBeInstanceOf(DatabaseOwnedError);
    const { storageCode, cause } = error as { storageCode?: string; cause?: { code?: string } };
    expect(storageCode ?? cause?.code).toBe('SQLITE_BUSY');

    holder.process.kill('SIGUSR2');
    await holder.waitForLine('released');
    expect((await holder.exited).code).toBe(0);

    const engine = await openTestEngine({ database });
    expect(engine.recovery).toEqual({ resumed: ['locked-1'], unregistered: [], givenUp: [], failed: [] });
    await blockedInRecv(engine, 'locked-1', 'go');
    await engine.send('locked-1', 'go', 'go');
    expect(await engine.retrieveWorkflow('locked-1').getResult()).toBe('got go');
    await engine.close();
  }, 60_000);
});
