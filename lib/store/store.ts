// The store: every write durablite makes, each built once and run synchronously (never an await
// inside). Each operation both acts and records in one atomic unit, so a crash leaves either all of it
// or none of it. Writes made in the same turn share one commit (see group-commit.ts); callers await
// `durable()` before reporting success.
import { openDatabase, type SqliteDatabase, type SynchronousMode } from './database';
import { EventTable } from './events';
import { GroupCommitter } from './group-commit';
import { MessageTable } from './messages';
import { OperationTable, type WaitStart } from './operations';
import { WorkflowTable } from './workflows';
import type { OperationKind } from '../types';

/** The position a durable operation records itself under. */
export interface OperationPosition {
  workflowUUID: string;
  operationIndex: number;
  kind: OperationKind;
  name: string;
}

/** A wait to start when the awaited thing is not there yet. */
export interface WaitPlan {
  deadlineMs: number;
  waitDetail: string;
}

/**
 * How a recv or in-workflow getEvent attempt records itself: `first` inserts the operation row,
 * `resumed` completes the row its wait started earlier (possibly before a crash).
 */
export type AttemptPhase = 'first' | 'resumed';

/** Outcome of one attempt: the stored value, or `waiting` when a wait was started or continues. */
export type AttemptResult = { found: true; value: string } | { found: false };

export type SendResult = 'sent' | 'duplicate' | 'not-found';

const NOT_FOUND: AttemptResult = Object.freeze({ found: false });

export class Store {
  readonly db: SqliteDatabase;
  readonly workflows: WorkflowTable;
  readonly operations: OperationTable;
  readonly events: EventTable;
  readonly messages: MessageTable;
  readonly #committer: GroupCommitter;
  // Events set in the open transaction (see isEventUncommitted), and which transaction that is.
  readonly #uncommittedEvents = new Set<string>();
  #pendingResets: string[] = [];
  #resetAtMs = 0;
  #uncommittedEventsBatch: Promise<void> | undefined;

  readonly #startChildWorkflow;
  readonly #recordOutcome;
  readonly #send;
  readonly #sendFromWorkflow;
  readonly #setEvent;
  readonly #attempt;
  readonly #recordRecovery;

  /** Opens `file` (see {@link openDatabase}) or wraps an already open handle. */
  static open(file: string, synchronous: SynchronousMode): Store {
    return new Store(openDatabase(file, synchronous));
  }

  constructor(db: SqliteDatabase) {
    this.db = db;
    this.#committer = new GroupCommitter(db);
    this.#committer.setBeforeCommit(() => {
      if (this.#pendingResets.length === 0) return;
      const resets = this.#pendingResets;
      this.#pendingResets = [];
      this.workflows.resetRecoveryAttempts(resets, this.#resetAtMs);
    });
    const workflows = (this.workflows = new WorkflowTable(db));
    const operations = (this.operations = new OperationTable(db));
    const events = (this.events = new EventTable(db));
    const messages = (this.messages = new MessageTable(db));

    const record = (position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number): void => {
      if (phase === 'first') operations.insertCompleted({ ...position, output, error }, nowMs);
      else operations.complete(position.workflowUUID, position.operationIndex, output, error, nowMs);
    };

    this.#recordOutcome = db.transaction(record);

    this.#startChildWorkflow = db.transaction(
      (position: OperationPosition, childUUID: string, childName: string, inputs: string, nowMs: number): boolean => {
        // The child row and the parent's record are written together, so on a first run the child's
        // UUID can only exist already if some other workflow took it: record nothing.
        if (!workflows.insert(childUUID, childName, inputs, position.workflowUUID, nowMs)) return false;
        operations.insertCompleted({ ...position, output: JSON.stringify(childUUID), error: null }, nowMs);
        return true;
      },
    );

    this.#send = db.transaction(
      (destinationUUID: string, topic: string | null, message: string, idempotencyKey: string | null, nowMs: number): SendResult => {
        if (!workflows.exists(destinationUUID)) return 'not-found';
        return messages.insert(destinationUUID, topic, message, idempotencyKey, nowMs) ? 'sent' : 'duplicate';
      },
    );

    this.#sendFromWorkflow = db.transaction(
      (position: OperationPosition, destinationUUID: string, topic: string | null, message: string, encodeNotFound: () => string, nowMs: number): SendResult => {
        if (!workflows.exists(destinationUUID)) {
          operations.insertCompleted({ ...position, output: null, error: encodeNotFound() }, nowMs);
          return 'not-found';
        }
        messages.insert(destinationUUID, topic, message, null, nowMs);
        operations.insertCompleted({ ...position, output: null, error: null }, nowMs);
        return 'sent';
      },
    );

    this.#setEvent = db.transaction(
      (position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): boolean => {
        const inserted = events.insert(position.workflowUUID, key, value, nowMs);
        operations.insertCompleted({ ...position, output: null, error: inserted ? null : encodeDuplicate() }, nowMs);
        return inserted;
      },
    );

    this.#recordRecovery = db.transaction(
      (attempts: readonly [string, number][], givenUp: readonly [string, string][], nowMs: number): void => {
        for (const [workflowUUID, attempt] of attempts) workflows.setRecoveryAttempts(workflowUUID, attempt, nowMs);
        for (const [workflowUUID, error] of givenUp) workflows.giveUp(workflowUUID, error, nowMs);
      },
    );

    this.#attempt = db.transaction(
      (position: OperationPosition, phase: AttemptPhase, read: () => string | undefined, wait: WaitPlan | null, nowMs: number): AttemptResult => {
        const value = read();
        if (value !== undefined) {
          record(position, phase, value, null, nowMs);
          return { found: true, value };
        }
        if (wait === null) {
          // Out of time (timeout 0, or the deadline passed): the wait's outcome is a recorded null.
          record(position, phase, 'null', null, nowMs);
          return { found: true, value: 'null' };
        }
        if (phase === 'first') operations.insertStarted({ ...position, ...wait }, nowMs);
        return { found: false };
      },
    );
  }

  /** Records a recovery pass in one commit: new attempt counts, and the workflows given up. */
  recordRecovery(attempts: readonly [string, number][], givenUp: readonly [string, string][], nowMs: number): void {
    if (attempts.length === 0 && givenUp.length === 0) return;
    this.#committer.write(() => this.#recordRecovery(attempts, givenUp, nowMs));
  }

  /** Inserts a new PENDING workflow; false when the UUID exists (nothing is changed then). */
  startWorkflow(workflowUUID: string, workflowName: string, inputs: string, nowMs: number): boolean {
    return this.#committer.write(() => this.workflows.insert(workflowUUID, workflowName, inputs, null, nowMs));
  }

  /**
   * Inserts the child workflow and records the parent's operation, atomically. Returns false, writing
   * nothing, when the child's UUID is already taken by another workflow.
   */
  startChildWorkflow(position: OperationPosition, childUUID: string, childName: string, inputs: string, nowMs: number): boolean {
    return this.#committer.write(() => this.#startChildWorkflow(position, childUUID, childName, inputs, nowMs));
  }

  finishWorkflow(workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): boolean {
    return this.#committer.write(() => this.workflows.finish(workflowUUID, status, output, error, nowMs));
  }

  /** Records a completed operation (a step's result or error, a sleep's end...). */
  recordOutcome(position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number): void {
    this.#committer.write(() => this.#recordOutcome(position, phase, output, error, nowMs));
  }

  /** Records the start of a wait with no read attempt (sleep). */
  startWait(wait: WaitStart, nowMs: number): void {
    this.#committer.write(() => this.operations.insertStarted(wait, nowMs));
  }

  /** Handler-side send: appends the message unless its idempotency key was used for this destination. */
  send(destinationUUID: string, topic: string | null, message: string, idempotencyKey: string | null, nowMs: number): SendResult {
    return this.#committer.write(() => this.#send(destinationUUID, topic, message, idempotencyKey, nowMs));
  }

  /** Workflow-side send: appends the message and records the operation in one commit. */
  sendFromWorkflow(position: OperationPosition, destinationUUID: string, topic: string | null, message: string, encodeNotFound: () => string, nowMs: number): SendResult {
    return this.#committer.write(() => this.#sendFromWorkflow(position, destinationUUID, topic, message, encodeNotFound, nowMs));
  }

  /** Sets an event and records the operation in one commit; false (first value kept) for a duplicate key. */
  setEvent(position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): boolean {
    const inserted = this.#committer.write(() => this.#setEvent(position, key, value, encodeDuplicate, nowMs));
    if (inserted) {
      const batch = this.#committer.durable();
      if (batch !== this.#uncommittedEventsBatch) {
        this.#uncommittedEventsBatch = batch;
        this.#uncommittedEvents.clear();
      }
      this.#uncommittedEvents.add(`${position.workflowUUID}\u0000${key}`);
    }
    return inserted;
  }

  /**
   * Whether the event was set in the transaction still waiting to commit. A reader can return any
   * other event it finds at once: events are immutable, so a stored one is a committed one.
   */
  isEventUncommitted(workflowUUID: string, key: string): boolean {
    const batch = this.#committer.durable();
    return batch !== undefined && batch === this.#uncommittedEventsBatch && this.#uncommittedEvents.has(`${workflowUUID}\u0000${key}`);
  }

  /**
   * One recv attempt: consume the oldest message of the queue and record it as the operation's result,
   * in one commit. With nothing to consume, starts the wait (`wait`) or records a timeout (`wait` null).
   */
  receive(position: OperationPosition, phase: AttemptPhase, topic: string | null, wait: WaitPlan | null, nowMs: number): AttemptResult {
    const messages = this.messages;
    // A wait that continues and finds nothing writes nothing: plain read, no transaction.
    if (phase === 'resumed' && wait !== null && !messages.hasPending(position.workflowUUID, topic)) return NOT_FOUND;
    return this.#committer.write(() => this.#attempt(position, phase, () => messages.consumeOldest(position.workflowUUID, topic, nowMs), wait, nowMs));
  }

  /** One in-workflow getEvent attempt: read the event and record what was seen, in one commit. */
  readEvent(position: OperationPosition, phase: AttemptPhase, targetUUID: string, key: string, wait: WaitPlan | null, nowMs: number): AttemptResult {
    const events = this.events;
    if (phase === 'resumed' && wait !== null && events.getValue(targetUUID, key) === undefined) return NOT_FOUND;
    return this.#committer.write(() => this.#attempt(position, phase, () => events.getValue(targetUUID, key), wait, nowMs));
  }

  /** Sets a recovered workflow's attempt count back to zero once it shows progress. */
  resetRecoveryAttempts(workflowUUID: string, nowMs: number): void {
    // Gathered and written as one statement at commit: a recovery pass resets thousands at once.
    this.#committer.write(() => this.#pendingResets.push(workflowUUID));
    this.#resetAtMs = nowMs;
  }

  /**
   * The commit of the writes made so far in this turn, or undefined when none is pending. Await it
   * before reporting a write, or a value read, as done: it rejects when the commit failed.
   */
  durable(): Promise<void> | undefined {
    return this.#committer.durable();
  }

  /** Number of commits so far (for tests and benchmarks). */
  get commits(): number {
    return this.#committer.commits;
  }

  /** Commits pending writes now, then closes the database. */
  close(): void {
    if (!this.db.open) return;
    this.#committer.flush();
    this.db.close();
  }

  /** Stops writing at once, dropping uncommitted writes, as a killed process would. The connection stays open. */
  halt(): void {
    this.#committer.halt();
  }
}
