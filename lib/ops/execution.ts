// The state of one run of one workflow: its recorded operations (loaded once, for replay), the next
// operation index, whether a recovered run has shown progress yet, and whether the run is dead. A run
// dies the moment a commit holding one of its records (or its start) fails: from then on it writes
// nothing, its waits end, no step of it starts, and once its steps in flight have ended the engine
// resumes the workflow from what was committed. A run is cancelled when its workflow is (a cancel, its
// deadline): its waits end at once with the WorkflowCancelledError, no operation of it records
// anything more, and its code stops once it has met that error.
import { DeterminismError, StorageError, UnreadableRecordError, WorkflowCancelledError, WorkflowContextError } from '../errors';
import type { StartedWait } from '../runtime/waiters';
import type { OperationKind, OperationPosition, OperationRecord } from '../types';
import type { OperationEnvironment } from './environment';
import type { Commit } from '../store/store';
import { decodeRecord } from './payload';

/**
 * What an operation of a run that ended for good meets (a storage failure, a replay that diverged,
 * an unreadable record): WorkflowContextImpl turns it into a promise that never settles. The code of
 * an ended run simply stops, as a killed process would: a loop that catches errors cannot spin on
 * it, and a step left unawaited cannot reject unhandled. The error that ended the run is thrown
 * once, by the operation that met it.
 */
export class RunEnded extends Error {
  constructor() {
    super('This run of the workflow ended: a commit holding its records failed, and it resumes from what was committed.');
  }
}

const RUN_ENDED = new RunEnded();

/** The WorkflowContext method behind each operation kind, for error messages. */
const methodOfKind: Record<OperationKind, string> = {
  step: 'runStep', child: 'startChildWorkflow', send: 'send', recv: 'recv', setEvent: 'setEvent', getEvent: 'getEvent', sleep: 'sleep', select: 'select',
  writeStream: 'writeStream', closeStream: 'closeStream', readStream: 'readStream',
  now: 'now', randomUUID: 'randomUUID',
};

export class WorkflowExecution {
  readonly workflowUUID: string;
  readonly workflowName: string;
  readonly #recorded: Map<number, OperationRecord>;
  readonly #env: OperationEnvironment;
  #nextIndex = 0;
  #awaitingProgress: boolean;
  /**
   * Set when replay diverged, a record could not be read, or the store failed under an operation
   * (which then has no record): the run ends with this error whatever the code does next.
   */
  fatalError: DeterminismError | StorageError | UnreadableRecordError | null = null;
  #ended = false;
  /** Waits under way, ended at once when the run dies. */
  readonly #waits = new Set<StartedWait>();
  /** The latest commit holding a write of this run (or its start), or null when all are settled. */
  #latestCommit: Commit | null = null;
  #stepsRunning = 0;
  #onStepsDone: (() => void)[] = [];
  #onUnderWay: (() => void) | null = null;
  #isUnderWay = false;
  /**
   * Called once when the run ends for good before its code returned: of a storage failure (the
   * engine schedules the resume) or of a diverged replay or unreadable record (the engine records
   * the workflow's ERROR at once, since the code may never return).
   */
  onDeath: ((error: StorageError | DeterminismError | UnreadableRecordError) => void) | null = null;
  /** Called once, when a commit of this run first lands (the engine's resume backoff starts anew). */
  onDurableProgress: (() => void) | null = null;
  /** Set when the commit that held the workflow's own start failed: there is no workflow to resume. */
  startFailed = false;
  /** The workflow's deadline in epoch ms (its children's is at most this), or null for none. */
  readonly deadlineMs: number | null;
  /** Set once the workflow is known CANCELLED: the error its code meets (see cancel()). */
  cancellation: WorkflowCancelledError | null = null;
  /** Whether the code has met the cancellation: from then on, its operations never settle. */
  cancellationDelivered = false;

  constructor(env: OperationEnvironment, workflowUUID: string, workflowName: string, recorded: OperationRecord[], recovered: boolean, deadlineMs: number | null = null) {
    this.#env = env;
    this.workflowUUID = workflowUUID;
    this.workflowName = workflowName;
    this.deadlineMs = deadlineMs;
    this.#recorded = new Map(recorded.map((operation) => [operation.operationIndex, operation]));
    this.#awaitingProgress = recovered;
  }

  /**
   * Takes the next operation index and returns what was recorded there, if anything. Called
   * synchronously when an operation is called, so concurrent operations get stable indexes.
   *
   * @throws DeterminismError when a different operation was recorded at this index.
   */
  begin(kind: OperationKind, name: string): { position: OperationPosition; recorded: OperationRecord | undefined } {
    if (this.#ended) {
      throw new WorkflowContextError(
        methodOfKind[kind],
        `code running after workflow "${this.workflowUUID}" returned (a WorkflowContext works only while its workflow runs)`,
      );
    }
    this.assertAlive();
    // Cancelled: no operation takes an index (a step never starts), and nothing is recorded.
    if (this.cancellation !== null) throw this.cancellation;
    const operationIndex = this.#nextIndex++;
    const position: OperationPosition = { workflowUUID: this.workflowUUID, operationIndex, kind, name };
    const recorded = this.#recorded.get(operationIndex);
    if (recorded !== undefined) {
      this.#recorded.delete(operationIndex);
      if (recorded.kind !== kind || recorded.name !== name) {
        const error = new DeterminismError(this.workflowUUID, operationIndex, `${recorded.kind} "${recorded.name}"`, `${kind} "${name}"`);
        this.#die(error);
        throw error;
      }
    }
    return { position, recorded };
  }

  /** The workflow function returned or threw: its context refuses every operation from now on. */
  end(): void {
    this.#ended = true;
    this.#underWay();
    // Waits its code left behind (a Promise.race's losers) end with it: they must consume nothing more.
    const leftovers = [...this.#waits];
    this.#waits.clear();
    for (const wait of leftovers) wait.fail(RUN_ENDED);
  }

  /**
   * Ends the run when the store failed under one of its operations. That operation has no record,
   * so going on (the workflow code may catch the error) could replay differently after a restart;
   * instead the workflow stays PENDING, as after a crash, and resumes from its records.
   */
  noteFailure(error: unknown): void {
    if (this.fatalError === null && this.#env.store.isOwnFailure(error) && isFault(error)) this.#die(error);
  }

  /**
   * The workflow is CANCELLED (this process's cancel, its deadline, or another process's cancel met
   * by an operation or told by the change feed): every wait of the run ends at once with `error`,
   * and no operation of it starts. A step already running finishes, and its outcome is recorded.
   * Returns false when the run already knew.
   */
  cancel(error: WorkflowCancelledError): boolean {
    if (this.cancellation !== null) return false;
    this.cancellation = error;
    this.#underWay();
    const waits = [...this.#waits];
    this.#waits.clear();
    for (const wait of waits) wait.fail(error);
    return true;
  }

  /** Whether the run is alive and not cancelled: no other run of its workflow may start. */
  get isLive(): boolean {
    return this.fatalError === null && this.cancellation === null;
  }

  /** Throws the error the run died of, if it died: a dead run writes nothing more. */
  assertAlive(): void {
    if (this.fatalError !== null) throw RUN_ENDED;
  }

  /**
   * Ties the run to the commit of a batch holding its writes: if that commit fails, the run dies
   * synchronously, before any code awaiting the commit (or any wake-up) can act on what rolled back.
   * Returns the commit's promise, to await.
   */
  committed(commit: Commit): Promise<void> {
    if (commit.settled || commit === this.#latestCommit) return commit.durable;
    commit.onFailure(this.#dieOfFailedCommit);
    this.#latestCommit = commit;
    if (this.onDurableProgress !== null) {
      const onProgress = this.onDurableProgress;
      this.onDurableProgress = null;
      commit.durable.then(onProgress, () => {
        this.onDurableProgress ??= onProgress;
      });
    }
    return commit.durable;
  }

  // One listener per run, not one closure per write: ten thousand woken waits stay cheap.
  readonly #dieOfFailedCommit = (error: unknown): void => this.#die(error as StorageError);

  /**
   * Before a step's code runs: what to await until every write of this run so far (its start
   * included) is committed, or undefined when all are, so that no outside effect happens for a run
   * whose records then roll back. The caller checks the run is alive after it.
   * @throws the error the run died of.
   */
  beforeSideEffects(): Promise<void> | undefined {
    this.assertAlive();
    const latest = this.#latestCommit;
    // Nothing still committing: no await at all, so a step costs no extra turn on the hot path.
    if (latest === null || latest.settled) return undefined;
    // A failure ends the run through the listener registered in committed(); the caller re-checks.
    return latest.durable.catch(() => {});
  }

  /**
   * A step's code starts running. The step is in flight until stepEnded: past its code, until what
   * it records of the attempt has committed or failed. It may outlive the run's death or cancel; a
   * resume waits for it (stepsDone), then reads the records, so that the step is not run again.
   */
  stepStarted(): void {
    this.#stepsRunning++;
    this.#underWay();
  }

  /** The step's attempt is over and its record settled, or it records nothing (see stepStarted). */
  stepEnded(): void {
    if (--this.#stepsRunning > 0) return;
    const waiting = this.#onStepsDone;
    this.#onStepsDone = [];
    for (const resolve of waiting) resolve();
  }

  /** Resolves once no step of this run is in flight (running, or recording its attempt). */
  stepsDone(): Promise<void> {
    if (this.#stepsRunning === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onStepsDone.push(resolve));
  }

  /**
   * Resolves once the run is under way: it recorded something, reached a wait, started a step, or
   * ended. Recovery starts a suspect workflow only after the one before it got this far.
   */
  underWay(): Promise<void> {
    if (this.#isUnderWay) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#onUnderWay;
      this.#onUnderWay = () => {
        previous?.();
        resolve();
      };
    });
  }

  #underWay(): void {
    if (this.#isUnderWay) return;
    this.#isUnderWay = true;
    const listener = this.#onUnderWay;
    this.#onUnderWay = null;
    listener?.();
  }

  /** Registers a wait under way, so that it ends at once if the run dies; returns the unregister. */
  trackWait(wait: StartedWait): () => void {
    if (this.fatalError !== null) wait.fail(RUN_ENDED);
    else if (this.cancellation !== null) wait.fail(this.cancellation);
    else this.#waits.add(wait);
    return () => {
      this.#waits.delete(wait);
    };
  }

  /**
   * Registers a wait for a child's result. Reaching it is progress, as reaching any wait is: a
   * recovered parent that waits for its child is not crash-looping, so its count restarts.
   */
  trackResultWait(wait: StartedWait): () => void {
    if (this.fatalError === null) this.progressed();
    return this.trackWait(wait);
  }

  /** What was recorded at `recorded` (its output, or its error thrown). A record that cannot be read ends the run. */
  replay<T>(recorded: OperationRecord): T {
    if (recorded.error !== null) throw this.#decode<Error>(recorded.error, recorded.operationIndex, recorded.kind, 'error of ');
    return this.#decode<T>(recorded.output, recorded.operationIndex, recorded.kind, '');
  }

  /** Decodes a value this run just recorded at `position`; a value that cannot be read ends the run. */
  decodeRecorded<T>(text: string, position: OperationPosition): T {
    return this.#decode<T>(text, position.operationIndex, position.kind, '');
  }

  #decode<T>(text: string | null, operationIndex: number, kind: OperationKind, prefix: string): T {
    try {
      return decodeRecord<T>(text, this.workflowUUID, () => `${prefix}result of operation #${operationIndex} (${kind})`);
    } catch (error) {
      // Only a failure to decode, raised just now, ends the run (not a recorded error of that class).
      this.#die(error as UnreadableRecordError);
      throw error;
    }
  }

  #die(error: StorageError | DeterminismError | UnreadableRecordError): void {
    if (this.fatalError !== null) return;
    this.fatalError = error;
    const waits = [...this.#waits];
    this.#waits.clear();
    for (const wait of waits) wait.fail(RUN_ENDED);
    if (!this.#ended) this.onDeath?.(error);
  }

  /**
   * Notes that the run recorded something new or reached a wait. A recovered run doing so is not
   * crash-looping, so its recovery attempt count restarts.
   */
  progressed(): void {
    this.#underWay();
    if (!this.#awaitingProgress) return;
    this.#awaitingProgress = false;
    this.#env.store.resetRecoveryAttempts(this.workflowUUID, this.#env.clock.now());
  }
}

/**
 * Whether a store failure is a fault of the storage (I/O, a full disk, a lock, damage, a lost
 * connection), after which the workflow resumes from its records, rather than a write the database
 * refused for its content, which is the operation's error like any other (a resume would meet it
 * again, for ever): SQLite's constraint, type and size errors; PostgreSQL's data exceptions (class
 * 22: a NUL in text, an invalid encoding), integrity violations (23) and program limits (54: a key
 * too large for its index).
 */
function isFault(error: StorageError): boolean {
  return !/^(SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE|MISUSE)|PG_(22|23|54))/.test(error.storageCode);
}
