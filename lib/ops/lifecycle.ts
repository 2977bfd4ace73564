// The lifecycle of a workflow, from its start to its recorded outcome:
// - start: record it PENDING with its inputs (shared by Engine, Client and child starts), launching
//   its code in the very transaction that records it when this process runs workflows;
// - run and finish (WorkflowRunner): run the code to its end and record SUCCESS or ERROR, then wake
//   whoever awaits it; a run a failed commit killed is resumed from its committed records;
// - recovery at open: every PENDING workflow resumes from the top, replaying what it recorded;
// - control (reconcile): a cancel stops the workflow's run here, a resume runs it again from its
//   records, whichever process asked; a workflow's deadline is armed on the timer wheel while it runs
//   here, and cancels it (and its descendants) when it passes.
//
// Recovery counts per workflow, not per open. Workflows with no failed recovery behind them are
// counted together in one transaction that reads, decides and commits before any workflow code runs
// (so one that kills the process synchronously is still counted, and the change feed starts from the
// same snapshot), and they run at once: the common case, fast for 100,000 of them. Suspects, those
// an open that did not end well already counted, run one at a time, each counted in a commit of its
// own just before its code runs. So a workflow that kills the process every time is the only one
// whose count grows, and it is given up after maxRecoveryAttempts while the others run.
import { andThen, isPromise, type Awaitable } from '../awaitable';
import type { EngineWarning, RecoveryReport, RunCause, WorkflowRef, WorkflowRegistry } from '../contracts';
import { MaxRecoveryAttemptsExceededError, StorageError, UnreadableRecordError, WorkflowCancelledError, WorkflowConflictError } from '../errors';
import type { TimerHandle } from '../runtime/timer-wheel';
import { pauseRealTime } from '../runtime/clock';
import { workflowKey } from '../runtime/waiters';
import { decode } from '../store/codec';
import { cancellationOf, type Commit, type ControlState, type FeedPosition, type RecoveryDecisions, type RecoverySnapshot, type Store, type WorkflowSnapshot, type Written } from '../store/store';
import type { OperationRecord } from '../types';
import { cancelWorkflow } from './control';
import { assertOpen, emitEvent, writeWhenUnlocked, type OperationEnvironment } from './environment';
import { WorkflowExecution } from './execution';
import type { NewWorkflow } from './external';
import { decodeRecord, encodeError, encodePayload } from './payload';
import { WorkflowContextImpl } from './workflow-context';

// ---- start ----

/**
 * Starts workflow `workflow` (a registration to run here, or only the name of one another process
 * runs) as `workflowUUID`. Starting a UUID that exists runs nothing.
 * @throws WorkflowConflictError when the UUID belongs to a workflow of another name (judged on the
 *   committed row); SerializationError/PayloadTooLargeError for the inputs; StorageError.
 */
export async function startWorkflow(env: OperationEnvironment, workflow: WorkflowRef | string, workflowUUID: string, args: unknown[], timeoutMs: number | null = null): Promise<void> {
  assertOpen(env, 'startWorkflow');
  const workflowName = typeof workflow === 'string' ? workflow : workflow.name;
  const inputs = encodePayload(env, args, `inputs of workflow ${workflowName}`);
  // Whole epoch ms (deadline_ms is an INTEGER column), rounded up so a workflow never times out early.
  const deadlineMs = timeoutMs === null ? null : Math.ceil(env.clock.now() + timeoutMs);
  const pending = writeWhenUnlocked(env, () => env.store.startWorkflow(workflowUUID, workflowName, inputs, env.clock.now(), deadlineMs));
  // Taken in this turn when the store answered at once (see below).
  const { value: inserted, commit } = isPromise(pending) ? await pending : pending;
  // The workflow sees its inputs as recorded, exactly as a recovered run would. It starts at once,
  // inside the transaction that records it; if that commit fails, the run is abandoned before it can
  // record anything, or start a step, for a workflow that does not exist.
  if (inserted && typeof workflow !== 'string') env.launch(workflowUUID, workflow, decode<unknown[]>(inputs), commit, deadlineMs);
  await commit.durable;
  // The UUID existed: judged on the committed row, never on one that might still roll back.
  if (!inserted) await checkSameWorkflow(env.store, workflowUUID, workflowName);
}

/** Throws WorkflowConflictError when an existing UUID belongs to a workflow of another name. */
export async function checkSameWorkflow(store: Store, workflowUUID: string, workflowName: string): Promise<void> {
  const existing = await store.workflows.get(workflowUUID);
  if (existing === undefined && await store.workflows.wasDeletedCancelled(workflowUUID)) {
    throw new WorkflowConflictError(workflowUUID, 'deleted (cancelled)', workflowName);
  }
  if (existing !== undefined && existing.workflowName !== workflowName) {
    throw new WorkflowConflictError(workflowUUID, existing.workflowName, workflowName, existing.parentUUID);
  }
}

// ---- run and finish ----

/** What #claimedSnapshot gives for a workflow another engine holds. */
const HELD_ELSEWHERE: WorkflowSnapshot = Object.freeze({ record: undefined, operations: [] });

/** After a storage failure, the first resume is at the next turn; later ones back off, doubling from this. */
export const RESUME_FIRST_BACKOFF_MS = 100;
/** The longest pause between two resumes of a workflow whose storage keeps failing. */
export const RESUME_MAX_BACKOFF_MS = 5000;

/** The pause before the `attempt`-th resume (1-based) of a workflow after storage failures. */
export function resumeDelayMs(attempt: number): number {
  return attempt <= 1 ? 0 : Math.min(RESUME_MAX_BACKOFF_MS, RESUME_FIRST_BACKOFF_MS * 2 ** (attempt - 2));
}

/** How a run of a workflow begins (see WorkflowRunner.run). */
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
  /** The workflow's recorded deadline (epoch ms), armed while it runs here; none by default. */
  deadlineMs?: number | null;
}

/** Real milliseconds recovery waits for a suspect workflow to get under way before starting the next. */
const SUSPECT_GRACE_MS = 1000;

/**
 * Runs the workflows of one engine: new ones, those other processes started, those recovery resumes,
 * and those a storage failure stopped (resumed with a backoff). Each run ends with its outcome
 * recorded, or with the workflow PENDING to resume.
 */
export class WorkflowRunner {
  readonly #env: OperationEnvironment;
  readonly #registry: WorkflowRegistry;
  /** Workflows waiting to resume after a storage failure, with how many resumes were scheduled. */
  readonly #resumes = new Map<string, number>();
  /** The latest run of each workflow whose code has not ended (a dead run stays until replaced). */
  readonly #executions = new Map<string, WorkflowExecution>();
  /** Dead runs whose resume is already scheduled. */
  readonly #dead = new WeakSet<WorkflowExecution>();
  /** Runs whose outcome is being recorded (once per run, whichever path gets there first). */
  readonly #finishing = new WeakSet<WorkflowExecution>();
  /** The armed deadline of each workflow running here that has one. */
  readonly #deadlines = new Map<string, { deadlineMs: number; timer: TimerHandle }>();
  /** Workflows a resume is about to run again (between its request and the run's start). */
  readonly #resuming = new Set<string>();
  /** Workflows started elsewhere being claimed and read, before their run starts here. */
  readonly #claiming = new Set<string>();

  constructor(env: OperationEnvironment, registry: WorkflowRegistry) {
    this.#env = env;
    this.#registry = registry;
  }

  /**
   * After changes may have gone unannounced (see ops/external.ts): the workflows running here look
   * at their rows again (a cancel or resume by another process). Workflows started elsewhere that
   * nobody runs are found by the executor's takeover (ops/executor-beat.ts).
   */
  reconcileRunning(): void {
    if (this.#env.isOpen) this.reconcile([...this.#executions.keys()]);
  }

  /**
   * Runs a workflow another process started (or resumed, or forked), once this engine claimed it;
   * `takenOver`: this engine took it over from another (its beat already claimed it), so it runs as
   * a recovered workflow, whose progress resets its recovery count.
   */
  runStartedElsewhere(workflow: NewWorkflow, takenOver = false): void {
    const { workflowUUID, workflowName } = workflow;
    if (this.#executions.has(workflowUUID) || this.#resumes.has(workflowUUID) || this.#claiming.has(workflowUUID)) return;
    const registration = this.#registry.workflowNamed(workflowName);
    if (registration === undefined) {
      this.#env.options.onWarning({
        code: 'WORKFLOW_NOT_REGISTERED',
        workflowUUID,
        workflowName,
        message: `Another process started workflow "${workflowUUID}" as "${workflowName}", which is not registered here; it stays PENDING. ${this.#registry.unregisteredHint(workflowName)}`,
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
    // If that read fails, the feed has moved past it: resume it like any workflow whose storage failed.
    const run = (recorded: OperationRecord[]): void => {
      this.#claiming.delete(workflowUUID);
      if (!this.#env.isOpen || this.#executions.has(workflowUUID)) return;
      this.run(workflowUUID, registration, args, { recorded, cause: takenOver ? 'recovered' : 'started', owesProgress: takenOver, deadlineMs: workflow.deadlineMs });
    };
    const failed = (error: unknown): void => {
      this.#claiming.delete(workflowUUID);
      this.#scheduleResume(workflowUUID, registration, error);
    };
    const readAndRun = (): void => {
      let recorded: Awaitable<OperationRecord[]>;
      try {
        recorded = this.#env.store.operations.listForWorkflow(workflowUUID);
      } catch (error) {
        failed(error);
        return;
      }
      if (isPromise(recorded)) recorded.then(run, failed);
      else run(recorded);
    };
    this.#claiming.add(workflowUUID);
    if (takenOver) return readAndRun();
    // Engines sharing a database: only the one that claims it runs it (see Store.claim).
    let claimed: Awaitable<boolean>;
    try {
      // Held by this engine already counts: its own beat may have claimed it meanwhile (a Client's
      // start is claimable by both), and skipped it as being claimed here. (An engine's own starts
      // are never announced, so this is never one it launched itself.)
      claimed = this.#env.store.claim(workflowUUID);
    } catch (error) {
      failed(error);
      return;
    }
    const afterClaim = (held: boolean): void => {
      if (held) return readAndRun();
      this.#claiming.delete(workflowUUID);
    };
    if (isPromise(claimed)) claimed.then(afterClaim, failed);
    else afterClaim(claimed);
  }

  /**
   * Brings what runs here in line with the workflows' rows, after a cancel or resume committed (by
   * this process, or by another, told through the change feed): a CANCELLED workflow's run is
   * cancelled (its waits end at once) and its deadline disarmed; a PENDING workflow with no live run
   * here is run again from its records (once the steps of a cancelled run have ended, so that no step
   * runs twice at once). Idempotent, and judged on the rows, so the order of requests does not matter.
   * Reads committed rows: call it when no write of this process is waiting to commit.
   */
  reconcile(workflowUUIDs: readonly string[], known?: ReadonlyMap<string, ControlState>): void {
    for (const workflowUUID of workflowUUIDs) {
      const state = known?.get(workflowUUID);
      if (state !== undefined) {
        this.#reconcileOne(workflowUUID, state);
        continue;
      }
      const unread = (error: unknown): void => this.#reportStorageFailure(workflowUUID, '?', error, 'is checked again on the next change');
      let read: Awaitable<ControlState | undefined>;
      try {
        read = this.#env.store.workflows.controlState(workflowUUID);
      } catch (error) {
        unread(error);
        continue;
      }
      if (isPromise(read)) read.then((row) => this.#reconcileOne(workflowUUID, row), unread);
      else this.#reconcileOne(workflowUUID, read);
    }
  }

  /** reconcile() of one workflow, once its row is read. */
  #reconcileOne(workflowUUID: string, state: ControlState | undefined): void {
    const execution = this.#executions.get(workflowUUID);
    if (state === undefined) {
      // Deleted (a forced delete, or a cancelled run's steps still going): its run ends here too.
      this.#disarmDeadline(workflowUUID);
      if (execution !== undefined && execution.cancel(new WorkflowCancelledError(workflowUUID))) {
        void execution.stepsDone().then(() => {
          if (this.#executions.get(workflowUUID) === execution) this.#executions.delete(workflowUUID);
        });
      }
      return;
    }
    if (state.status === 'CANCELLED') {
      this.#disarmDeadline(workflowUUID);
      if (execution !== undefined && execution.cancel(cancellationOf(workflowUUID, state.error))) {
        emitEvent(this.#env.events, 'workflowFinished', { workflowUUID, workflowName: execution.workflowName, status: 'CANCELLED' });
        // Its code may never return: forget the run once its steps in flight have ended.
        void execution.stepsDone().then(() => {
          if (this.#executions.get(workflowUUID) === execution) this.#executions.delete(workflowUUID);
        });
      }
    } else if (state.status === 'PENDING') {
      if ((execution !== undefined && execution.isLive) || this.#resumes.has(workflowUUID) || this.#resuming.has(workflowUUID)) return;
      this.#runResumed(workflowUUID, execution);
    }
  }

  /**
   * The workflow and its committed records, once this engine holds it (Store.claim); as if it did
   * not exist when another engine holds it, so that it is left to that one.
   */
  #claimedSnapshot(workflowUUID: string): Awaitable<WorkflowSnapshot> {
    const { store } = this.#env;
    return andThen(store.claim(workflowUUID), (held) => (held ? store.readCommitted(() => store.snapshotOf(workflowUUID), workflowUUID) : HELD_ELSEWHERE));
  }

  /** Runs a workflow a resume returned to PENDING, from its committed records. */
  #runResumed(workflowUUID: string, previous: WorkflowExecution | undefined): void {
    this.#resuming.add(workflowUUID);
    // A step running at the cancel keeps its outcome: stepsDone resolves once that record settled
    // (a transaction on PostgreSQL, a group commit on SQLite), so the read below sees it.
    void (previous?.stepsDone() ?? Promise.resolve())
      .then(() => this.#claimedSnapshot(workflowUUID))
      .then(
        ({ record, operations }) => {
          this.#resuming.delete(workflowUUID);
          if (!this.#env.isOpen || record === undefined || record.status !== 'PENDING') return;
          if (this.#executions.get(workflowUUID)?.isLive === true || this.#resumes.has(workflowUUID)) return;
          const registration = this.#registry.workflowNamed(record.workflowName);
          if (registration === undefined) {
            this.#warnNotRegistered(workflowUUID, record.workflowName, 'was resumed');
            return;
          }
          let args: unknown[];
          try {
            args = decodeRecord<unknown[]>(record.inputs, workflowUUID, 'inputs');
          } catch (error) {
            this.failUnreadable(workflowUUID, record.workflowName, error as UnreadableRecordError);
            return;
          }
          this.run(workflowUUID, registration, args, { recorded: operations, cause: 'resumed', deadlineMs: record.deadlineMs });
        },
        (error: unknown) => {
          // The claim is a commit on PostgreSQL, and may fail: resumed as after any storage failure.
          // Its workflow is the cancelled run's (which may be forgotten by now), else the record's.
          this.#resuming.delete(workflowUUID);
          const registration = this.#registry.workflowNamed(previous?.workflowName ?? this.#executions.get(workflowUUID)?.workflowName ?? '');
          this.#scheduleResume(workflowUUID, registration ?? null, error);
        },
      );
  }

  /** Arms the workflow's deadline on the timer wheel (once per workflow and deadline). */
  #armDeadline(workflowUUID: string, deadlineMs: number | null, attempt = 0): void {
    if (deadlineMs === null) return;
    const armed = this.#deadlines.get(workflowUUID);
    if (armed !== undefined) {
      if (armed.deadlineMs === deadlineMs && attempt === 0) return;
      armed.timer.cancel();
    }
    const fireAtMs = attempt === 0 ? deadlineMs : this.#env.clock.now() + Math.max(RESUME_FIRST_BACKOFF_MS, resumeDelayMs(attempt + 1));
    const timer = this.#env.wheel.arm(fireAtMs, () => this.#onDeadline(workflowUUID, deadlineMs, attempt));
    this.#deadlines.set(workflowUUID, { deadlineMs, timer });
  }

  #disarmDeadline(workflowUUID: string): void {
    this.#deadlines.get(workflowUUID)?.timer.cancel();
    this.#deadlines.delete(workflowUUID);
  }

  /**
   * The deadline passed: cancel the workflow and its descendants, with WorkflowTimeoutError as the
   * recorded reason (only while that deadline stands: a resume clears it). A storage failure tries
   * again after a pause.
   */
  #onDeadline(workflowUUID: string, deadlineMs: number, attempt: number): void {
    this.#deadlines.delete(workflowUUID);
    if (!this.#env.isOpen) return;
    cancelWorkflow(this.#env, workflowUUID, { cancelChildren: true, deadlineMs }).catch((error: unknown) => {
      if (!this.#env.isOpen) return;
      this.#reportStorageFailure(workflowUUID, this.#executions.get(workflowUUID)?.workflowName ?? '?', error, 'stays PENDING past its deadline; its timeout is tried again');
      if (!this.#deadlines.has(workflowUUID)) this.#armDeadline(workflowUUID, deadlineMs, attempt + 1);
    });
  }

  /**
   * The startup pass: resumes every PENDING workflow not under suspicion (see the module's header),
   * and returns the report, where the change feed must start, and the suspects for runSuspects.
   * @throws StorageError when the pass cannot be committed; no workflow ran then.
   */
  recover(): Awaitable<RecoveryOutcome> {
    return recoverPendingWorkflows(this.#env, this.#registry, (workflowUUID, workflow, args, recorded, deadlineMs) =>
      this.run(workflowUUID, workflow, args, { recorded, cause: 'recovered', owesProgress: true, deadlineMs }));
  }

  /**
   * Runs the workflows an earlier open counted without seeing them progress, one at a time: each is
   * counted in a commit of its own just before its code runs, and the next starts once it is under
   * way (or after a second of real time, so that one stuck outside durablite holds up no other).
   */
  async runSuspects(suspects: readonly SuspectRun[]): Promise<void> {
    for (const suspect of suspects) {
      const { workflowUUID, workflow } = suspect;
      if (!this.#env.isOpen) return;
      if (this.#executions.has(workflowUUID)) continue;
      try {
        await this.#env.store.countRecoveryAttempt(workflowUUID, suspect.attempt, this.#env.clock.now());
      } catch (error) {
        // Its code must not run uncounted: count it (then run it) again after a pause.
        const tries = (suspect.countTries ?? 0) + 1;
        const delayMs = Math.max(RESUME_FIRST_BACKOFF_MS, resumeDelayMs(tries + 1));
        this.#reportStorageFailure(workflowUUID, workflow.name, error, `stays PENDING; its recovery is counted and run in ${delayMs} ms`);
        this.#env.wheel.arm(this.#env.clock.now() + delayMs, () => void this.runSuspects([{ ...suspect, countTries: tries }]));
        continue;
      }
      const execution = this.run(workflowUUID, workflow, suspect.args, { recorded: suspect.recorded, cause: 'recovered', owesProgress: true, deadlineMs: suspect.deadlineMs });
      await Promise.race([execution.underWay(), pauseRealTime(SUSPECT_GRACE_MS, false)]);
      // Its progress resets its count in the commit of its batch: let that land first.
      await this.#env.store.readCommitted(() => undefined, workflowUUID).catch(() => {});
    }
  }

  /**
   * A workflow whose record cannot be read cannot run: it is finished as ERROR with the
   * UnreadableRecordError, and a warning names it. Every other workflow goes on.
   */
  failUnreadable(workflowUUID: string, workflowName: string, error: UnreadableRecordError): void {
    this.#env.options.onWarning({
      code: 'UNREADABLE_RECORD',
      workflowUUID,
      workflowName,
      message: `${error.message} Workflow "${workflowUUID}" is marked ERROR.`,
    });
    let written: Awaitable<Written<boolean>>;
    try {
      written = this.#env.store.finishWorkflow(workflowUUID, 'ERROR', null, encodeError(error), this.#env.clock.now());
    } catch (failure) {
      this.#reportStorageFailure(workflowUUID, workflowName, failure, 'stays PENDING');
      return;
    }
    Promise.resolve(written).then(({ commit }) => commit.durable).then(
      () => this.#env.waiters.notify(workflowKey(workflowUUID)),
      (failure: unknown) => this.#reportStorageFailure(workflowUUID, workflowName, failure, 'stays PENDING'),
    );
  }

  /** Runs a workflow whose row was just written in the batch of `commit`; the run dies if that commit fails. */
  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[], commit: Commit, deadlineMs: number | null = null, recorded: OperationRecord[] = []): void {
    // The run dies if its start does not commit; its steps wait for that commit. A fork starts with
    // the records it copied, replayed.
    this.run(workflowUUID, workflow, args, { cause: 'started', startCommit: commit, deadlineMs, recorded });
  }

  /**
   * Runs a fork whose row and copied records were just written in the batch of `commit`: it replays
   * `recorded` and runs on from there. A workflow not registered here is left PENDING, as a client's
   * start is (the change feed warns); one whose inputs cannot be read is left to the feed as well.
   */
  launchFork(workflowUUID: string, workflowName: string, inputs: string, recorded: OperationRecord[], commit: Commit, deadlineMs: number | null): void {
    const registration = this.#registry.workflowNamed(workflowName);
    if (registration === undefined) return;
    let args: unknown[];
    try {
      args = decodeRecord<unknown[]>(inputs, workflowUUID, 'inputs');
    } catch {
      return;
    }
    this.launch(workflowUUID, registration, args, commit, deadlineMs, recorded);
  }

  /**
   * Runs workflow code to its end and records the outcome; never rejects. When the store fails under
   * the run, the workflow stays PENDING and is resumed from its committed records.
   */
  run(workflowUUID: string, workflow: WorkflowRef, args: unknown[], how: RunOptions): WorkflowExecution {
    const deadlineMs = how.deadlineMs ?? null;
    const execution = new WorkflowExecution(this.#env, workflowUUID, workflow.name, how.recorded ?? [], how.owesProgress ?? false, deadlineMs);
    this.#armDeadline(workflowUUID, deadlineMs);
    const started = { workflowUUID, workflowName: workflow.name, cause: how.cause };
    if (how.startCommit === undefined) {
      emitEvent(this.#env.events, 'workflowStarted', started);
    } else {
      // Before any of its code runs: a step must not start before the workflow's own row is
      // committed, and a start that failed is no workflow (nothing to resume, nothing to announce).
      how.startCommit.onFailure(() => (execution.startFailed = true));
      void execution.committed(how.startCommit);
      how.startCommit.durable.then(() => emitEvent(this.#env.events, 'workflowStarted', started), () => {});
    }
    execution.onDeath = (error) => {
      if (error instanceof StorageError) this.#afterDeath(execution, workflow, error);
      // If the commit of that ERROR fails, the workflow stays PENDING and is resumed like any other.
      else void this.#finishEnded(execution, workflow, error).catch((failure: unknown) => this.#afterDeath(execution, workflow, failure));
    };
    execution.onDurableProgress = how.onDurableProgress ?? null;
    this.#executions.set(workflowUUID, execution);
    // A deadline already past (a timeout of 0, or one that passed while no engine ran): the timeout
    // cancels the workflow now, before any of its code runs, rather than when the timer fires.
    if (this.#isOverdue(execution)) {
      this.#disarmDeadline(workflowUUID);
      this.#onDeadline(workflowUUID, deadlineMs!, 0);
    }
    const context = new WorkflowContextImpl(this.#env, execution, this.#registry);
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
      } else if (this.#env.store.isOwnFailure(failure)) {
        this.#afterDeath(execution, workflow, failure);
      } else if (this.#env.isOpen) {
        this.#env.options.onWarning({
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
    if (!this.#env.isOpen) return;
    // Cancelled: its row says so, and is never overwritten (a resume may even run it again meanwhile).
    if (execution.cancellation !== null) return;
    const fatal = execution.fatalError;
    // A store failure is not the workflow's outcome: it stays PENDING and resumes from its records.
    if (this.#env.store.isOwnFailure(fatal)) throw fatal;
    if (failed && this.#env.store.isOwnFailure(thrown)) throw thrown;
    // Replay diverged, or a record could not be read: that is the workflow's outcome.
    if (fatal !== null) return this.#finishEnded(execution, workflow, fatal);
    let outputText: string | null = null;
    if (!failed) {
      try {
        outputText = encodePayload(this.#env, output, `result of workflow ${workflow.name}`);
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
    if (!this.#env.isOpen || this.#finishing.has(execution)) return;
    if (fatal instanceof UnreadableRecordError) {
      this.#env.options.onWarning({
        code: 'UNREADABLE_RECORD',
        workflowUUID: execution.workflowUUID,
        workflowName: workflow.name,
        message: `${fatal.message} Workflow "${execution.workflowUUID}" is marked ERROR.`,
      });
    }
    await this.#finish(execution, workflow, 'ERROR', null, encodeError(fatal));
  }

  /** Whether the run's workflow has a deadline that has passed (its timer may not have fired yet). */
  #isOverdue(execution: WorkflowExecution): boolean {
    return execution.deadlineMs !== null && execution.deadlineMs <= this.#env.clock.now();
  }

  async #finish(execution: WorkflowExecution, workflow: WorkflowRef, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null): Promise<void> {
    if (this.#finishing.has(execution)) return;
    const { workflowUUID } = execution;
    // Past its deadline, a workflow times out even if its code returned before the timer fired.
    if (this.#isOverdue(execution)) {
      this.#disarmDeadline(workflowUUID);
      this.#onDeadline(workflowUUID, execution.deadlineMs!, 0);
      return;
    }
    this.#finishing.add(execution);
    const written = this.#env.store.finishWorkflow(workflowUUID, status, output, error, this.#env.clock.now());
    const { value: finished, commit } = isPromise(written) ? await written : written;
    await commit.durable;
    this.#env.waiters.notify(workflowKey(workflowUUID));
    // Not PENDING any more: another process cancelled it before this run heard of it.
    if (!finished) return;
    if (this.#deadlines.get(workflowUUID) !== undefined && this.#executions.get(workflowUUID) === execution) this.#disarmDeadline(workflowUUID);
    emitEvent(this.#env.events, 'workflowFinished', { workflowUUID, workflowName: workflow.name, status });
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
    return execution !== undefined && execution.isLive;
  }

  /**
   * After a storage failure: resume the workflow from its committed records, at once the first time,
   * then with a doubling pause capped at RESUME_MAX_BACKOFF_MS while the store keeps failing.
   */
  #scheduleResume(workflowUUID: string, workflow: WorkflowRef | null, failure: unknown): void {
    if (!this.#env.isOpen) return;
    const attempt = (this.#resumes.get(workflowUUID) ?? 0) + 1;
    this.#resumes.set(workflowUUID, attempt);
    const delayMs = resumeDelayMs(attempt);
    this.#reportStorageFailure(workflowUUID, workflow?.name ?? '?', failure, `stays PENDING and resumes from its committed records ${delayMs === 0 ? 'at once' : `in ${delayMs} ms`}`);
    const resume = (): void => this.#resume(workflowUUID, workflow);
    // The first resume is not a wait: it goes at the next turn, under any clock. Later ones are
    // pauses, on the engine's clock (a virtual clock must be advanced for them).
    if (delayMs === 0) setImmediate(resume);
    else this.#env.wheel.arm(this.#env.clock.now() + delayMs, resume);
  }

  /** Resumes the workflow from its committed records; `known` null: the workflow its record names. */
  #resume(workflowUUID: string, known: WorkflowRef | null): void {
    if (!this.#env.isOpen || this.#hasLiveRun(workflowUUID)) return;
    Promise.resolve(this.#claimedSnapshot(workflowUUID)).then(
      ({ record, operations }) => {
        if (!this.#env.isOpen || this.#hasLiveRun(workflowUUID)) return;
        // Gone (its start never committed) or finished meanwhile: nothing to resume.
        if (record === undefined || record.status !== 'PENDING') {
          this.#resumes.delete(workflowUUID);
          if (this.#executions.get(workflowUUID)?.fatalError != null) this.#executions.delete(workflowUUID);
          return;
        }
        const workflow = known ?? this.#registry.workflowNamed(record.workflowName);
        if (workflow === undefined) {
          this.#resumes.delete(workflowUUID);
          this.#warnNotRegistered(workflowUUID, record.workflowName, 'was resumed');
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
          deadlineMs: record.deadlineMs,
          owesProgress: record.recoveryAttempts > 0,
          onDurableProgress: () => {
            if (execution.fatalError === null && this.#executions.get(workflowUUID) === execution) this.#resumes.delete(workflowUUID);
          },
        });
      },
      (error: unknown) => this.#scheduleResume(workflowUUID, known, error),
    );
  }

  #warnNotRegistered(workflowUUID: string, workflowName: string, what: string): void {
    this.#env.options.onWarning({
      code: 'WORKFLOW_NOT_REGISTERED',
      workflowUUID,
      workflowName,
      message: `Workflow "${workflowUUID}" ${what}, but no workflow named "${workflowName}" is registered here; it stays PENDING. ${this.#registry.unregisteredHint(workflowName)}`,
    });
  }

  #reportStorageFailure(workflowUUID: string, workflowName: string, failure: unknown, outcome: string): void {
    this.#env.options.onWarning({
      code: 'STORAGE_FAILED',
      workflowUUID,
      workflowName,
      message: `Storage failed under workflow "${workflowUUID}" (${(failure as Error)?.message}); it ${outcome}.`,
    });
  }
}

// ---- recovery at open ----

/** A workflow to resume that was already counted by an earlier open: counted and run on its own. */
export interface SuspectRun {
  workflowUUID: string;
  workflow: WorkflowRef;
  args: unknown[];
  /** Its recovery attempt count once this run is counted. */
  attempt: number;
  /** Its recorded deadline, re-armed as it runs. */
  deadlineMs: number | null;
  recorded: OperationRecord[];
  /** How many times counting this run failed already (a storage fault). */
  countTries?: number;
}

/** What the recovery pass did, where the change feed must start, and the suspects for runSuspects. */
export interface RecoveryOutcome {
  report: RecoveryReport;
  feedStart: FeedPosition;
  suspects: SuspectRun[];
}

interface Plan extends RecoveryDecisions {
  attempts: [string, number][];
  givenUp: [string, string][];
  failed: [string, string][];
  toRun: { workflowUUID: string; workflow: WorkflowRef; args: unknown[]; deadlineMs: number | null }[];
  suspects: Omit<SuspectRun, 'recorded'>[];
  warnings: EngineWarning[];
  report: RecoveryReport;
}

/**
 * Resumes every PENDING workflow not under suspicion through `run` (which starts its code and
 * returns at once), after committing the pass's bookkeeping, and returns the suspects for the caller
 * to count and run one by one. Also returns where a change feed must start to miss no commit made
 * by another process since the pass read the workflows.
 * @throws StorageError when the pass cannot be committed; no workflow ran then.
 */
function recoverPendingWorkflows(
  env: OperationEnvironment,
  registry: WorkflowRegistry,
  run: (workflowUUID: string, workflow: WorkflowRef, args: unknown[], recorded: OperationRecord[], deadlineMs: number | null) => void,
): Awaitable<RecoveryOutcome> {
  const { store, options } = env;
  const pass = store.recover((pending) => {
    const plan: Plan = {
      attempts: [], givenUp: [], failed: [], toRun: [], suspects: [], warnings: [], readOperations: false,
      report: { resumed: [], unregistered: [], givenUp: [], failed: [] },
    };
    for (const record of pending) {
      const { workflowUUID, workflowName } = record;
      const registration = registry.workflowNamed(workflowName);
      if (registration === undefined) {
        plan.report.unregistered.push(workflowUUID);
        plan.warnings.push({
          code: 'WORKFLOW_NOT_REGISTERED',
          workflowUUID,
          workflowName,
          message: `Workflow "${workflowUUID}" is PENDING but no workflow named "${workflowName}" is registered; it stays PENDING. ${registry.unregisteredHint(workflowName)}`,
        });
        continue;
      }
      let args: unknown[];
      try {
        args = decodeRecord<unknown[]>(record.inputs, workflowUUID, 'inputs');
      } catch (error) {
        plan.failed.push([workflowUUID, encodeError(error)]);
        plan.report.failed.push(workflowUUID);
        plan.warnings.push({
          code: 'UNREADABLE_RECORD',
          workflowUUID,
          workflowName,
          message: `${(error as UnreadableRecordError).message} Workflow "${workflowUUID}" is marked ERROR.`,
        });
        continue;
      }
      const attempt = record.recoveryAttempts + 1;
      if (attempt > options.maxRecoveryAttempts) {
        plan.givenUp.push([workflowUUID, encodeError(new MaxRecoveryAttemptsExceededError(workflowUUID, record.recoveryAttempts))]);
        plan.report.givenUp.push(workflowUUID);
        continue;
      }
      if (record.recoveryAttempts === 0) {
        plan.attempts.push([workflowUUID, attempt]);
        plan.toRun.push({ workflowUUID, workflow: registration, args, deadlineMs: record.deadlineMs });
      } else {
        plan.suspects.push({ workflowUUID, workflow: registration, args, attempt, deadlineMs: record.deadlineMs });
      }
    }
    plan.readOperations = plan.toRun.length > 0 || plan.suspects.length > 0;
    return plan;
  }, env.clock.now());
  return andThen(pass, (snapshot) => runRecovered(env, snapshot, run));
}

/** The recovery pass committed: now tell, wake whoever awaits the workflows that ended, and run the others. */
function runRecovered(
  env: OperationEnvironment,
  snapshot: RecoverySnapshot<Plan>,
  run: (workflowUUID: string, workflow: WorkflowRef, args: unknown[], recorded: OperationRecord[], deadlineMs: number | null) => void,
): RecoveryOutcome {
  const { report, warnings, toRun, suspects } = snapshot.decisions;
  const { options } = env;
  for (const warning of warnings) options.onWarning(warning);
  for (const uuid of report.givenUp) env.waiters.notify(workflowKey(uuid));
  for (const uuid of report.failed) env.waiters.notify(workflowKey(uuid));
  for (const { workflowUUID, workflow, args, deadlineMs } of toRun) {
    run(workflowUUID, workflow, args, snapshot.operations.get(workflowUUID) ?? [], deadlineMs);
    report.resumed.push(workflowUUID);
  }
  for (const suspect of suspects) report.resumed.push(suspect.workflowUUID);
  const suspectRuns = suspects.map((suspect) => ({ ...suspect, recorded: snapshot.operations.get(suspect.workflowUUID) ?? [] }));
  return { report, feedStart: snapshot.feedStart, suspects: suspectRuns };
}
