// Real storage faults, in real processes: a file-size limit (`ulimit -f`) that makes WAL writes fail
// with SQLITE_IOERR, another process holding the write lock past busy_timeout (SQLITE_BUSY), and a
// full disk (SQLITE_FULL). In each, no workflow goes on past a commit that failed, the workflow
// resumes in the same process once the fault clears, and no message or record is doubled or lost.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  Client,
  registerStep,
  registerWorkflow,
  StorageError,
  StorageFullError,
  type Engine,
  type EngineWarning,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, readLog, removeTempFolder, spawnFixture, tempDatabasePath, watchOpenedConnections } from './helpers';
import type { SqliteDatabase } from '../lib/store/database';
import { waitStarted } from './wait-helpers';

// --- an in-process workflow whose first step the test holds open until the fault is in place -------

/** A step held until the test opens its gate (one gate per workflow UUID). */
class Gate {
  readonly opened: Promise<void>;
  readonly entered: Promise<void>;
  open!: () => void;
  enter!: () => void;
  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
    this.entered = new Promise((resolve) => (this.enter = resolve));
  }
}
const gates = new Map<string, Gate>();
/** Every real execution of a step, as "<step> <workflow> <argument>". */
const executions: string[] = [];
/** Errors the workflow code caught from its first step. */
const caught: unknown[] = [];

const held = registerStep('faultsReal.held', async (ctxt: StepContext) => {
  executions.push(`held ${ctxt.workflowUUID}`);
  const gate = gates.get(ctxt.workflowUUID)!;
  gate.enter();
  await gate.opened;
  // Large enough to need new pages (so a database capped with max_page_count is full for it too).
  return 'h'.repeat(16_384);
});

const record = registerStep('faultsReal.record', (ctxt: StepContext, message: string) => {
  executions.push(`record ${ctxt.workflowUUID} ${message}`);
  return message;
});

const heldThenRecv = registerWorkflow('faultsReal.heldThenRecv', async (ctxt: WorkflowContext) => {
  let first: string;
  try {
    first = await ctxt.runStep(held);
  } catch (error) {
    // The code catches the storage failure and tries to go on: the engine must not let it record more.
    caught.push(error);
    await ctxt.setEvent('went-on', true);
    throw error;
  }
  const message = await ctxt.recv<string>('pay', 600);
  const recorded = await ctxt.runStep(record, message!);
  return [first.length, recorded];
});

beforeEach(() => {
  gates.clear();
  executions.length = 0;
  caught.length = 0;
});

/** Warnings collected from an engine, and a way to await the n-th one of a code. */
function warningCollector() {
  const warnings: EngineWarning[] = [];
  const waiting: { code: string; count: number; resolve: (warning: EngineWarning) => void }[] = [];
  const onWarning = (warning: EngineWarning): void => {
    warnings.push(warning);
    for (const waiter of [...waiting]) {
      const matching = warnings.filter((seen) => seen.code === waiter.code);
      if (matching.length >= waiter.count) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(matching[waiter.count - 1]!);
      }
    }
  };
  /** Resolves with the `count`-th warning of `code` (already reported or to come). */
  const nth = (code: EngineWarning['code'], count: number): Promise<EngineWarning> => {
    const matching = warnings.filter((seen) => seen.code === code);
    if (matching.length >= count) return Promise.resolve(matching[count - 1]!);
    return new Promise((resolve) => waiting.push({ code, count, resolve }));
  };
  return { warnings, onWarning, nth };
}

/** What the workflow recorded, in a form to compare. */
async function recordedOperations(engine: Engine | Client, workflowUUID: string): Promise<unknown[]> {
  return (await engine.listOperations(workflowUUID)).map(({ operationIndex, kind, name, output, error, completedAt }) => ({
    operationIndex,
    kind,
    name,
    output: typeof output === 'string' && output.length > 100 ? `<${output.length} characters>` : output,
    error,
    completed: completedAt !== null,
  }));
}

async function messagesOf(engine: Engine | Client, workflowUUID: string): Promise<unknown[]> {
  return (await engine.listMessages(workflowUUID)).map(({ topic, message, consumed }) => ({
    topic,
    message: typeof message === 'string' && message.length > 100 ? `<${message.length} characters>` : message,
    consumed,
  }));
}

const completedHeldThenRecv = (message: string): unknown[] => [
  { operationIndex: 0, kind: 'step', name: held.name, output: '<16384 characters>', error: null, completed: true },
  { operationIndex: 1, kind: 'recv', name: 'recv', output: message, error: null, completed: true },
  { operationIndex: 2, kind: 'step', name: record.name, output: message, error: null, completed: true },
];

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('an owner under a small file-size limit (ulimit -f)', () => {
  test('a WAL commit that fails with SQLITE_IOERR is not acted on; once the WAL is truncated the workflow resumes in the same process, each message received once', async () => {
    const database = tempDatabasePath('ulimit');
    cleanups.push(() => removeTempFolder(database));
    const log = path.join(path.dirname(database), 'steps.log');
    const limitKiB = 1024;

    const owner = spawnFixture('faults-owner', [database, log], { fileSizeLimitKiB: limitKiB });
    cleanups.push(() => owner.kill());
    const ownerPid = Number((await owner.waitForLine(/^opened \d+$/)).split(' ')[1]);
    expect(ownerPid).toBe(owner.process.pid);
    await owner.waitForLine('wait recv consumer pay #1');

    const client = await Client.open({ database });
    cleanups.push(() => client.close());
    // Another process (not under the limit) commits a large message: the WAL grows past the owner's
    // limit, so the owner's next commit, appended after it, cannot be written.
    await client.send('consumer', 'x'.repeat(2 * 1024 * 1024), 'ballast');
    expect(fs.statSync(`${database}-wal`).size).toBeGreaterThan(limitKiB * 1024);

    await client.send('consumer', 'm1', 'pay');
    // Consuming m1 fails at commit; the engine resumes the workflow at once, which fails again.
    const first = await owner.waitForLine(/^warning 1 /);
    expect(first).toMatch(/^warning 1 STORAGE_FAILED .*"consumer".*SQLITE_IOERR/);
    expect(await owner.waitForLine(/^warning 2 /)).toMatch(/^warning 2 STORAGE_FAILED .*"consumer".*SQLITE_IOERR/);

    // The workflow did not go on with m1: the step never ran, m1 is still queued, the recv is still waiting.
    expect(readLog(log)).toEqual([]);
    expect(await messagesOf(client, 'consumer')).toEqual([
      { topic: 'ballast', message: `<${2 * 1024 * 1024} characters>`, consumed: false },
      { topic: 'pay', message: 'm1', consumed: false },
    ]);
    expect(await recordedOperations(client, 'consumer')).toEqual([
      { operationIndex: 0, kind: 'recv', name: 'recv', output: undefined, error: null, completed: false },
    ]);
    expect(await client.retrieveWorkflow('consumer').getStatus()).toMatchObject({ status: 'PENDING' });

    // The fault clears: the WAL is checkpointed into the database and truncated to nothing, so the
    // owner's next commits are written at the start of the file, under its limit.
    const checkpointer = new Database(database);
    try {
      checkpointer.pragma('busy_timeout = 5000');
      expect(checkpointer.pragma('wal_checkpoint(TRUNCATE)')).toEqual([expect.objectContaining({ busy: 0 })]);
    } finally {
      checkpointer.close();
    }
    expect(fs.statSync(`${database}-wal`).size).toBe(0);

    // The same owner process resumes the workflow (backoff), which receives m1 and waits again.
    await owner.waitForLine('wait recv consumer pay #2', 30_000);
    expect(readLog(log)).toEqual(['m1']);
    await client.send('consumer', 'm2', 'pay');
    expect(await owner.waitForLine(/^result /)).toBe('result ["m1","m2"]');
    expect((await owner.exited).code).toBe(0);

    expect(readLog(log)).toEqual(['m1', 'm2']);
    expect(await messagesOf(client, 'consumer')).toEqual([
      { topic: 'ballast', message: `<${2 * 1024 * 1024} characters>`, consumed: false },
      { topic: 'pay', message: 'm1', consumed: true },
      { topic: 'pay', message: 'm2', consumed: true },
    ]);
    expect(await recordedOperations(client, 'consumer')).toEqual([
      { operationIndex: 0, kind: 'recv', name: 'recv', output: 'm1', error: null, completed: true },
      { operationIndex: 1, kind: 'step', name: 'faults.record', output: 'm1', error: null, completed: true },
      { operationIndex: 2, kind: 'recv', name: 'recv', output: 'm2', error: null, completed: true },
      { operationIndex: 3, kind: 'step', name: 'faults.record', output: 'm2', error: null, completed: true },
    ]);
    expect(await client.retrieveWorkflow('consumer').getStatus()).toMatchObject({ status: 'SUCCESS' });
    // Every warning was a storage failure of this workflow; nothing else went wrong.
    const warnings = owner.lines.filter((line) => line.startsWith('warning '));
    expect(warnings.every((line) => /^warning \d+ STORAGE_FAILED .*"consumer".*SQLITE_IOERR/.test(line))).toBe(true);
    console.log(`ulimit -f ${limitKiB}: ${warnings.length} failed resumes of "consumer" before the WAL was truncated, then it finished in process ${ownerPid}`);
  }, 60_000);
});

describe('another process holding the write lock past busy_timeout', () => {
  test('operations fail with StorageError SQLITE_BUSY, the workflow stays PENDING, and it resumes in the same process once the lock is released', async () => {
    const database = tempDatabasePath('busy');
    cleanups.push(() => removeTempFolder(database));
    const collected = warningCollector();
    const engine = await openTestEngine({ database, onWarning: collected.onWarning });
    const gate = new Gate();
    gates.set('busy-1', gate);
    const handle = await engine.startWorkflow(heldThenRecv, { workflowUUID: 'busy-1' });
    await gate.entered;

    const holder = spawnFixture('hold-write-lock', [database]);
    cleanups.push(() => holder.kill());
    await holder.waitForLine('locked');

    // A call outside workflows waits out the busy timeout, then fails; nothing of it is stored.
    const early = engine.send('busy-1', 'early', 'pay');
    await expect(early).rejects.toBeInstanceOf(StorageError);
    await expect(early).rejects.toMatchObject({ code: 'STORAGE_FAILED', storageCode: 'SQLITE_BUSY' });

    // The step ends while the lock is still held: its record cannot be written.
    gate.open();
    const failure = await collected.nth('STORAGE_FAILED', 1);
    expect(failure).toMatchObject({ workflowUUID: 'busy-1', message: expect.stringContaining('SQLITE_BUSY') });
    expect(caught).toEqual([expect.any(StorageError)]);
    expect(caught[0]).toMatchObject({ storageCode: 'SQLITE_BUSY' });
    // Nothing past the failure: no record (even the caught error's follow-up setEvent was refused).
    expect(await recordedOperations(engine, 'busy-1')).toEqual([]);
    expect(await engine.listMessages('busy-1')).toEqual([]);
    expect(await engine.listEvents('busy-1')).toEqual({});
    expect(await handle.getStatus()).toMatchObject({ status: 'PENDING' });

    holder.process.kill('SIGUSR2');
    await holder.waitForLine('released');
    expect((await holder.exited).code).toBe(0);

    // The same engine resumes the workflow from its records: the step runs again (its first run was
    // never recorded) and the workflow reaches its recv.
    await waitStarted(engine, (wait) => wait.workflowUUID === 'busy-1' && wait.kind === 'recv', 30_000);
    await engine.send('busy-1', 'm1', 'pay');
    expect(await handle.getResult()).toEqual([16_384, 'm1']);

    expect(await recordedOperations(engine, 'busy-1')).toEqual(completedHeldThenRecv('m1'));
    expect(await messagesOf(engine, 'busy-1')).toEqual([{ topic: 'pay', message: 'm1', consumed: true }]);
    expect(await engine.listEvents('busy-1')).toEqual({});
    // Each failed attempt ran the step once and recorded nothing; the last one recorded it.
    const failures = collected.warnings.length;
    expect(collected.warnings.every((warning) => warning.code === 'STORAGE_FAILED' && warning.message.includes('SQLITE_BUSY'))).toBe(true);
    expect(executions).toEqual([...Array.from({ length: failures + 1 }, () => 'held busy-1'), 'record busy-1 m1']);
    expect(caught).toHaveLength(failures);
    expect(caught.every((error) => error instanceof StorageError && error.storageCode === 'SQLITE_BUSY')).toBe(true);
    console.log(`write lock held past busy_timeout: ${failures} failed attempt(s) of "busy-1", then it finished in the same engine`);
    await engine.close();
  }, 60_000);
});

// --- a full disk: a small tmpfs when this process may mount one (root), else max_page_count -------

interface SmallDisk {
  /** How the disk is made full: 'tmpfs' or 'max_page_count'. */
  readonly kind: string;
  readonly folder: string;
  /** Called before the engine opens on it. */
  watch(): void;
  /** Fills the disk, after the engine opened on it. */
  fill(): void;
  free(): void;
  remove(): void;
}

function tmpfsDisk(): SmallDisk | null {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', folder], { stdio: 'ignore' });
  } catch {
    fs.rmdirSync(folder);
    return null;
  }
  const filler = path.join(folder, 'filler');
  return {
    kind: 'tmpfs',
    folder,
    watch() {},
    fill() {
      const descriptor = fs.openSync(filler, 'w');
      try {
        for (const size of [64 * 1024, 4096, 1]) {
          const chunk = Buffer.alloc(size, 1);
          for (;;) {
            try {
              if (fs.writeSync(descriptor, chunk) < size) break;
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
              break;
            }
          }
        }
      } finally {
        fs.closeSync(descriptor);
      }
    },
    free() {
      fs.rmSync(filler);
    },
    remove() {
      execFileSync('umount', [folder]);
      fs.rmdirSync(folder);
    },
  };
}

function pageCountDisk(): SmallDisk {
  const database = tempDatabasePath('full');
  // max_page_count is a setting of one connection: set on the engine's own, the one it opens next.
  let connections: SqliteDatabase[] = [];
  const pragma = (text: string): unknown => connections.at(-1)!.pragma(text, { simple: true });
  return {
    kind: 'max_page_count',
    folder: path.dirname(database),
    watch() {
      connections = watchOpenedConnections();
    },
    fill() {
      pragma(`max_page_count = ${pragma('page_count') as number}`);
    },
    free() {
      pragma('max_page_count = 1073741823');
    },
    remove() {
      removeTempFolder(database);
    },
  };
}

describe('a full disk', () => {
  let disk: SmallDisk;
  beforeAll(() => {
    disk = tmpfsDisk() ?? pageCountDisk();
  });
  afterAll(() => disk.remove());

  test('operations fail with StorageFullError while the disk is full, and the workflow finishes in the same process once space is freed', async () => {
    const database = path.join(disk.folder, 'full.db');
    const collected = warningCollector();
    disk.watch();
    const engine = await openTestEngine({ database, onWarning: collected.onWarning });
    const gate = new Gate();
    gates.set('full-1', gate);
    const handle = await engine.startWorkflow(heldThenRecv, { workflowUUID: 'full-1' });
    await gate.entered;

    disk.fill();
    const early = engine.send('full-1', 'e'.repeat(16_384), 'pay');
    await expect(early).rejects.toBeInstanceOf(StorageFullError);
    await expect(early).rejects.toMatchObject({ code: 'STORAGE_FULL', storageCode: 'SQLITE_FULL' });

    gate.open();
    // The first failure, the resume at once, and the one after the first pause all fail.
    await collected.nth('STORAGE_FAILED', 3);
    // Each failed run caught the failure of its step's record (and could not go on). The resume is
    // scheduled as the run dies, so the dead code's catch may come a turn after the warning.
    for (let turn = 0; caught.length < 3 && turn < 100; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(caught.length).toBeGreaterThanOrEqual(3);
    expect(caught.every((error) => error instanceof StorageFullError)).toBe(true);
    expect(await recordedOperations(engine, 'full-1')).toEqual([]);
    expect(await engine.listMessages('full-1')).toEqual([]);
    expect(await engine.listEvents('full-1')).toEqual({});
    expect(await handle.getStatus()).toMatchObject({ status: 'PENDING' });

    disk.free();
    await waitStarted(engine, (wait) => wait.workflowUUID === 'full-1' && wait.kind === 'recv', 30_000);
    await engine.send('full-1', 'm1', 'pay');
    expect(await handle.getResult()).toEqual([16_384, 'm1']);

    expect(await recordedOperations(engine, 'full-1')).toEqual(completedHeldThenRecv('m1'));
    expect(await messagesOf(engine, 'full-1')).toEqual([{ topic: 'pay', message: 'm1', consumed: true }]);
    expect(await engine.listEvents('full-1')).toEqual({});
    const failures = collected.warnings.length;
    expect(collected.warnings.every((warning) => warning.code === 'STORAGE_FAILED' && warning.workflowUUID === 'full-1')).toBe(true);
    expect(executions).toEqual([...Array.from({ length: failures + 1 }, () => 'held full-1'), 'record full-1 m1']);
    expect(caught).toHaveLength(failures);
    console.log(`full disk (${disk.kind}): ${failures} failed attempt(s) of "full-1", then it finished in the same engine`);
    await engine.close();
  }, 60_000);
});
