// One open Engine or Client on one database: the composition root. It builds what every operation
// shares (store, clock, timer wheel, waiters, typed events), hears other processes' commits and, for
// an Engine, holds the WorkflowRunner. Engine and Client are faces over a Session; they differ only
// in whether it has a runner.
//
// Where each signal travels, and why there:
// - wake-ups go from a commit to its waiters through runtime/waiters.ts, a Map of keys called
//   directly: it is the hot path (ten thousand waiters on one event), with no emitter in between;
// - the typed events (`engine.events`, an eventemitter3 EventEmitter<EngineEvents>) are for
//   applications and the testing kit. The store and the waiters tell them through observers set
//   here, and with no listener an event costs one check. Waits are reported only once someone
//   listens to a wait event (EngineEventEmitter), so that a wait costs nothing extra before.
import { isPromise, type Awaitable } from './awaitable';
import { EventEmitter } from 'eventemitter3';
import { nanoid } from 'nanoid';
import type { EngineEvents, RecoveryReport, ResolvedOptions, WorkflowRef, WorkflowRegistry } from './contracts';
import { EngineClosedError } from './errors';
import { emitEvent, type OperationEnvironment } from './ops/environment';
import { ExecutorBeat } from './ops/executor-beat';
import { AnnouncedChangeSync, ExternalChangeSync } from './ops/external';
import { WorkflowRunner, type SuspectRun } from './ops/lifecycle';
import type { Clock } from './runtime/clock';
import { TimerWheel } from './runtime/timer-wheel';
import { Waiters, workflowKey } from './runtime/waiters';
import { defaultExecutorId } from './postgres/executors';
import { PostgresStore } from './postgres/postgres-store';
import { isInMemory } from './store/database';
import type { Commit, CommitInterceptor, ControlState, FeedPosition, Store } from './store/store';
import type { OwnershipLock } from './store/ownership';
import { SqliteStore } from './store/sqlite-store';
import type { OperationRecord } from './types';

/** A recovery report with nothing in it, for an engine opened with `recover: false`. */
function emptyReport(): RecoveryReport {
  return { resumed: [], unregistered: [], givenUp: [], failed: [] };
}

/**
 * The typed events of one Engine or Client. The first listener of `waitStarted` or `waitEnded`
 * turns on the reporting of waits (see Session.#watchWaits): until then a wait costs nothing
 * extra, so ten thousand waits woken by one event stay as fast as with no events at all.
 */
class EngineEventEmitter extends EventEmitter<EngineEvents> {
  readonly #onWaitListener: () => void;

  constructor(onWaitListener: () => void) {
    super();
    this.#onWaitListener = onWaitListener;
  }

  #noting(event: keyof EngineEvents): void {
    if (event === 'waitStarted' || event === 'waitEnded') this.#onWaitListener();
  }

  override on<T extends keyof EngineEvents>(event: T, fn: EventEmitter.EventListener<EngineEvents, T>, context?: unknown): this {
    this.#noting(event);
    return super.on(event, fn, context);
  }

  override addListener<T extends keyof EngineEvents>(event: T, fn: EventEmitter.EventListener<EngineEvents, T>, context?: unknown): this {
    this.#noting(event);
    return super.addListener(event, fn, context);
  }

  override once<T extends keyof EngineEvents>(event: T, fn: EventEmitter.EventListener<EngineEvents, T>, context?: unknown): this {
    this.#noting(event);
    return super.once(event, fn, context);
  }
}

export class Session implements OperationEnvironment {
  readonly store: Store;
  readonly clock: Clock;
  readonly wheel: TimerWheel;
  readonly waiters: Waiters;
  readonly options: ResolvedOptions;
  readonly events: EventEmitter<EngineEvents> = new EngineEventEmitter(() => this.#watchWaits());
  /** What runs workflows: null for a Client, which leaves them to the owner. */
  readonly runner: WorkflowRunner | null;
  /** What the recovery pass at open did (empty for a Client, or with `recover: false`). */
  recovery: RecoveryReport = emptyReport();
  isOpen = true;
  lockQueue: Promise<void> | null = null;
  readonly #lock: OwnershipLock | null;
  #external: ExternalChangeSync | AnnouncedChangeSync | null = null;
  /** A PostgreSQL engine's heartbeat and takeovers; null otherwise. */
  #executor: ExecutorBeat | null = null;
  #watchingWaits = false;

  private constructor(options: ResolvedOptions, store: Store, lock: OwnershipLock | null, registry: WorkflowRegistry | null) {
    this.options = options;
    this.store = store;
    this.clock = options.clock;
    this.wheel = new TimerWheel(options.clock);
    this.waiters = new Waiters(this.wheel);
    this.#lock = lock;
    this.runner = registry === null ? null : new WorkflowRunner(this, registry);
    const events = this.events;
    // Told from inside the committer: the events go out a microtask later, once it is consistent
    // again, so a listener that writes or reads sees committed state and joins no dead batch.
    store.setObserver({
      committed: (commitNumber, writes, durationMs) => {
        if (events.listenerCount('commit') > 0) queueMicrotask(() => emitEvent(events, 'commit', { commitNumber, writes, durationMs }));
      },
      failed: (error) => {
        if (events.listenerCount('storageError') > 0) queueMicrotask(() => emitEvent(events, 'storageError', { error }));
      },
    });
  }

  /**
   * Opens the store of an Engine and takes ownership of the file, with `interceptor` called around
   * each commit (the testing kit's fault injection, crash tests).
   * @throws DatabaseOpenError, SchemaVersionError, DatabaseOwnedError; nothing stays open then.
   */
  static openOwnedStore(options: ResolvedOptions, interceptor: CommitInterceptor | null): { store: SqliteStore; lock: OwnershipLock | null } {
    const store = SqliteStore.open(options.database, options.synchronous, interceptor);
    try {
      return { store, lock: store.takeOwnership(options.clock.now()) };
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /**
   * The session of an Engine on an opened, owned store: runs the recovery pass (unless
   * `options.recover` is false), starts hearing other processes, and runs the workflows `registry`
   * names. If anything fails, everything the open took is released before the error is thrown.
   */
  static startOwner(options: ResolvedOptions, store: Store, lock: OwnershipLock | null, registry: WorkflowRegistry): Awaitable<Session> {
    const session = new Session(options, store, lock, registry);
    const runner = session.runner!;
    const failed = (error: unknown): never => {
      session.abort();
      throw error;
    };
    try {
      const recovered = options.recover ? runner.recover() : { report: emptyReport(), feedStart: undefined, suspects: [] };
      // On SQLite the pass runs synchronously, within this call; a database server's answers later.
      return isPromise(recovered) ? recovered.then((outcome) => session.#begin(outcome), failed) : session.#begin(recovered);
    } catch (error) {
      return failed(error);
    }
  }

  /** An owner's session once its recovery pass committed: hears other processes, runs the suspects. */
  #begin({ report, feedStart, suspects }: { report: RecoveryReport; feedStart: FeedPosition | undefined; suspects: SuspectRun[] }): Session {
    const { options, store } = this;
    const runner = this.runner!;
    try {
      this.recovery = report;
      // A SQLite file: other processes' commits are read from its change feed (PostgreSQL's come by NOTIFY).
      if (store instanceof SqliteStore && !isInMemory(options.database)) {
        this.#external = new ExternalChangeSync(this, store.openChangeFeed(feedStart), {
          onNewWorkflow: (workflow) => runner.runStartedElsewhere(workflow),
          onControls: (uuids) => runner.reconcile(uuids),
        });
        // Commits that came between the snapshot and the watch are not announced: look once now.
        this.#external.check();
      }
      if (suspects.length > 0) void runner.runSuspects(suspects);
      // At the first turn after Engine.open resolved: a listener added right after `await` hears it.
      if (options.recover) setImmediate(() => this.isOpen && emitEvent(this.events, 'recovery', report));
      return this;
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  /** The session of a Client on the SQLite `store`: it hears other processes' commits while something waits. */
  static forClient(options: ResolvedOptions, store: SqliteStore): Session {
    const session = new Session(options, store, null, null);
    session.#external = new ExternalChangeSync(session, store.openChangeFeed(), null);
    return session;
  }

  /**
   * The session of an Engine on a PostgreSQL database, one of the engines sharing its schema (see
   * postgres/executors.ts): opens the pool (migrating the schema), registers as an executor, runs the
   * recovery pass over what it may claim (its own and abandoned workflows, never another live
   * engine's), then hears other processes' commits, beats its heartbeat and takes over abandoned
   * workflows every second. If anything fails, everything the open took is released before the error is thrown.
   * @throws DatabaseOpenError, SchemaVersionError.
   * `interceptor` is called around each commit (the testing kit's fault injection).
   */
  static async openPostgresOwner(options: ResolvedOptions, registry: WorkflowRegistry, interceptor: CommitInterceptor | null = null): Promise<Session> {
    const postgres = options.postgres!;
    const executorId = postgres.executorId ?? defaultExecutorId(nanoid(8));
    const store = await PostgresStore.open(options.database, { ...postgres, executorId, leaseMs: postgres.leaseMs, interceptor });
    try {
      await store.registerExecutor();
    } catch (error) {
      await store.close();
      throw error;
    }
    const session = await Session.startOwner(options, store, null, registry);
    const runner = session.runner!;
    try {
      session.#external = await AnnouncedChangeSync.open(session, postgres.schema, {
        onNewWorkflow: (workflow) => runner.runStartedElsewhere(workflow),
        onControls: (uuids) => runner.reconcile(uuids),
        onResync: () => {
          runner.reconcileRunning();
          void session.#executor?.beat();
        },
      }, postgres.connectTimeoutMs);
    } catch (error) {
      session.abort();
      throw error;
    }
    session.#executor = new ExecutorBeat(session, store, runner);
    return session;
  }

  /**
   * The session of a Client on a PostgreSQL database: it hears other processes' commits as they
   * announce them. `readOnly`: it creates and migrates nothing, and every write rejects (see PostgresStore.open).
   * @throws DatabaseOpenError, SchemaVersionError.
   */
  static async openPostgresClient(options: ResolvedOptions, readOnly = false): Promise<Session> {
    const postgres = options.postgres!;
    const session = new Session(options, await PostgresStore.open(options.database, { ...postgres, readOnly }), null, null);
    try {
      session.#external = await AnnouncedChangeSync.open(session, postgres.schema, null, postgres.connectTimeoutMs);
    } catch (error) {
      session.abort();
      throw error;
    }
    return session;
  }

  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[], commit: Commit, deadlineMs: number | null): void {
    if (this.runner === null) throw new Error('A client never runs workflows.');
    this.runner.launch(workflowUUID, workflow, args, commit, deadlineMs);
  }

  launchFork(workflowUUID: string, workflowName: string, inputs: string, recorded: OperationRecord[], commit: Commit, deadlineMs: number | null): void {
    this.runner?.launchFork(workflowUUID, workflowName, inputs, recorded, commit, deadlineMs);
  }

  reconcile(workflowUUIDs: readonly string[], known?: ReadonlyMap<string, ControlState>): void {
    this.runner?.reconcile(workflowUUIDs, known);
    for (const workflowUUID of workflowUUIDs) this.waiters.notify(workflowKey(workflowUUID));
  }

  /** Starts telling the events of every wait's start and end (once a wait event has a listener). */
  #watchWaits(): void {
    if (this.#watchingWaits) return;
    this.#watchingWaits = true;
    const events = this.events;
    this.waiters.setObserver({
      started: (wait) => emitEvent(events, 'waitStarted', wait),
      ended: (wait, outcome) => emitEvent(events, 'waitEnded', wait, outcome),
    });
  }

  /**
   * Stops as a killed process would: nothing more is written, no timer fires and the ownership lock
   * is dropped, but no promise is settled and no cleanup runs. The testing kit's crash uses it.
   * Resolves once a database server's connections of the lock and the listener have ended (so the
   * next owner can take the lock); on SQLite all is let go within the call.
   */
  halt(): Awaitable<void> {
    this.isOpen = false;
    this.#executor?.stop();
    this.store.halt();
    this.wheel.clear();
    const listening = this.#external?.close();
    const released = this.#lock?.release();
    if (isPromise(listening) || isPromise(released)) return Promise.all([listening, released]).then(() => {}, () => {});
  }

  /**
   * Undoes a failed open: rolls back what was not committed and releases everything the open took
   * (connection, ownership lock, watcher, timers), so that the next open in this process succeeds.
   */
  abort(): void {
    this.halt();
    this.waiters.failAll(new EngineClosedError());
    // An in-memory database lives only in its connection: keep it, so that the testing kit's next
    // open (after a simulated crash) finds what was committed. It is freed with the connection.
    if (!isInMemory(this.options.database)) this.store.close();
  }

  /**
   * Graceful close: pending writes commit, waiting callers are rejected with EngineClosedError.
   * Idempotent. Resolves once the store let go of its connections.
   */
  close(): Awaitable<void> {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.wheel.clear();
    this.#executor?.stop();
    const listening = this.#external?.close();
    this.waiters.failAll(new EngineClosedError());
    const release = (): void | Promise<void> => this.#lock?.release();
    let closed: Awaitable<void>;
    try {
      // An engine sharing a PostgreSQL schema leaves it: what it still holds is for the others to take at once.
      const store = this.store;
      closed = store instanceof PostgresStore && store.executorId !== null
        ? store.retireExecutor().catch(() => {}).then(() => store.close())
        : store.close();
    } catch (error) {
      release();
      throw error;
    }
    // SQLite's file is free the moment close() returns, even to a caller that does not await it.
    if (!isPromise(closed) && !isPromise(listening)) return release();
    return Promise.all([closed, listening]).then(release, async (error: unknown) => {
      await release();
      throw error;
    });
  }
}
