// The SQLite store: the Store of one SQLite file (or an in-memory database), every write built once
// and run synchronously (never an await inside). Each operation both acts and records in one atomic
// unit, so a crash leaves either all of it or none of it. Writes made in the same turn share one
// commit (see group-commit.ts); each write returns the Commit of its own batch, which its caller
// awaits before reporting success. Every method returns its value at once (see store.ts).
import { SqliteChangeFeed } from './changes';
import { DeletionTable, noDeletedRows } from './deletion';
import { isInMemory, openDatabase, openReadOnlyDatabase, type SqliteDatabase, type SynchronousMode } from './database';
import { EventTable } from './events';
import { GroupCommitter, type CommitMode } from './group-commit';
import { MessageTable } from './messages';
import { OperationTable } from './operations';
import { acquireOwnership, type OwnershipLock } from './ownership';
import {
  ALREADY_COMMITTED, cancellationOf, selectRecord, streamReadRecord,
  type AttemptPhase, type AttemptResult, type ChangeFeed, type FeedPosition, type Commit, type CommitInterceptor, type CommitObserver, type DeleteOutcome,
  type ForkOutcome, type OutgoingMessage, type PruneBatch, type RecoveryDecisions, type RecoverySnapshot, type SendManyOutcome,
  type SendRefusal, type SendResult, type Store, type StreamCursor, type WaitPlan, type WaitStart, type WorkflowSnapshot, type Written,
} from './store';
import { StreamTable, type AppendResult } from './streams';
import { WorkflowTable } from './workflows';
import type { Awaitable } from '../awaitable';
import { WorkflowNotFoundError, type StorageError } from '../errors';
import type { CancelResult, OperationPosition, OperationRecord, ResumeResult, SelectBranch, WorkflowRecord, WorkflowStatusName } from '../types';

const NOT_FOUND: AttemptResult = Object.freeze({ found: false, commit: ALREADY_COMMITTED });

export class SqliteStore implements Store {
  // The connection never leaves the store: every statement run on it is in store/.
  readonly #db: SqliteDatabase;
  readonly #file: string;
  readonly workflows: WorkflowTable;
  readonly operations: OperationTable;
  readonly events: EventTable;
  readonly messages: MessageTable;
  readonly streams: StreamTable;
  readonly deletion: DeletionTable;
  readonly #committer: GroupCommitter;
  // Events set in the open transaction (see isEventUncommitted), and which transaction that is.
  readonly #uncommittedEvents = new Set<string>();
  #pendingResets: string[] = [];
  #resetAtMs = 0;
  #uncommittedEventsBatch: Commit | null = null;

  readonly #startChildWorkflow;
  readonly #recordOutcome;
  readonly #send;
  readonly #sendFromWorkflow;
  readonly #sendMany;
  readonly #setEvent;
  readonly #attempt;
  readonly #recover;
  readonly #appendStream;
  readonly #writeStreamFromWorkflow;
  readonly #recordStepFailure;
  readonly #cancel;
  readonly #resume;
  readonly #deleteTree;
  readonly #pruneBatch;
  readonly #fork;

  /**
   * Opens (creating if needed) the database `file` (see {@link openDatabase}) for writing.
   * @param interceptor called around every commit (fault injection, crash tests); one per store.
   * @param mode `'grouped'` for an owner, `'alone'` for a client (see CommitMode).
   * @throws DatabaseOpenError, SchemaVersionError as openDatabase does.
   */
  static open(file: string, synchronous: SynchronousMode, interceptor: CommitInterceptor | null = null, mode: CommitMode = 'grouped'): SqliteStore {
    return new SqliteStore(openDatabase(file, synchronous), file, interceptor, mode);
  }

  /**
   * Opens an existing database `file` for reading only (see {@link openReadOnlyDatabase}): every
   * write of this store fails.
   * @throws DatabaseOpenError, SchemaVersionError as openReadOnlyDatabase does.
   */
  static openReadOnly(file: string): SqliteStore {
    return new SqliteStore(openReadOnlyDatabase(file), file, null, 'grouped');
  }

  private constructor(db: SqliteDatabase, file: string, interceptor: CommitInterceptor | null, mode: CommitMode) {
    this.#db = db;
    this.#file = file;
    this.#committer = new GroupCommitter(db, interceptor, mode);
    this.#committer.setBeforeCommit(() => {
      if (this.#pendingResets.length === 0) return;
      const resets = this.#pendingResets;
      this.#pendingResets = [];
      this.workflows.resetRecoveryAttempts(resets, this.#resetAtMs);
      // The commit failed: these resets were rolled back with it; they go with the next commit.
      return () => {
        this.#pendingResets.push(...resets);
      };
    });
    const workflows = (this.workflows = new WorkflowTable(db));
    const operations = (this.operations = new OperationTable(db));
    const events = (this.events = new EventTable(db));
    const messages = (this.messages = new MessageTable(db));
    const streams = (this.streams = new StreamTable(db));
    const deletion = (this.deletion = new DeletionTable(db));

    // Every write that records an operation of a workflow checks first, in its transaction, that the
    // workflow is not CANCELLED: whichever process cancelled it, nothing of it is recorded after the
    // cancel's commit (one primary-key read). The rollback of the savepoint undoes nothing else. A
    // deleted workflow (a run that has not yet heard of the delete) records nothing either: no row of
    // it outlives the delete.
    const refuseIfCancelled = (workflowUUID: string): void => {
      const state = workflows.controlState(workflowUUID);
      if (state === undefined) throw new WorkflowNotFoundError(workflowUUID);
      if (state.status === 'CANCELLED') throw cancellationOf(workflowUUID, state.error);
    };
    this.#refuseIfCancelled = refuseIfCancelled;

    const record = (position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number): void => {
      if (phase === 'first') {
        operations.insertCompleted({ ...position, output, error }, nowMs);
      } else if (!operations.complete(position.workflowUUID, position.operationIndex, output, error, nowMs)) {
        // The wait's start record is gone (its commit failed): completing nothing would let the
        // caller act (consume a message) with no record of it. Throwing rolls this attempt back.
        throw new Error(`Operation #${position.operationIndex} of workflow "${position.workflowUUID}" has no started wait to complete.`);
      }
    };

    this.#recordOutcome = db.transaction(
      (position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number, evenIfCancelled: boolean): void => {
        if (!evenIfCancelled) refuseIfCancelled(position.workflowUUID);
        else if (!workflows.exists(position.workflowUUID)) throw new WorkflowNotFoundError(position.workflowUUID);
        record(position, phase, output, error, nowMs);
      },
    );
    this.#startWait = db.transaction((wait: WaitStart, nowMs: number): void => {
      refuseIfCancelled(wait.workflowUUID);
      operations.insertStarted(wait, nowMs);
    });

    this.#recordStepFailure = db.transaction((wait: WaitStart, phase: AttemptPhase, nowMs: number): void => {
      // A cancelled workflow's step is not retried: the failure is not recorded, and a resume runs
      // the attempt again.
      refuseIfCancelled(wait.workflowUUID);
      if (phase === 'first') operations.insertStarted(wait, nowMs);
      else if (!operations.continueWait(wait)) {
        // As in record(): the earlier failure's record is gone (its commit failed); roll this back.
        throw new Error(`Operation #${wait.operationIndex} of workflow "${wait.workflowUUID}" has no started step to continue.`);
      }
    });

    this.#startChildWorkflow = db.transaction(
      (position: OperationPosition, candidateUUIDs: readonly string[], childName: string, inputs: string, deadlineMs: number | null, nowMs: number): string | null => {
        refuseIfCancelled(position.workflowUUID);
        // The child row and the parent's record are written together, so on a first run a candidate
        // UUID can only exist already if some other workflow took it: try the next one. The UUID
        // taken is the parent's recorded result, so a replay finds the same child.
        for (const childUUID of candidateUUIDs) {
          if (!workflows.insert(childUUID, childName, inputs, position.workflowUUID, deadlineMs, nowMs)) continue;
          operations.insertCompleted({ ...position, output: JSON.stringify(childUUID), error: null }, nowMs);
          return childUUID;
        }
        return null;
      },
    );

    this.#send = db.transaction(
      (destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): SendResult => {
        const destination = workflows.statusOf(destinationUUID);
        if (destination === undefined) return 'not-found';
        if (destination === 'CANCELLED') return 'cancelled';
        return messages.insert(destinationUUID, message, topic, idempotencyKey, nowMs) ? 'sent' : 'duplicate';
      },
    );

    this.#sendMany = db.transaction((batch: readonly OutgoingMessage[], nowMs: number): SendManyOutcome => {
      // Every destination is checked before anything is inserted: one unknown refuses the batch.
      const checked = new Set<string>();
      for (const { destinationUUID } of batch) {
        if (checked.has(destinationUUID)) continue;
        const destination = workflows.statusOf(destinationUUID);
        if (destination === undefined) return { notFound: destinationUUID };
        if (destination === 'CANCELLED') return { notFound: null, cancelled: destinationUUID };
        checked.add(destinationUUID);
      }
      const inserted = batch.map((outgoing) => messages.insert(outgoing.destinationUUID, outgoing.message, outgoing.topic, outgoing.idempotencyKey, nowMs));
      return { notFound: null, inserted };
    });

    this.#sendFromWorkflow = db.transaction(
      (position: OperationPosition, destinationUUID: string, message: string, topic: string | null, encodeRefusal: (refusal: SendRefusal) => string, nowMs: number): SendResult => {
        refuseIfCancelled(position.workflowUUID);
        const destination = workflows.statusOf(destinationUUID);
        if (destination === undefined || destination === 'CANCELLED') {
          const refusal = destination === undefined ? 'not-found' : 'cancelled';
          operations.insertCompleted({ ...position, output: null, error: encodeRefusal(refusal) }, nowMs);
          return refusal;
        }
        messages.insert(destinationUUID, message, topic, null, nowMs);
        operations.insertCompleted({ ...position, output: null, error: null }, nowMs);
        return 'sent';
      },
    );

    this.#setEvent = db.transaction(
      (position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): boolean => {
        refuseIfCancelled(position.workflowUUID);
        const inserted = events.insert(position.workflowUUID, key, value, position.operationIndex, nowMs);
        operations.insertCompleted({ ...position, output: null, error: inserted ? null : encodeDuplicate() }, nowMs);
        return inserted;
      },
    );

    this.#recover = db.transaction(
      <D extends RecoveryDecisions>(decide: (pending: WorkflowRecord[]) => D, nowMs: number): RecoverySnapshot<D> => {
        const decisions = decide(workflows.listPending());
        for (const [workflowUUID, attempt] of decisions.attempts) workflows.setRecoveryAttempts(workflowUUID, attempt, nowMs);
        for (const [workflowUUID, error] of decisions.givenUp) workflows.giveUp(workflowUUID, error, nowMs);
        for (const [workflowUUID, error] of decisions.failed) workflows.finish(workflowUUID, 'ERROR', null, error, nowMs);
        const operationsByWorkflow = decisions.readOperations ? operations.listForPendingWorkflows() : new Map<string, OperationRecord[]>();
        return { decisions, operations: operationsByWorkflow, feedStart: SqliteChangeFeed.positionOf(db) };
      },
    );

    this.#attempt = db.transaction(
      (position: OperationPosition, phase: AttemptPhase, read: () => string | undefined, wait: WaitPlan | null, nowMs: number, timeoutOutput: string): boolean | string => {
        refuseIfCancelled(position.workflowUUID);
        const value = read();
        if (value !== undefined) {
          record(position, phase, value, null, nowMs);
          return value;
        }
        if (wait === null) {
          // Out of time (timeout 0, or the deadline passed): the wait's outcome is recorded (null, for recv and getEvent).
          record(position, phase, timeoutOutput, null, nowMs);
          return timeoutOutput;
        }
        if (phase === 'first') operations.insertStarted({ ...position, ...wait }, nowMs);
        return phase === 'first';
      },
    );

    this.#appendStream = db.transaction(
      (workflowUUID: string, key: string, value: string, operationIndex: number, nowMs: number): AppendResult => streams.append(workflowUUID, key, value, operationIndex, nowMs),
    );

    this.#writeStreamFromWorkflow = db.transaction(
      (position: OperationPosition, key: string, value: string | null, encodeClosed: () => string, nowMs: number): AppendResult => {
        const { workflowUUID } = position;
        refuseIfCancelled(workflowUUID);
        // Closing a closed stream is a no-op (recorded as done); writing to one is a recorded error.
        if (value === null && streams.isClosed(workflowUUID, key)) {
          operations.insertCompleted({ ...position, output: null, error: null }, nowMs);
          return 'closed';
        }
        const appended = streams.append(workflowUUID, key, value, position.operationIndex, nowMs);
        const output = appended === 'closed' || value === null ? null : String(appended);
        operations.insertCompleted({ ...position, output, error: appended === 'closed' ? encodeClosed() : null }, nowMs);
        return appended;
      },
    );

    this.#cancel = db.transaction(
      (workflowUUID: string, withDescendants: boolean, reason: (uuid: string) => string, dueByMs: number | null, nowMs: number): CancelResult | undefined => {
        const state = workflows.controlState(workflowUUID);
        if (state === undefined) return undefined;
        // A deadline's cancel: only while that deadline stands (a resume clears it).
        if (dueByMs !== null && (state.deadlineMs === null || state.deadlineMs > dueByMs)) return { previousStatus: state.status, cancelled: [] };
        const cancelled: string[] = [];
        const cancelOne = (uuid: string): void => {
          if (!workflows.cancel(uuid, reason(uuid), nowMs)) return;
          workflows.insertControl(uuid, 'cancel', nowMs);
          cancelled.push(uuid);
        };
        if (state.status === 'PENDING') cancelOne(workflowUUID);
        if (withDescendants) for (const descendant of workflows.descendants(workflowUUID)) if (descendant.status === 'PENDING') cancelOne(descendant.workflowUUID);
        return { previousStatus: state.status, cancelled };
      },
    );

    this.#fork = db.transaction(
      (original: string, fork: string, fromOperation: number, timeoutMs: number | null | undefined, nowMs: number): ForkOutcome => {
        const record = workflows.get(original);
        if (record === undefined) return { kind: 'not-found' };
        const operationCount = operations.countForWorkflow(original);
        if (fromOperation > operationCount) return { kind: 'out-of-range', operationCount };
        // Unset: the original's timeout (its deadline as measured from its start), from now.
        const lengthMs = timeoutMs !== undefined ? timeoutMs : record.deadlineMs === null ? null : Math.max(0, record.deadlineMs - record.createdAt);
        const deadlineMs = lengthMs === null ? null : Math.ceil(nowMs + lengthMs);
        if (!workflows.insert(fork, record.workflowName, record.inputs, null, deadlineMs, nowMs)) {
          return { kind: 'conflict', existing: workflows.get(fork) ?? null, original: record };
        }
        operations.copyForFork(original, fork, fromOperation);
        // Each copy takes the rows of the operations just copied, and only those.
        events.copyForFork(original, fork);
        messages.copyForFork(original, fork);
        streams.copyForFork(original, fork);
        return { kind: 'forked', original: record, deadlineMs, recorded: operations.listForWorkflow(fork) };
      },
    );

    this.#resume = db.transaction((workflowUUID: string, nowMs: number): ResumeResult | undefined => {
      const status = workflows.statusOf(workflowUUID);
      if (status === undefined) return undefined;
      const resumed = workflows.resume(workflowUUID, nowMs);
      if (resumed) workflows.insertControl(workflowUUID, 'resume', nowMs);
      return { previousStatus: status, resumed };
    });

    this.#deleteTree = db.transaction((workflowUUID: string, withDescendants: boolean, keepControlsOf: ReadonlySet<string>): DeleteOutcome | undefined => {
      const targets = workflows.deletionTargets(workflowUUID, withDescendants);
      if (targets === undefined) return undefined;
      const refused = targets.filter((target) => target.status === 'PENDING').map((target) => target.workflowUUID);
      if (refused.length > 0) return { refused };
      const deleted = targets.map((target) => target.workflowUUID);
      return { refused: null, deleted, rows: deletion.deleteAll(deleted, keepControlsOf) };
    });

    this.#pruneBatch = db.transaction((statuses: readonly WorkflowStatusName[], beforeMs: number, limit: number): PruneBatch => {
      const deleted = deletion.finishedBefore(statuses, beforeMs, limit);
      return { deleted, rows: deleted.length === 0 ? noDeletedRows() : deletion.deleteAll(deleted) };
    });
  }

  /**
   * Deletes a workflow that is not PENDING (and, with `withDescendants`, every descendant, none of
   * which may be PENDING) with all its rows (see deletion.ts), in a commit that lands before this
   * returns. The controls of `keepControlsOf` stay, for processes that have yet to see that cancel.
   * Undefined, writing nothing, when there is no such workflow; `{ refused }`, writing nothing, when
   * some are PENDING.
   * @throws StorageError when the commit fails (nothing of it stays).
   */
  deleteWorkflows(workflowUUID: string, withDescendants: boolean, keepControlsOf: ReadonlySet<string>): DeleteOutcome | undefined {
    const { value } = this.#committer.write(() => this.#deleteTree(workflowUUID, withDescendants, keepControlsOf));
    this.#committer.commitNow();
    return value;
  }

  /**
   * Deletes up to `limit` workflows with one of `statuses` (never PENDING) last changed before
   * `beforeMs`, with all their rows, in a commit of its own that lands before this returns.
   * @throws StorageError when the commit fails (nothing of this batch stays).
   */
  pruneBatch(statuses: readonly WorkflowStatusName[], beforeMs: number, limit: number): PruneBatch {
    const { value } = this.#committer.write(() => this.#pruneBatch(statuses, beforeMs, limit));
    this.#committer.commitNow();
    return value;
  }

  /** Deletes, in a commit of its own, the controls older than `beforeMs` of workflows that no longer exist. */
  pruneStrayControls(beforeMs: number): number {
    const { value } = this.#committer.write(() => this.deletion.deleteStrayControls(beforeMs));
    this.#committer.commitNow();
    return value;
  }

  readonly #refuseIfCancelled: (workflowUUID: string) => void;
  readonly #startWait;

  /**
   * Cancels the workflow (and, with `withDescendants`, every PENDING descendant), recording
   * `reason(uuid)` as each one's outcome, in a commit that lands before this returns. With `dueByMs`
   * (a deadline's cancel), only when the workflow's recorded deadline is at most that. Undefined,
   * writing nothing, when there is no such workflow.
   * @throws StorageError when the commit fails (nothing of it stays).
   */
  cancelWorkflow(workflowUUID: string, withDescendants: boolean, reason: (uuid: string) => string, dueByMs: number | null, nowMs: number): CancelResult | undefined {
    // Committed at once, not with the turn's batch: from the moment the cancel is visible to this
    // connection it is durable, so no run can act on a cancel that then rolls back.
    const { value } = this.#committer.write(() => this.#cancel(workflowUUID, withDescendants, reason, dueByMs, nowMs));
    this.#committer.commitNow();
    return value;
  }

  /**
   * Returns a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow to PENDING (outcome,
   * recovery count and deadline cleared), in a commit that lands before this returns. Undefined when
   * there is no such workflow.
   * @throws StorageError when the commit fails.
   */
  resumeWorkflow(workflowUUID: string, nowMs: number): ResumeResult | undefined {
    const { value } = this.#committer.write(() => this.#resume(workflowUUID, nowMs));
    this.#committer.commitNow();
    return value;
  }

  /**
   * Forks workflow `original` as `fork` (see ForkOutcome), in one transaction of the open batch: the
   * new PENDING row (same name and inputs, no parent, its deadline `timeoutMs` from now, or the
   * original's timeout when undefined), the original's completed operations with an index below
   * `fromOperation`, and the events, consumed messages and stream rows those operations wrote.
   */
  forkWorkflow(original: string, fork: string, fromOperation: number, timeoutMs: number | null | undefined, nowMs: number): Written<ForkOutcome> {
    return this.#committer.write(() => this.#fork(original, fork, fromOperation, timeoutMs, nowMs));
  }

  /**
   * Throws the workflow's cancellation (WorkflowCancelledError or WorkflowTimeoutError) when it is
   * CANCELLED: a step checks this before it starts, so that none starts after a cancel's commit.
   */
  refuseIfCancelled(workflowUUID: string): void {
    this.#refuseIfCancelled(workflowUUID);
  }

  /**
   * The recovery pass's transaction, committed before this returns: reads every PENDING workflow,
   * writes what `decide` made of them, and reads their recorded operations and the change feed's
   * starting point, all under the write lock, so no commit of another process falls between them.
   * @throws StorageError when SQLite fails; nothing of the pass stays then.
   */
  recover<D extends RecoveryDecisions>(decide: (pending: WorkflowRecord[]) => D, nowMs: number): RecoverySnapshot<D> {
    const { value } = this.#committer.write(() => this.#recover(decide, nowMs));
    this.#committer.commitNow();
    return value as RecoverySnapshot<D>;
  }

  /**
   * Counts a recovery attempt of one workflow in a commit that lands before this returns (with any
   * writes already waiting in the open transaction).
   * @throws StorageError when that commit fails.
   */
  countRecoveryAttempt(workflowUUID: string, attempt: number, nowMs: number): void {
    this.#committer.write(() => this.workflows.setRecoveryAttempts(workflowUUID, attempt, nowMs));
    this.#committer.commitNow();
  }

  /**
   * A change feed of other processes' commits to this file, from `start` (default: now). SQLite's
   * own: other processes' commits reach a PostgreSQL store through NOTIFY instead.
   */
  openChangeFeed(start?: FeedPosition): ChangeFeed {
    return new SqliteChangeFeed(this.#db, start);
  }

  /**
   * Takes ownership of this store's file (see ownership.ts) and records this process as its owner;
   * null for an in-memory database, which no other process can open.
   * @throws DatabaseOwnedError naming the live owner; DatabaseOpenError when the lock file cannot be
   *   opened or the file cannot be written.
   */
  takeOwnership(nowMs: number): OwnershipLock | null {
    return isInMemory(this.#file) ? null : acquireOwnership(this.#file, this.#db, nowMs);
  }

  /**
   * A new store on this halted store's connection, as the next process would open after a crash
   * (the testing kit's crash()). For an in-memory database only: such a database lives only in its
   * connection, so reopening the file would find it empty. What this store had committed is there;
   * what it had not was rolled back by halt().
   */
  reopenAfterHalt(interceptor: CommitInterceptor | null): SqliteStore {
    if (!isInMemory(this.#file)) throw new Error('reopenAfterHalt is for an in-memory database; open a file again with Store.open.');
    return new SqliteStore(this.#db, this.#file, interceptor, 'grouped');
  }

  /** Inserts a new PENDING workflow, with its deadline if it has one; false when the UUID exists (nothing is changed then). */
  startWorkflow(workflowUUID: string, workflowName: string, inputs: string, nowMs: number, deadlineMs: number | null = null): Written<boolean> {
    return this.#committer.write(() => this.workflows.insert(workflowUUID, workflowName, inputs, null, deadlineMs, nowMs));
  }

  /**
   * Inserts the child workflow under the first free UUID of `candidateUUIDs` and records the
   * parent's operation (whose result is that UUID), atomically. null, writing nothing, when every
   * candidate is taken.
   */
  startChildWorkflow(position: OperationPosition, candidateUUIDs: readonly string[], childName: string, inputs: string, deadlineMs: number | null, nowMs: number): Written<string | null> {
    return this.#committer.write(() => this.#startChildWorkflow(position, candidateUUIDs, childName, inputs, deadlineMs, nowMs));
  }

  /**
   * Records the outcome of a PENDING workflow; the value is false when it was not PENDING (finished,
   * or CANCELLED: a cancel is never overwritten).
   */
  finishWorkflow(workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): Written<boolean> {
    return this.#committer.write(() => this.workflows.finish(workflowUUID, status, output, error, nowMs));
  }

  /**
   * Records a completed operation (a step's result or error, a sleep's end...). Refused with the
   * workflow's WorkflowCancelledError when it is CANCELLED, unless `evenIfCancelled` (the outcome of
   * a step that was already running when the cancel committed).
   */
  recordOutcome(position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number, evenIfCancelled = false): Commit {
    return this.#committer.write(() => this.#recordOutcome(position, phase, output, error, nowMs, evenIfCancelled)).commit;
  }

  /** Records the start of a wait with no read attempt (sleep). */
  startWait(wait: WaitStart, nowMs: number): Commit {
    return this.#committer.write(() => this.#startWait(wait, nowMs)).commit;
  }

  /**
   * Records a failed attempt of a step with retries: the step's row stays started (not completed),
   * with the time of its next attempt as its deadline and the attempts so far as its detail. `first`
   * inserts the row, `resumed` updates the row an earlier failed attempt wrote.
   */
  recordStepFailure(wait: WaitStart, phase: AttemptPhase, nowMs: number): Commit {
    return this.#committer.write(() => this.#recordStepFailure(wait, phase, nowMs)).commit;
  }

  /** Handler-side send: appends the message unless its idempotency key was used for this destination. */
  send(destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): Written<SendResult> {
    return this.#committer.write(() => this.#send(destinationUUID, message, topic, idempotencyKey, nowMs));
  }

  /**
   * Handler-side sendMany: appends every message, in array order, unless one destination does not
   * exist (then nothing). A message whose idempotency key was used for its destination (earlier, or
   * by an earlier message of the batch) is skipped.
   */
  sendMany(batch: readonly OutgoingMessage[], nowMs: number): Written<SendManyOutcome> {
    return this.#committer.write(() => this.#sendMany(batch, nowMs));
  }

  /** Workflow-side send: appends the message and records the operation in one commit. */
  sendFromWorkflow(position: OperationPosition, destinationUUID: string, message: string, topic: string | null, encodeRefusal: (refusal: SendRefusal) => string, nowMs: number): Written<SendResult> {
    return this.#committer.write(() => this.#sendFromWorkflow(position, destinationUUID, message, topic, encodeRefusal, nowMs));
  }

  /** Sets an event and records the operation in one commit; false (first value kept) for a duplicate key. */
  setEvent(position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): Written<boolean> {
    const written = this.#committer.write(() => this.#setEvent(position, key, value, encodeDuplicate, nowMs));
    if (written.value) {
      if (written.commit !== this.#uncommittedEventsBatch) {
        this.#uncommittedEventsBatch = written.commit;
        this.#uncommittedEvents.clear();
      }
      this.#uncommittedEvents.add(`${position.workflowUUID}\u0000${key}`);
    }
    return written;
  }

  /**
   * Whether the event was set in the transaction still waiting to commit. A reader can return any
   * other event it finds at once: events are immutable, so a stored one is a committed one.
   */
  isEventUncommitted(workflowUUID: string, key: string): boolean {
    const open = this.#committer.open;
    return open !== null && open === this.#uncommittedEventsBatch && this.#uncommittedEvents.has(`${workflowUUID}\u0000${key}`);
  }

  /**
   * One recv attempt: consume the oldest message of the queue and record it as the operation's result,
   * in one commit. With nothing to consume, starts the wait (`wait`) or records a timeout (`wait` null).
   */
  receive(position: OperationPosition, phase: AttemptPhase, topic: string | null, wait: WaitPlan | null, nowMs: number): AttemptResult {
    const messages = this.messages;
    // A wait that continues and finds nothing writes nothing: plain read, no transaction.
    if (phase === 'resumed' && wait !== null && !messages.hasPending(position.workflowUUID, topic)) return NOT_FOUND;
    return this.#runAttempt(position, phase, () => messages.consumeOldest(position.workflowUUID, topic, position.operationIndex, nowMs), wait, nowMs);
  }

  /** One in-workflow getEvent attempt: read the event and record what was seen, in one commit. */
  readEvent(position: OperationPosition, phase: AttemptPhase, targetUUID: string, key: string, wait: WaitPlan | null, nowMs: number): AttemptResult {
    const events = this.events;
    if (phase === 'resumed' && wait !== null && events.getValue(targetUUID, key) === undefined) return NOT_FOUND;
    return this.#runAttempt(position, phase, () => events.getValue(targetUUID, key), wait, nowMs);
  }

  /**
   * One select attempt: finds the branch that completes first and records `{ index, value }` as the
   * operation's result, in one commit; a recv branch's message is consumed then, and nothing else.
   * The oldest message across the recv branches wins among messages (strict commit order); the
   * event with the lowest id among events; between the two, whichever committed first. With
   * nothing there, starts the wait (`wait`) or records a timeout (`wait` null).
   */
  select(position: OperationPosition, phase: AttemptPhase, branches: readonly SelectBranch[], wait: WaitPlan | null, nowMs: number): AttemptResult {
    const { messages, events } = this;
    const selfUUID = position.workflowUUID;
    const read = (consume: boolean): string | undefined => {
      let message: { index: number; messageId: number; text: string } | undefined;
      let event: { index: number; eventId: number; messagesBefore: number; text: string } | undefined;
      branches.forEach((branch, index) => {
        if ('recv' in branch) {
          const oldest = messages.peekOldest(selfUUID, branch.recv);
          if (oldest !== undefined && (message === undefined || oldest.messageId < message.messageId)) {
            message = { index, messageId: oldest.messageId, text: oldest.message };
          }
        } else {
          const found = events.getPlacement(branch.getEvent.workflowUUID, branch.getEvent.key);
          if (found !== undefined && (event === undefined || found.eventId < event.eventId)) {
            event = { index, eventId: found.eventId, messagesBefore: found.messagesBefore, text: found.value };
          }
        }
      });
      const messageFirst = message !== undefined && (event === undefined || message.messageId <= event.messagesBefore);
      if (messageFirst) {
        if (consume) messages.markConsumed(message!.messageId, position.operationIndex, nowMs);
        return selectRecord(message!.index, message!.text);
      }
      return event === undefined ? undefined : selectRecord(event.index, event.text);
    };
    // A wait that continues and finds nothing writes nothing: plain read, no transaction.
    if (phase === 'resumed' && wait !== null && read(false) === undefined) return NOT_FOUND;
    return this.#runAttempt(position, phase, () => read(true), wait, nowMs);
  }

  /**
   * A step's writeStream (not recorded): appends `value` to the stream `key` of `workflowUUID`, as
   * written by the step at `operationIndex`. `'closed'`, writing nothing, when the stream is closed
   * or its workflow finished.
   */
  appendStream(workflowUUID: string, key: string, value: string, operationIndex: number, nowMs: number): Written<AppendResult> {
    return this.#committer.write(() => this.#appendStream(workflowUUID, key, value, operationIndex, nowMs));
  }

  /**
   * A workflow's writeStream (`value` a serialized value) or closeStream (`value` null), recorded in
   * the same commit. The position written, or `'closed'`: for a write, the stream was closed (the
   * recorded outcome is `encodeClosed()`); for a close, it already was (nothing more is written).
   */
  writeStreamFromWorkflow(position: OperationPosition, key: string, value: string | null, encodeClosed: () => string, nowMs: number): Written<AppendResult> {
    return this.#committer.write(() => this.#writeStreamFromWorkflow(position, key, value, encodeClosed, nowMs));
  }

  readStreamEntry(position: OperationPosition, phase: AttemptPhase, cursor: StreamCursor, wait: WaitPlan | null, nowMs: number): AttemptResult {
    const { streams } = this;
    const { workflowUUID, key, offset } = cursor;
    // Runs in the attempt's transaction: the row at the offset, or the stream's end, as the text to record.
    const read = (): string | undefined => {
      const finished = streams.writerFinished(workflowUUID);
      const entry = streams.entryAt(workflowUUID, key, offset);
      if (entry !== undefined) return streamReadRecord(offset, entry);
      if (finished || streams.isClosed(workflowUUID, key)) return streamReadRecord(offset, 'end');
      return undefined;
    };
    if (phase === 'resumed' && wait !== null && read() === undefined) return NOT_FOUND;
    return this.#runAttempt(position, phase, read, wait, nowMs, streamReadRecord(offset, 'timeout'));
  }

  /** One engine owns the file: it may run any workflow. */
  claim(): boolean {
    return true;
  }

  snapshotOf(workflowUUID: string): WorkflowSnapshot {
    return { record: this.workflows.get(workflowUUID), operations: this.operations.listForWorkflow(workflowUUID) };
  }

  #runAttempt(position: OperationPosition, phase: AttemptPhase, read: () => string | undefined, wait: WaitPlan | null, nowMs: number, timeoutOutput = 'null'): AttemptResult {
    const { value, commit } = this.#committer.write(() => this.#attempt(position, phase, read, wait, nowMs, timeoutOutput));
    if (typeof value === 'string') return { found: true, value, commit };
    // A wait that continued wrote nothing: its start was committed (or failed) long ago.
    return value ? { found: false, commit } : NOT_FOUND;
  }

  /** Sets a recovered workflow's attempt count back to zero once it shows progress. */
  resetRecoveryAttempts(workflowUUID: string, nowMs: number): void {
    // Gathered and written as one statement at commit: a recovery pass resets thousands at once.
    this.#committer.write(() => this.#pendingResets.push(workflowUUID));
    this.#resetAtMs = nowMs;
  }

  /**
   * Runs `read` when it can see committed rows only: at once when no write is waiting to commit,
   * else right after that commit (or its rollback), before any other code runs.
   */
  readCommitted<T>(read: () => Awaitable<T>): Promise<T> {
    // A promise the read returns is flattened into the one returned here.
    return this.#committer.readCommitted(read) as Promise<T>;
  }

  /** Calls `listener` once no uncommitted write is visible: at once, or after the open commit settles. */
  afterSettle(listener: () => void): void {
    this.#committer.afterSettle(listener);
  }

  /** Whether writes are waiting to commit (reads now would see them). */
  get hasUncommittedWrites(): boolean {
    return this.#committer.open !== null;
  }

  /**
   * Whether `error` is a failure of this store, raised in this process (as opposed to a StorageError
   * decoded from a record, or raised by another database a step used).
   */
  isOwnFailure(error: unknown): error is StorageError {
    return this.#committer.raised(error);
  }

  /**
   * Whether `error` means another connection held the write lock, on a store whose writes fail at
   * once then (a client's): the caller may wait asynchronously and write again.
   */
  isLockHeld(error: unknown): boolean {
    return this.#committer.failsFastOnLock && this.isOwnFailure(error) && error.storageCode.startsWith('SQLITE_BUSY');
  }

  /** Tells `observer` of every commit and failure from now on. */
  setObserver(observer: CommitObserver | null): void {
    this.#committer.setObserver(observer);
  }

  /** Commits pending writes now (recovery-count resets a failed commit gave back included), then closes the database. */
  close(): void {
    if (!this.#db.open) return;
    if (this.#pendingResets.length > 0) {
      try {
        this.#committer.write(() => undefined);
      } catch {
        // The store is failing: the resets stay undone, and the next open counts these workflows once more.
      }
    }
    this.#committer.flush();
    this.#db.close();
  }

  /** Stops writing at once, dropping uncommitted writes, as a killed process would. The connection stays open. */
  halt(): void {
    this.#committer.halt();
  }
}
