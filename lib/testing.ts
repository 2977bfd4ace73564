// durablite/testing: the real engine on the real SQLite store (in memory by default), or on a
// PostgreSQL database, under a virtual clock, with controls to move time, run until idle, see what
// workflows wait on, inject storage faults, and crash.
import { nanoid } from 'nanoid';
import { isPromise } from './awaitable';
import { workflowRegistry } from './decorators';
import { Engine } from './engine';
import { isPostgresUrl } from './postgres/database';
import { Session } from './session';
import { simulatedSqliteError } from './store/group-commit';
import type { CommitInterceptor } from './store/store';
import { resolveOptions, type EngineOptions, type ResolvedOptions } from './options';
import { VirtualClock, yieldToEventLoop } from './runtime/virtual-clock';
import type { WaitDescription } from './runtime/waiters';
import { isInMemory } from './store/database';
import type { OwnershipLock } from './store/ownership';
import type { SqliteStore } from './store/sqlite-store';
import type { PostgresStore } from './postgres/postgres-store';
import { nonNegativeInteger, positiveInteger, typeError } from './validate';

export { VirtualClock } from './runtime/virtual-clock';
export type { WaitDescription } from './runtime/waiters';

/** Options of {@link TestEngine.open}: the engine's options, with test defaults. */
export interface TestEngineOptions extends Omit<EngineOptions, 'database' | 'clock'> {
  /**
   * `':memory:'`, a SQLite file, or a PostgreSQL URL (`postgres://…`, a database the test may write
   * to; crash and fault injection work on it too, see {@link TestEngine.crash} and
   * {@link TestEngine.injectFault}).
   * @default ':memory:'
   */
  database?: string;
  /** @default a new VirtualClock starting at 2026-01-01T00:00:00Z */
  clock?: VirtualClock;
  /**
   * Jump to the next deadline whenever every live workflow is blocked (Temporal-style time
   * skipping), so awaiting the result of a workflow that sleeps a day returns at once.
   * @default false
   */
  autoSkip?: boolean;
  /**
   * Real milliseconds `runUntilIdle`/`waitUntilBlocked` wait for workflows to settle before failing.
   * @default 5000
   */
  settleTimeoutMs?: number;
}

/** The SQLite failures {@link TestEngine.injectFault} can simulate. */
export type InjectableFaultCode = 'SQLITE_IOERR' | 'SQLITE_FULL' | 'SQLITE_BUSY';

/** A storage fault to inject: see {@link TestEngine.injectFault}. */
export interface InjectedFault {
  /** Where it strikes: `'commit'`, the engine's next group commits. */
  at: 'commit';
  /**
   * The SQLite failure: `'SQLITE_IOERR'` (an I/O error), `'SQLITE_FULL'` (a full disk, seen as
   * StorageFullError) or `'SQLITE_BUSY'` (another process held the write lock too long). On
   * PostgreSQL the commit fails as the server would fail it with the matching SQLSTATE (see
   * {@link postgresFaults}): the error's code is then `PG_58030`, `PG_53100` or `PG_55P03`.
   */
  code: InjectableFaultCode;
  /** How many commits in a row fail. @default 1 */
  count?: number;
  /**
   * How many commits succeed first (counted from the call, or from the end of the fault queued
   * before this one), to strike a given commit of a scenario.
   * @default 0
   */
  afterCommits?: number;
}

const injectableCodes: ReadonlySet<string> = new Set<InjectableFaultCode>(['SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_BUSY']);

/**
 * What each injectable SQLite fault is on PostgreSQL: the server's failure of the same kind, as its
 * SQLSTATE. An I/O error is `io_error` (58030); a full disk is `disk_full` (53100, a
 * StorageFullError); another process holding the write lock too long is `lock_not_available`
 * (55P03, what a `lock_timeout` raises). The store fails the commit with it just before COMMIT, so
 * nothing of the transaction stays, as with a server that refused it.
 */
export const postgresFaults: Readonly<Record<InjectableFaultCode, string>> = Object.freeze({
  SQLITE_IOERR: '58030',
  SQLITE_FULL: '53100',
  SQLITE_BUSY: '55P03',
});

/** An error shaped as pg's DatabaseError for `sqlState`, which the PostgreSQL store turns into its StorageError. */
function simulatedPostgresError(sqlState: string, message: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, 'name', { value: 'error', configurable: true, writable: true });
  return Object.assign(error, { code: sqlState, severity: 'ERROR' });
}

/** Fails the next commits of one TestEngine's store, as the database itself would fail them. */
class FaultInjector implements CommitInterceptor {
  readonly #queue: { code: InjectableFaultCode; remaining: number; skip: number }[] = [];
  readonly #postgres: boolean;

  constructor(postgres: boolean) {
    this.#postgres = postgres;
  }

  add(code: InjectableFaultCode, count: number, skip: number): void {
    this.#queue.push({ code, remaining: count, skip });
  }

  get pending(): number {
    return this.#queue.reduce((sum, fault) => sum + fault.remaining, 0);
  }

  beforeCommit(commitNumber: number): void {
    const fault = this.#queue[0];
    if (fault === undefined) return;
    if (fault.skip > 0) {
      fault.skip--;
      return;
    }
    if (--fault.remaining === 0) this.#queue.shift();
    const message = `injected ${fault.code} at commit ${commitNumber}`;
    throw this.#postgres ? simulatedPostgresError(postgresFaults[fault.code], message) : simulatedSqliteError(fault.code, message);
  }
}

/** The engine events that show a workflow moving (runUntilIdle waits until none comes for two turns). */
const activityEvents = ['workflowStarted', 'workflowFinished', 'operationRecorded', 'stepStarted', 'stepEnded', 'waitStarted', 'waitEnded', 'commit', 'storageError'] as const;

/** Options of {@link TestEngine.waitUntilBlocked}. */
export interface WaitUntilBlockedOptions {
  /** Only a wait of this kind counts. */
  kind?: WaitDescription['kind'];
  /** Real milliseconds to wait before failing. @default the engine's settleTimeoutMs */
  timeoutMs?: number;
}

/**
 * The real engine under a virtual clock, for unit tests.
 *
 * @example
 * const t = await TestEngine.open();
 * const handle = await t.engine.invoke(Shop).paymentWorkflow('o-1');
 * await t.waitUntilBlocked(handle.getWorkflowUUID(), { kind: 'recv' });
 * await t.advance(30 * 60);              // the 30-minute timeout passes instantly
 * expect(await handle.getResult()).toBe('cancelled');
 * await t.close();
 */
export class TestEngine {
  /** The virtual clock every deadline and timestamp of the engine follows. */
  readonly clock: VirtualClock;
  readonly #options: ResolvedOptions;
  readonly #settleTimeoutMs: number;
  readonly #faults: FaultInjector;
  #engine!: Engine;
  /** The session under the current engine: this kit composed it, so it may look inside. */
  #session!: Session;
  /** That session's store (SQLite's: the kit's crash reopens it as the next process would). */
  #store!: SqliteStore;
  /** On PostgreSQL, that session's store instead: its transactions under way count as activity. */
  #postgresStore: PostgresStore | null = null;
  #activity = { events: 0, stepsRunning: 0 };
  #autoSkip = false;
  #autoSkipRunning = false;
  #closed = false;

  /** Opens an engine on `':memory:'` (or `database`) under a virtual clock, and runs recovery. */
  static async open(options: TestEngineOptions = {}): Promise<TestEngine> {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    const clock = options.clock ?? new VirtualClock();
    const { autoSkip, settleTimeoutMs, ...engineOptions } = options;
    const database = options.database ?? ':memory:';
    // On PostgreSQL, every engine of this kit (one after each crash) is one executor, as a restarted
    // process with a stable executorId: the next engine takes the crashed one's workflows back at once.
    const postgres = typeof database === 'string' && isPostgresUrl(database)
      ? { postgres: { executorId: `test-engine:${nanoid(8)}`, ...engineOptions.postgres } }
      : {};
    const resolved = resolveOptions({ ...engineOptions, ...postgres, database, clock });
    const testEngine = new TestEngine(resolved, clock, settleTimeoutMs ?? 5000);
    if (resolved.postgres === null) {
      const { store, lock } = Session.openOwnedStore(resolved, testEngine.#faults);
      testEngine.#engine = testEngine.#start(store, lock);
    } else {
      testEngine.#engine = await testEngine.#startPostgres();
    }
    testEngine.autoSkip = autoSkip ?? false;
    return testEngine;
  }

  private constructor(options: ResolvedOptions, clock: VirtualClock, settleTimeoutMs: number) {
    this.#options = options;
    this.clock = clock;
    this.#settleTimeoutMs = settleTimeoutMs;
    this.#faults = new FaultInjector(options.postgres !== null);
  }

  /** Opens an engine (ownership, recovery and the listener included) on the PostgreSQL database, and counts what it does. */
  async #startPostgres(): Promise<Engine> {
    const session = await Session.openPostgresOwner(this.#options, workflowRegistry, this.#faults);
    this.#session = session;
    this.#postgresStore = session.store as PostgresStore;
    return this.#watch(new Engine(session));
  }

  /** Starts an engine (recovery included) on an opened SQLite store, and counts what it does. */
  #start(store: SqliteStore, lock: OwnershipLock | null): Engine {
    this.#store = store;
    const session = Session.startOwner(this.#options, store, lock, workflowRegistry);
    // SQLite's recovery pass runs within the call: the engine is there at once.
    if (isPromise(session)) throw new Error('A SQLite session starts synchronously.');
    this.#session = session;
    return this.#watch(new Engine(session));
  }

  /** The current engine. A new one after each {@link crash}: handles from the old one are dead. */
  get engine(): Engine {
    return this.#engine;
  }

  /** Whether time skips automatically while every live workflow is blocked. */
  get autoSkip(): boolean {
    return this.#autoSkip;
  }

  set autoSkip(enabled: boolean) {
    this.#autoSkip = enabled;
    if (enabled && !this.#autoSkipRunning) void this.#runAutoSkip();
  }

  /** Every wait under way (workflows' recv/getEvent/sleep and callers' getEvent/getResult). */
  waits(workflowUUID?: string): WaitDescription[] {
    const all = this.#session.waiters.describe();
    return workflowUUID === undefined ? all : all.filter((wait) => wait.workflowUUID === workflowUUID);
  }

  /**
   * Resolves with what the workflow waits on once it is blocked in recv, getEvent or sleep (or the
   * given kind), without advancing time.
   * @throws Error when no workflow has this UUID once the workflows running are idle (a child still
   *   being started is waited for), or it has finished (or finishes while waited on): it can never
   *   block. Error when it is not blocked within `timeoutMs` real milliseconds.
   */
  async waitUntilBlocked(workflowUUID: string, options: WaitUntilBlockedOptions = {}): Promise<WaitDescription> {
    const limitMs = performance.now() + (options.timeoutMs ?? this.#settleTimeoutMs);
    const what = options.kind ?? 'a wait';
    let settled = false;
    for (;;) {
      const found = this.waits(workflowUUID).find((wait) => options.kind === undefined || wait.kind === options.kind);
      if (found !== undefined) return found;
      const status = await this.#engine.retrieveWorkflow(workflowUUID).getStatus();
      if (status === null && !settled) {
        // Perhaps not started yet (a child its parent is starting, a transaction on its way): look
        // again once everything running is idle.
        settled = true;
        await this.runUntilIdle();
        continue;
      }
      if (status === null) {
        throw new Error(`Cannot wait for workflow "${workflowUUID}" to block in ${what}: no workflow has this UUID. Check the UUID passed to waitUntilBlocked.`);
      }
      if (status.status !== 'PENDING') {
        throw new Error(`Workflow "${workflowUUID}" finished (status ${status.status}) without blocking in ${what}; it can never block now. Await handle.getResult() instead.`);
      }
      if (performance.now() > limitMs) {
        throw new Error(`Workflow "${workflowUUID}" did not block in ${what} in time (its status: ${status.status}).`);
      }
      await yieldToEventLoop(1);
    }
  }

  /**
   * Lets workflows run until each live one is finished or blocked on a wait that nothing in the
   * process will satisfy without time moving. Does not move time.
   * @throws Error when workflows keep running (e.g. a step awaiting slow I/O) past `settleTimeoutMs`.
   */
  async runUntilIdle(): Promise<void> {
    const limitMs = performance.now() + this.#settleTimeoutMs;
    let previous = '';
    let stableTurns = 0;
    while (stableTurns < 2) {
      await yieldToEventLoop(1);
      // Idle: two turns in a row with no engine event, no step running, no transaction or read under
      // way (on PostgreSQL, where each takes a round trip), and time standing still.
      const activity = this.#activity;
      const inFlight = this.#postgresStore?.inFlight ?? 0;
      const signature = this.#engine.isOpen ? `${activity.events}:${activity.stepsRunning}:${inFlight}:${this.clock.now()}` : 'closed';
      stableTurns = signature === previous && activity.stepsRunning === 0 && inFlight === 0 ? stableTurns + 1 : 0;
      previous = signature;
      if (performance.now() > limitMs) {
        throw new Error(`Workflows did not become idle within ${this.#settleTimeoutMs} ms (steps running: ${activity.stepsRunning}).`);
      }
    }
  }

  /** Counts what the engine does, from its typed events: a new count for each engine (after a crash). */
  #watch(engine: Engine): Engine {
    const activity = { events: 0, stepsRunning: 0 };
    const bump = (): void => {
      activity.events++;
    };
    for (const name of activityEvents) engine.events.on(name, bump);
    engine.events.on('stepStarted', () => activity.stepsRunning++);
    engine.events.on('stepEnded', () => activity.stepsRunning--);
    this.#activity = activity;
    return engine;
  }

  /**
   * Moves virtual time forward by `seconds`, firing every deadline on the way in order and running
   * woken workflows until idle before the next one fires.
   */
  async advance(seconds: number): Promise<void> {
    await this.clock.advance(seconds, () => this.runUntilIdle());
  }

  /**
   * Simulates a crash: the engine stops as a killed process would (no close, no promise settled,
   * no timer fires), then a new engine opens on the same store (the same in-memory database too)
   * and runs recovery. Returns the new engine (also `testEngine.engine`); call `runUntilIdle()` to
   * let the recovered workflows reach their waits.
   *
   * On PostgreSQL, as when the process is killed: transactions under way roll back rather than
   * commit, every connection of the engine ends (its pool, the one holding its ownership lock, its
   * listener), and a new store and engine open on the same database.
   */
  async crash(): Promise<Engine> {
    const session = this.#session;
    const halted = session.halt();
    if (this.#postgresStore !== null) {
      await halted;
      await this.#postgresStore.close();
      this.#postgresStore = null;
      this.#engine = await this.#startPostgres();
    } else if (isInMemory(this.#options.database)) {
      this.#engine = this.#start(this.#store.reopenAfterHalt(this.#faults), null);
    } else {
      // A killed process's connection is closed by the operating system; nothing else of it survives.
      this.#store.close();
      const { store, lock } = Session.openOwnedStore(this.#options, this.#faults);
      this.#engine = this.#start(store, lock);
    }
    return this.#engine;
  }

  /**
   * Makes the engine's next commits fail as SQLite would fail them, to test workflows under storage
   * faults: every operation in a failed commit rejects with StorageError (StorageFullError for
   * `'SQLITE_FULL'`), nothing of it stays, and each workflow that wrote to it stays PENDING and
   * resumes from its committed records: at once after the first failure, then after a doubling
   * pause on the engine's clock (advance the virtual clock, or use `autoSkip`, to let it pass).
   * Faults queue up in call order and survive {@link crash}.
   *
   * @example
   * t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
   * await expect(t.engine.send(uuid, 'hello')).rejects.toThrow(StorageError);
   * @throws TypeError/RangeError for a fault not of this shape.
   */
  injectFault(fault: InjectedFault): void {
    if (typeof fault !== 'object' || fault === null) throw typeError('fault', "an object like { at: 'commit', code: 'SQLITE_IOERR' }", fault);
    if (fault.at !== 'commit') throw typeError('at', "'commit'", fault.at);
    if (!injectableCodes.has(fault.code)) throw typeError('code', "'SQLITE_IOERR', 'SQLITE_FULL' or 'SQLITE_BUSY'", fault.code);
    const count = fault.count === undefined ? 1 : positiveInteger('count', fault.count);
    const afterCommits = fault.afterCommits === undefined ? 0 : nonNegativeInteger('afterCommits', fault.afterCommits);
    this.#faults.add(fault.code, count, afterCommits);
  }

  /** How many injected commit failures have not struck yet. */
  get pendingFaults(): number {
    return this.#faults.pending;
  }

  /** Closes the engine and stops auto-skip. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#autoSkip = false;
    await this.#engine.close();
  }

  async #runAutoSkip(): Promise<void> {
    this.#autoSkipRunning = true;
    try {
      while (this.#autoSkip && !this.#closed) {
        try {
          await this.runUntilIdle();
        } catch {
          continue; // a slow step: keep waiting for it
        }
        if (!this.#autoSkip || this.#closed) break;
        if (this.clock.nextAlarmMs() === undefined) {
          await new Promise<void>((resolve) => {
            const stop = this.clock.onAlarmSet(() => {
              stop();
              resolve();
            });
          });
          continue;
        }
        this.clock.fireNext();
      }
    } finally {
      this.#autoSkipRunning = false;
    }
  }
}
