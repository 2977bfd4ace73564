// Engine: owns a database file (one per file), runs recovery, starts and runs workflows, and is the
// HandlerContext for code outside workflows. Everything hangs off an instance: two engines on two
// databases can live in one process.
import {
  requireWorkflow,
  WorkflowContextImpl,
  type HandlerContext,
  type HandlerInvoker,
  type StartWorkflowOptions,
  type WorkflowTarget,
} from './context';
import { registrationNamed, registrationOf, unregisteredWorkflowHint, workflowRegistry, type WorkflowRef } from './decorators';
import { EngineClosedError, StorageError, UnreadableRecordError } from './errors';
import type { RecoveryReport, RunCause, WorkflowHandle } from './contracts';
import { WorkflowHandleImpl } from './handle';
import { HandlerBase, startOptionsUUID } from './handler';
import { startWorkflow } from './ops/lifecycle';
import { assertOpen, emitEvent, RuntimeEnvironment } from './ops/environment';
import { WorkflowExecution } from './ops/execution';
import { ExternalChangeSync, type NewWorkflow } from './ops/external';
import { decodeRecord, encodeError, encodePayload } from './ops/payload';
import { resolveOptions, type EngineOptions, type ResolvedOptions } from './options';
import { recoverPendingWorkflows, type SuspectRun } from './ops/recovery';
import { pauseRealTime } from './runtime/clock';
import { workflowKey } from './runtime/waiters';
import type { FeedPosition } from './store/changes';
import { isInMemory } from './store/database';
import type { Commit, CommitInterceptor } from './store/group-commit';
import type { OwnershipLock } from './store/ownership';
import { Store } from './store/store';
import type { OperationRecord } from './types';
import { typeError } from './validate';

/** After a storage failure, the first resume is at the next turn; later ones back off, doubling from this. */
export const RESUME_FIRST_BACKOFF_MS = 100;
/** The longest pause between two resumes of a workflow whose storage keeps failing. */
export const RESUME_MAX_BACKOFF_MS = 5000;

/** The pause before the `attempt`-th resume (1-based) of a workflow after storage failures. */
export function resumeDelayMs(attempt: number): number {
  return attempt <= 1 ? 0 : Math.min(RESUME_MAX_BACKOFF_MS, RESUME_FIRST_BACKOFF_MS * 2 ** (attempt - 2));
}

/** How a run of a workflow begins (see EngineEnvironment.run). */
interface RunOptions {
  /** Why it runs; told to the `workflowStarted` event. */
  cause: RunCause;
  /** What the workflow recorded before (replayed, not run again); none for a new workflow. */
  recorded?: OperationRecord[];
  /** Whether its recovery count is not back to zero: its first progress resets it. @default false */
  owesProgress?: boolean;
  /** The commit holding the workflow's row, when it was just written: its steps wait for it. */
  startCommit?: Commit;
  /** Called once, when a commit of the run first lands. */
  onDurableProgress?: () => void;
}

/** Real milliseconds recovery waits for a suspect workflow to get under way before starting the next. */
const SUSPECT_GRACE_MS = 1000;

/** The runtime state of one engine, handed down to operations. */
export class EngineEnvironment extends RuntimeEnvironment {
  readonly #lock: OwnershipLock | null;
  #external: ExternalChangeSync | null = null;
  /** Workflows waiting to resume after a storage failure, with how many resumes were scheduled. */
  readonly #resumes = new Map<string, number>();
  /** The latest run of each workflow whose code has not ended (a dead run stays until replaced). */
  readonly #executions = new Map<string, WorkflowExecution>();
  /** Dead runs whose resume is already scheduled. */
  readonly #dead = new WeakSet<WorkflowExecution>();
  /** Runs whose outcome is being recorded (once per run, whichever path gets there first). */
  readonly #finishing = new WeakSet<WorkflowExecution>();

  constructor(options: ResolvedOptions, store: Store, lock: OwnershipLock | null) {
    super(options, store);
    this.#lock = lock;
  }

  /**
   * Starts hearing other processes' commits (file databases only), from `feedStart` (the recovery
   * snapshot's position, so that nothing committed during the open is missed).
   */
  watchOtherProcesses(feedStart: FeedPosition | undefined): void {
    this.#external = new ExternalChangeSync(this, feedStart, (workflow) => this.#runStartedElsewhere(workflow));
    // Commits that came between the snapshot and the watch are not announced: look once now.
    this.#external.check();
  }

  #runStartedElsewhere(workflow: NewWorkflow): void {
    const { workflowUUID, workflowName } = workflow;
    if (this.#executions.has(workflowUUID) || this.#resumes.has(workflowUUID)) return;
    const registration = registrationNamed(workflowName);
    if (registration?.kind !== 'workflow') {
      this.options.onWarning({
        code: 'WORKFLOW_NOT_REGISTERED',
        workflowUUID,
        workflowName,
        message: `Another process started workflow "${workflowUUID}" as "${workflowName}", which is not registered here; it stays PENDING. ${unregisteredWorkflowHint(workflowName)}`,
      });
      return;
    }
    let args: unknown[];
    try {
      args = decodeRecord<unknown[]>(workflow.inputs, workflowUUID, 'inputs');
    } catch (error) {
      this.failUnreadable(workflowUUID, workflowName, error as UnreadableRecordError);
      return;
    }
    // Started elsewhere, but possibly run here before (and resumed since): replay what it recorded.
    let recorded: OperationRecord[];
    try {
      recorded = this.store.operations.listForWorkflow(workflowUUID);
    } catch (error) {
      // The feed has moved past it: resume it like any workflow whose storage failed.
      this.#scheduleResume(workflowUUID, registration, error);
      return;
    }
    this.run(workflowUUID, registration, args, { recorded, cause: 'started' });
  }

  /**
   * Runs the workflows an earlier open counted without seeing them progress, one at a time: each is
   * counted in a commit of its own just before its code runs, and the next starts once it is under
   * way (or after a second of real time, so that one stuck outside durablite holds up no other).
   */
  async runSuspects(suspects: readonly SuspectRun[]): Promise<void> {
    for (const suspect of suspects) {
      const { workflowUUID, workflow } = suspect;
      if (!this.isOpen) return;
      if (this.#executions.has(workflowUUID)) continue;
      try {
        this.store.countRecoveryAttempt(workflowUUID, suspect.attempt, this.clock.now());
      } catch (error) {
        // Its code must not run uncounted: count it (then run it) again after a pause.
        const tries = (suspect.countTries ?? 0) + 1;
        const delayMs = Math.max(RESUME_FIRST_BACKOFF_MS, resumeDelayMs(tries + 1));
        this.#reportStorageFailure(workflowUUID, workflow.name, error, `stays PENDING; its recovery is counted and run in ${delayMs} ms`);
        this.wheel.arm(this.clock.now() + delayMs, () => void this.runSuspects([{ ...suspect, countTries: tries }]));
        continue;
      }
      const execution = this.run(workflowUUID, workflow, suspect.args, { recorded: suspect.recorded, cause: 'recovered', owesProgress: true });
      await Promise.race([execution.underWay(), pauseRealTime(SUSPECT_GRACE_MS, false)]);
      // Its progress resets its count in the commit of its batch: let that land first.
      await this.store.readCommitted(() => undefined).catch(() => {});
    }
  }

  /**
   * A workflow whose record cannot be read cannot run: it is finished as ERROR with the
   * UnreadableRecordError, and a warning names it. Every other workflow goes on.
   */
  failUnreadable(workflowUUID: string, workflowName: string, error: UnreadableRecordError): void {
    this.options.onWarning({
      code: 'UNREADABLE_RECORD',
      workflowUUID,
      workflowName,
      message: `${error.message} Workflow "${workflowUUID}" is marked ERROR.`,
    });
    let commit: Commit;
    try {
      commit = this.store.finishWorkflow(workflowUUID, 'ERROR', null, encodeError(error), this.clock.now());
    } catch (failure) {
      this.#reportStorageFailure(workflowUUID, workflowName, failure, 'stays PENDING');
      return;
    }
    commit.durable.then(
      () => this.waiters.notify(workflowKey(workflowUUID)),
      (failure: unknown) => this.#reportStorageFailure(workflowUUID, workflowName, failure, 'stays PENDING'),
    );
  }

  /**
   * Stops this engine as a killed process would: nothing more is written, no timer fires and the
   * ownership lock is dropped, but no promise is settled and no cleanup runs. Test tools use it.
   */
  halt(): void {
    this.isOpen = false;
    this.store.halt();
    this.wheel.clear();
    this.#external?.close();
    this.#lock?.release();
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

  /** Graceful close: pending writes commit, waiting callers are rejected with EngineClosedError. */
  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.wheel.clear();
    this.#external?.close();
    this.waiters.failAll(new EngineClosedError());
    this.store.close();
    this.#lock?.release();
  }

  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[], commit: Commit): void {
    // The run dies if its start does not commit; its steps wait for that commit.
    this.run(workflowUUID, workflow, args, { cause: 'started', startCommit: commit });
  }

  /**
   * Runs workflow code to its end and records the outcome; never rejects. When the store fails under
   * the run, the workflow stays PENDING and is resumed from its committed records.
   */
  run(workflowUUID: string, workflow: WorkflowRef, args: unknown[], how: RunOptions): WorkflowExecution {
    const execution = new WorkflowExecution(this, workflowUUID, workflow.name, how.recorded ?? [], how.owesProgress ?? false);
    const started = { workflowUUID, workflowName: workflow.name, cause: how.cause };
    if (how.startCommit === undefined) {
      emitEvent(this.events, 'workflowStarted', started);
    } else {
      // Before any of its code runs: a step must not start before the workflow's own row is
      // committed, and a start that failed is no workflow (nothing to resume, nothing to announce).
      how.startCommit.onFailure(() => (execution.startFailed = true));
      void execution.committed(how.startCommit);
      how.startCommit.durable.then(() => emitEvent(this.events, 'workflowStarted', started), () => {});
    }
    execution.onDeath = (error) => {
      if (error instanceof StorageError) this.#afterDeath(execution, workflow, error);
      // If the commit of that ERROR fails, the workflow stays PENDING and is resumed like any other.
      else void this.#finishEnded(execution, workflow, error).catch((failure: unknown) => this.#afterDeath(execution, workflow, failure));
    };
    execution.onDurableProgress = how.onDurableProgress ?? null;
    this.#executions.set(workflowUUID, execution);
    const context = new WorkflowContextImpl(this, execution);
    void (async () => {
      let failure: unknown;
      let failed = false;
      try {
        await this.#runToEnd(execution, context, workflow, args);
      } catch (error) {
        failed = true;
        failure = error;
      } finally {
        if (this.#executions.get(workflowUUID) === execution) this.#executions.delete(workflowUUID);
      }
      if (!failed) {
        this.#resumes.delete(workflowUUID);
      } else if (this.store.isOwnFailure(failure)) {
        this.#afterDeath(execution, workflow, failure);
      } else if (this.isOpen) {
        this.options.onWarning({
          code: 'WORKFLOW_NOT_RECORDED',
          workflowUUID,
          workflowName: workflow.name,
          message: `Could not record the outcome of workflow "${workflowUUID}" (${(failure as Error)?.message}); it stays PENDING and resumes on the next open.`,
        });
      }
    })();
    return execution;
  }

  async #runToEnd(execution: WorkflowExecution, context: WorkflowContextImpl, workflow: WorkflowRef, args: unknown[]): Promise<void> {
    let output: unknown;
    let thrown: unknown;
    let failed = false;
    try {
      output = await workflow.fn(context, ...args);
    } catch (error) {
      failed = true;
      thrown = error;
    }
    execution.end();
    // Closed or crashed: the workflow stays PENDING and resumes on the next open.
    if (!this.isOpen) return;
    const fatal = execution.fatalError;
    // A store failure is not the workflow's outcome: it stays PENDING and resumes from its records.
    if (this.store.isOwnFailure(fatal)) throw fatal;
    if (failed && this.store.isOwnFailure(thrown)) throw thrown;
    // Replay diverged, or a record could not be read: that is the workflow's outcome.
    if (fatal !== null) return this.#finishEnded(execution, workflow, fatal);
    let outputText: string | null = null;
    if (!failed) {
      try {
        outputText = encodePayload(this, output, `result of workflow ${workflow.name}`);
      } catch (error) {
        failed = true;
        thrown = error;
      }
    }
    const errorText = failed ? encodeError(thrown) : null;
    await this.#finish(execution, workflow, failed ? 'ERROR' : 'SUCCESS', outputText, errorText);
  }

  /**
   * A run ended for good by a diverged replay or an unreadable record: the workflow's outcome is that
   * error, recorded at once, whether or not its code ever returns.
   */
  async #finishEnded(execution: WorkflowExecution, workflow: WorkflowRef, fatal: Error): Promise<void> {
    if (!this.isOpen || this.#finishing.has(execution)) return;
    if (fatal instanceof UnreadableRecordError) {
      this.options.onWarning({
        code: 'UNREADABLE_RECORD',
        workflowUUID: execution.workflowUUID,
        workflowName: workflow.name,
        message: `${fatal.message} Workflow "${execution.workflowUUID}" is marked ERROR.`,
      });
    }
    await this.#finish(execution, workflow, 'ERROR', null, encodeError(fatal));
  }

  async #finish(execution: WorkflowExecution, workflow: WorkflowRef, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null): Promise<void> {
    if (this.#finishing.has(execution)) return;
    this.#finishing.add(execution);
    const { workflowUUID } = execution;
    const commit = this.store.finishWorkflow(workflowUUID, status, output, error, this.clock.now());
    await commit.durable;
    this.waiters.notify(workflowKey(workflowUUID));
    emitEvent(this.events, 'workflowFinished', { workflowUUID, workflowName: workflow.name, status });
  }

  /**
   * A run died of a storage failure: once its steps in flight have ended (so that no step runs twice
   * at once), resume the workflow, without waiting for the dead code itself to return.
   */
  #afterDeath(execution: WorkflowExecution, workflow: WorkflowRef, failure: unknown): void {
    if (this.#dead.has(execution)) return;
    this.#dead.add(execution);
    // Its own start never committed: the caller was told, and there is no workflow to resume.
    if (execution.startFailed) {
      if (this.#executions.get(execution.workflowUUID) === execution) this.#executions.delete(execution.workflowUUID);
      return;
    }
    // From now on the workflow counts as awaiting its resume: the change feed, which also reports
    // this process's own rows, must not start it again meanwhile.
    if (!this.#resumes.has(execution.workflowUUID)) this.#resumes.set(execution.workflowUUID, 0);
    void execution.stepsDone().then(() => this.#scheduleResume(execution.workflowUUID, workflow, failure));
  }

  /** Whether the workflow has a run that is alive (not ended, not dead). */
  #hasLiveRun(workflowUUID: string): boolean {
    const execution = this.#executions.get(workflowUUID);
    return execution !== undefined && execution.fatalError === null;
  }

  /**
   * After a storage failure: resume the workflow from its committed records, at once the first time,
   * then with a doubling pause capped at RESUME_MAX_BACKOFF_MS while the store keeps failing.
   */
  #scheduleResume(workflowUUID: string, workflow: WorkflowRef, failure: unknown): void {
    if (!this.isOpen) return;
    const attempt = (this.#resumes.get(workflowUUID) ?? 0) + 1;
    this.#resumes.set(workflowUUID, attempt);
    const delayMs = resumeDelayMs(attempt);
    this.#reportStorageFailure(workflowUUID, workflow.name, failure, `stays PENDING and resumes from its committed records ${delayMs === 0 ? 'at once' : `in ${delayMs} ms`}`);
    const resume = (): void => this.#resume(workflowUUID, workflow);
    // The first resume is not a wait: it goes at the next turn, under any clock. Later ones are
    // pauses, on the engine's clock (a virtual clock must be advanced for them).
    if (delayMs === 0) setImmediate(resume);
    else this.wheel.arm(this.clock.now() + delayMs, resume);
  }

  #resume(workflowUUID: string, workflow: WorkflowRef): void {
    if (!this.isOpen || this.#hasLiveRun(workflowUUID)) return;
    const { store } = this;
    store.readCommitted(() => ({ record: store.workflows.get(workflowUUID), operations: store.operations.listForWorkflow(workflowUUID) })).then(
      ({ record, operations }) => {
        if (!this.isOpen || this.#hasLiveRun(workflowUUID)) return;
        // Gone (its start never committed) or finished meanwhile: nothing to resume.
        if (record === undefined || record.status !== 'PENDING') {
          this.#resumes.delete(workflowUUID);
          if (this.#executions.get(workflowUUID)?.fatalError != null) this.#executions.delete(workflowUUID);
          return;
        }
        let args: unknown[];
        try {
          args = decodeRecord<unknown[]>(record.inputs, workflowUUID, 'inputs');
        } catch (error) {
          this.#resumes.delete(workflowUUID);
          this.failUnreadable(workflowUUID, workflow.name, error as UnreadableRecordError);
          return;
        }
        // A workflow whose recovery count is not back to zero still owes the progress that resets it.
        // Once a commit of it lands (the store works again), a later fault starts the backoff anew.
        const execution: WorkflowExecution = this.run(workflowUUID, workflow, args, {
          recorded: operations,
          cause: 'resumed',
          owesProgress: record.recoveryAttempts > 0,
          onDurableProgress: () => {
            if (execution.fatalError === null && this.#executions.get(workflowUUID) === execution) this.#resumes.delete(workflowUUID);
          },
        });
      },
      (error: unknown) => this.#scheduleResume(workflowUUID, workflow, error),
    );
  }

  #reportStorageFailure(workflowUUID: string, workflowName: string, failure: unknown, outcome: string): void {
    this.options.onWarning({
      code: 'STORAGE_FAILED',
      workflowUUID,
      workflowName,
      message: `Storage failed under workflow "${workflowUUID}" (${(failure as Error)?.message}); it ${outcome}.`,
    });
  }
}

/** Engine internals, for durablite/testing only. */
export const engineInternals = new WeakMap<Engine, EngineEnvironment>();

/** Opens the store and, for a file, takes ownership of it. */
export function openOwnedStore(options: ResolvedOptions, interceptor: CommitInterceptor | null = null): { store: Store; lock: OwnershipLock | null } {
  const store = Store.open(options.database, options.synchronous, interceptor);
  try {
    return { store, lock: store.takeOwnership(options.clock.now()) };
  } catch (error) {
    store.close();
    throw error;
  }
}

/**
 * Opens an engine on `options.database`, with `interceptor` called around each of its commits (the
 * testing kit's fault injection, crash tests). Engine.open is this without an interceptor.
 * @internal
 */
export function openEngine(options: ResolvedOptions, interceptor: CommitInterceptor | null): Engine {
  const { store, lock } = openOwnedStore(options, interceptor);
  return startEngine(options, store, lock);
}

/**
 * Runs recovery on an opened, owned store and starts the engine. If anything fails, everything the
 * open took is released before the error is thrown.
 * @internal
 */
export function startEngine(options: ResolvedOptions, store: Store, lock: OwnershipLock | null): Engine {
  const env = new EngineEnvironment(options, store, lock);
  try {
    const { report, feedStart, suspects } = options.recover
      ? recoverPendingWorkflows(env, workflowRegistry, (uuid, workflow, args, recorded) => env.run(uuid, workflow, args, { recorded, cause: 'recovered', owesProgress: true }))
      : { report: { resumed: [], unregistered: [], givenUp: [], failed: [] }, feedStart: undefined, suspects: [] };
    const engine = new Engine(env, report);
    if (!isInMemory(options.database)) env.watchOtherProcesses(feedStart);
    if (suspects.length > 0) void env.runSuspects(suspects);
    // At the first turn after Engine.open resolved: a listener added right after `await` hears it.
    if (options.recover) setImmediate(() => env.isOpen && emitEvent(env.events, 'recovery', report));
    return engine;
  } catch (error) {
    env.abort();
    throw error;
  }
}

/**
 * The durable workflow engine on one SQLite file, and the {@link HandlerContext} for code outside
 * workflows. One Engine per file runs its workflows; other processes use {@link Client}.
 *
 * @example
 * const engine = await Engine.open({ database: 'shop.db' });
 * const handle = await engine.invoke(Shop).checkout('o-1');
 * console.log(await handle.getResult());
 * await engine.close();
 */
export class Engine extends HandlerBase implements HandlerContext {
  readonly #env: EngineEnvironment;
  /** What the recovery pass at open did. */
  readonly recovery: RecoveryReport;

  /**
   * Opens (or creates) the database, takes ownership of it, then resumes every unfinished workflow.
   * Register workflows (import their modules) before opening, so recovery can find them by name.
   *
   * @throws TypeError/RangeError for bad options; DatabaseOpenError; SchemaVersionError;
   *   DatabaseOwnedError when another live process owns the file.
   */
  static async open(options: EngineOptions): Promise<Engine> {
    return openEngine(resolveOptions(options), null);
  }

  /** @internal Use {@link Engine.open}. */
  constructor(env: EngineEnvironment, recovery: RecoveryReport) {
    super(env);
    this.#env = env;
    engineInternals.set(this, env);
    this.recovery = recovery;
  }

  /**
   * Starts workflows of a decorated class: `engine.invoke(Shop).checkout(...)` resolves to a handle
   * as soon as the workflow is recorded. With `workflowUUID`, that identity is used (idempotently).
   *
   * @example
   * const handle = await engine.invoke(Shop, 'order-o-1').checkout('o-1');
   */
  invoke<T extends object>(target: T, workflowUUID?: string): HandlerInvoker<T> {
    if ((typeof target !== 'function' && typeof target !== 'object') || target === null) throw typeError('target', 'a class', target);
    return new Proxy({}, {
      get: (_, property) => {
        const registration = registrationOf((target as Record<string | symbol, unknown>)[property]);
        if (registration === undefined) return undefined;
        if (registration.kind === 'step') {
          return () => Promise.reject(new TypeError(`${registration.name} is a step; steps run inside workflows. Call it from a workflow with ctxt.invoke().`));
        }
        return (...args: unknown[]) => this.startWorkflow(registration, { workflowUUID }, ...args);
      },
    }) as HandlerInvoker<T>;
  }

  /**
   * Starts a workflow and resolves to its handle once it is recorded (before it finishes). Starting
   * a UUID that already exists runs nothing and returns the existing workflow's handle.
   *
   * @example
   * const handle = await engine.startWorkflow(greet, { workflowUUID: 'greet-ada' }, 'Ada');
   * @throws RegistrationError when `workflow` is not registered; WorkflowConflictError when the UUID
   *   belongs to a workflow of another name; SerializationError/PayloadTooLargeError for inputs.
   */
  async startWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, options?: StartWorkflowOptions, ...args: Args): Promise<WorkflowHandle<R>> {
    assertOpen(this.#env, 'startWorkflow');
    const registration = requireWorkflow(workflow);
    const workflowUUID = startOptionsUUID(options);
    await startWorkflow(this.#env, registration, workflowUUID, args);
    return new WorkflowHandleImpl<R>(this.#env, workflowUUID);
  }

  /**
   * Closes the engine. Not a failure: running workflows stay PENDING and resume on the next open;
   * promises still waiting on this engine reject with EngineClosedError. Idempotent.
   */
  async close(): Promise<void> {
    this.#env.close();
  }
}

