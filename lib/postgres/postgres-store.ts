// The PostgreSQL store: the Store of one PostgreSQL schema, shared by many engines. Every write is one
// transaction on a connection of the pool (BEGIN ... COMMIT, ROLLBACK on any error; see transactions.ts), and its promise
// settles only once that transaction committed (commit: ALREADY_COMMITTED) or failed (a StorageError
// this store raised; nothing of the write kept). Reads run on the pool and see committed rows only.
//
// Commit order. SQLite has one writer, so its ids are handed out in commit order. Here ids come from
// sequences at insert, and two transactions may commit in the other order than they took their ids.
// What the store decides about it:
// - A workflow's row is its lock. Every transaction that records for a workflow, sends to it,
//   appends to its streams, cancels, resumes, forks or deletes it first locks its row (FOR NO KEY
//   UPDATE; several rows in UUID order, so lockers wait rather than deadlock; see lockWorkflows). So
//   per workflow the writes are serial, as on SQLite: a cancel's commit comes wholly before or after
//   an operation's record, and a step's writeStream and the workflow's take stream positions one after
//   the other (and none after the workflow's finish).
// - Queues are FIFO in commit order: a sender takes its message ids while it holds the destination's
//   lock, so after the previous sender committed; the destination consumes under the same lock.
// - Between messages of one workflow's queues, a select's "oldest" is therefore the first committed.
//   Between an event and a message, the event's messages_before is the highest message id its insert
//   could see: a message committed before the event was set wins over it, and an event committed
//   before a message was sent wins over that message; a message in flight while the event committed
//   (no order was observable between the two) may go either way. Among events, the lowest id wins:
//   insert order, which for two events of different workflows committing at once may differ from
//   their commit order.
// - A deadlock or serialization failure the server reports (SQLSTATE 40P01, 40001) rolls the
//   transaction back whole, and it is run again, a few times, before it fails.
// - A connection lost during COMMIT leaves the outcome unknown: the write rejects with a StorageError
//   that says so, and the workflow resumes from whatever its records show.
//
// Not here yet: a change feed of other engines' commits (LISTEN/NOTIFY, the multi-engine stage) and
// ownership, which engines on one server share through leases (same stage).
import { WorkflowNotFoundError, type StorageError } from '../errors';
import { noDeletedRows } from '../store/deletion';
import type { OwnershipLock } from '../store/ownership';
import {
  ALREADY_COMMITTED, cancellationOf, selectRecord, streamReadRecord,
  type AppendResult, type AttemptPhase, type AttemptResult, type ChangeFeed, type Commit, type CommitInterceptor, type CommitObserver,
  type ControlState, type DeleteOutcome, type FeedPosition, type ForkOutcome, type OutgoingMessage, type PruneBatch, type RecoveryDecisions,
  type RecoverySnapshot, type SendManyOutcome, type SendRefusal, type SendResult, type Store, type StreamCursor, type WaitPlan, type WaitStart,
  type WorkflowSnapshot, type Written,
} from '../store/store';
import type { CancelResult, OperationPosition, OperationRecord, ResumeResult, SelectBranch, WorkflowRecord, WorkflowStatusName } from '../types';
import { DEFAULT_LEASE_SECONDS, openPostgresDatabase, type PostgresDatabase, type PostgresOptions } from './database';
import { deleteAll, deleteStrayControls, lockFinishedBefore, PostgresDeletionReads } from './deletion';
import { copyEventsForFork, getEventPlacement, getEventValue, insertEvent, PostgresEventReads } from './events';
import { consumeOldest, copyMessagesForFork, insertMessage, markConsumed, peekOldest, PostgresMessageReads } from './messages';
import {
  completeOperation, continueWait, copyOperationsForFork, countOperations, insertCompleted, insertStarted, listForPendingWorkflows, listOperations,
  PostgresOperationReads,
} from './operations';
import { announceChanges, changeChannel, type AnnouncedChanges } from './notifications';
import { claimAbandoned, claimWorkflow, heartbeat, registerExecutor, retireExecutor } from './executors';
import { firstRow, type Sql } from './sql';
import { appendToStream, copyStreamsForFork, isStreamClosed, PostgresStreamReads, streamEntryAt } from './streams';
import { TransactionRunner } from './transactions';
import {
  cancelWorkflow, controlStateOf, deletionTargets, descendantsOf, finishWorkflow, getWorkflow, giveUp, insertControl, insertWorkflow,
  lockPendingWorkflows, lockWorkflow, lockWorkflows, PostgresWorkflowReads, resetRecoveryAttempts, resumeWorkflow, setRecoveryAttempts,
} from './workflows';

const NOT_FOUND: AttemptResult = Object.freeze({ found: false, commit: ALREADY_COMMITTED });

/** Options of {@link PostgresStore.open}: the database's, and the store's own. */
export interface PostgresStoreOptions extends Omit<PostgresOptions, 'executorId' | 'leaseSeconds'> {
  /** Called around every commit of this store (fault injection, crash tests). */
  interceptor?: CommitInterceptor | null;
  /**
   * The executor this store writes for (an Engine's, see executors.ts): the workflows it starts are
   * held by it, and each operation it records is refused unless it holds the workflow. null (a
   * Client's store): it runs nothing; what it starts is for any engine to claim.
   */
  executorId?: string | null;
  /** How long an executor's heartbeat holds its workflows, in ms. @default 5000 */
  leaseMs?: number;
}

export class PostgresStore implements Store {
  readonly #database: PostgresDatabase;
  readonly #transactions: TransactionRunner;
  /** Where each write transaction announces what it changed (see notifications.ts). */
  readonly #channel: string;
  /** The executor this store writes for; null for a Client's. */
  readonly executorId: string | null;
  readonly #leaseMs: number;
  readonly workflows: PostgresWorkflowReads;
  readonly operations: PostgresOperationReads;
  readonly events: PostgresEventReads;
  readonly messages: PostgresMessageReads;
  readonly streams: PostgresStreamReads;
  readonly deletion: PostgresDeletionReads;
  #closing: Promise<void> | null = null;
  // Recovery-count resets waiting for a commit (see resetRecoveryAttempts), by workflow, with their time.
  #pendingResets = new Map<string, number>();
  #flushingResets: Promise<void> | null = null;

  /**
   * Connects to the PostgreSQL database of `url`, brings its schema up to date (see
   * openPostgresDatabase) and returns a store that owns it: closing the store closes the pool.
   * @throws DatabaseOpenError, SchemaVersionError, TypeError/RangeError as openPostgresDatabase does.
   * @example
   * const store = await PostgresStore.open('postgres://app@db.internal/app', { schema: 'billing' });
   * await store.startWorkflow(uuid, 'Checkout', '[]', Date.now());
   * await store.closeAsync();
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const { interceptor = null, executorId = null, leaseMs = DEFAULT_LEASE_SECONDS * 1000, ...databaseOptions } = options;
    return new PostgresStore(await openPostgresDatabase(url, databaseOptions), interceptor, executorId, leaseMs);
  }

  /** A store over a database already opened with openPostgresDatabase; the store takes it over (its close ends the pool). */
  constructor(database: PostgresDatabase, interceptor: CommitInterceptor | null = null, executorId: string | null = null, leaseMs = DEFAULT_LEASE_SECONDS * 1000) {
    this.#database = database;
    this.executorId = executorId;
    this.#leaseMs = leaseMs;
    this.#channel = changeChannel(database.schema);
    const transactions = (this.#transactions = new TransactionRunner(database, interceptor));
    transactions.setBeforeCommit(async (sql) => {
      if (this.#pendingResets.size === 0) return undefined;
      const taken = this.#pendingResets;
      this.#pendingResets = new Map();
      await resetRecoveryAttempts(sql, [...taken.keys()], Math.max(...taken.values()));
      // The commit failed: these resets were rolled back with it; they go with the next commit.
      return () => {
        for (const [workflowUUID, nowMs] of taken) if (!this.#pendingResets.has(workflowUUID)) this.#pendingResets.set(workflowUUID, nowMs);
      };
    });
    const reader = transactions.reader;
    this.workflows = new PostgresWorkflowReads(reader);
    this.operations = new PostgresOperationReads(reader);
    this.events = new PostgresEventReads(reader);
    this.messages = new PostgresMessageReads(reader);
    this.streams = new PostgresStreamReads(reader);
    this.deletion = new PostgresDeletionReads(reader);
  }

  /** The database's description, without its password (for messages). */
  get name(): string {
    return this.#database.name;
  }

  /** How many of this store's transactions and reads are under way (the testing kit waits for none). */
  get inFlight(): number {
    return this.#transactions.inFlight;
  }

  /**
   * Locks the workflow's row and refuses (WorkflowCancelledError, WorkflowNotFoundError) when it is
   * CANCELLED or gone, or (a StorageError, which ends the run) when another executor holds it.
   */
  async #lockRecording(sql: Sql, workflowUUID: string): Promise<ControlState> {
    return this.#fence(workflowUUID, refuse(workflowUUID, await lockWorkflow(sql, workflowUUID)));
  }

  /**
   * Refuses a record for a workflow this store's executor does not hold: another engine took it over
   * (this one's heartbeat lapsed) and runs it now. The StorageError ends this engine's run of it,
   * which then does not run again here unless it claims the workflow back.
   */
  #fence<S extends { executorId: string | null }>(workflowUUID: string, state: S): S {
    if (this.executorId !== null && state.executorId !== this.executorId) {
      throw this.#transactions.failure(
        'PG_NOT_HELD',
        `Workflow "${workflowUUID}" is held by ${state.executorId === null ? 'no engine' : `engine "${state.executorId}"`}, not by this one ("${this.executorId}"): another engine took it over. Nothing was recorded; this engine stops running it.`,
      );
    }
    return state;
  }

  async #record(sql: Sql, position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number): Promise<void> {
    if (phase === 'first') await insertCompleted(sql, { ...position, output, error }, nowMs);
    else if (!(await completeOperation(sql, position.workflowUUID, position.operationIndex, output, error, nowMs))) {
      // The wait's start record is gone (its commit failed): completing nothing would let the caller
      // act (consume a message) with no record of it. Throwing rolls this attempt back.
      throw new Error(`Operation #${position.operationIndex} of workflow "${position.workflowUUID}" has no started wait to complete.`);
    }
  }

  /** Announces `changes` to every listener, in the transaction of `sql`: delivered at its commit, dropped with its rollback. */
  #announce(sql: Sql, changes: Partial<AnnouncedChanges>): Promise<void> {
    return announceChanges(sql, this.#channel, changes);
  }

  async #written<T>(work: (sql: Sql) => Promise<T>): Promise<Written<T>> {
    return { value: await this.#transactions.run(work), commit: ALREADY_COMMITTED };
  }

  async #committed(work: (sql: Sql) => Promise<unknown>): Promise<Commit> {
    await this.#transactions.run(work);
    return ALREADY_COMMITTED;
  }

  // ---- writes of workflows and their operations ---------------------------------------------------------

  startWorkflow(workflowUUID: string, workflowName: string, inputs: string, nowMs: number, deadlineMs: number | null = null): Promise<Written<boolean>> {
    return this.#written(async (sql) => {
      const inserted = await insertWorkflow(sql, workflowUUID, workflowName, inputs, null, deadlineMs, nowMs, this.executorId);
      // Announced as new only when no engine holds it (a Client's start): an engine's own start is
      // its own to run, and no other engine has anything to claim.
      if (inserted && this.executorId === null) await this.#announce(sql, { newWorkflows: [{ workflowUUID, workflowName, deadlineMs }] });
      return inserted;
    });
  }

  startChildWorkflow(position: OperationPosition, candidateUUIDs: readonly string[], childName: string, inputs: string, deadlineMs: number | null, nowMs: number): Promise<Written<string | null>> {
    return this.#written(async (sql) => {
      await this.#lockRecording(sql, position.workflowUUID);
      for (const childUUID of candidateUUIDs) {
        if (!(await insertWorkflow(sql, childUUID, childName, inputs, position.workflowUUID, deadlineMs, nowMs, this.executorId))) continue;
        await insertCompleted(sql, { ...position, output: JSON.stringify(childUUID), error: null }, nowMs);
        return childUUID;
      }
      return null;
    });
  }

  finishWorkflow(workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): Promise<Written<boolean>> {
    return this.#written(async (sql) => {
      const state = await lockWorkflow(sql, workflowUUID);
      // A run's outcome is recorded only by the engine that holds the workflow (see #fence).
      if (state?.status === 'PENDING') this.#fence(workflowUUID, state);
      const finished = await finishWorkflow(sql, workflowUUID, status, output, error, nowMs);
      if (finished) await this.#announce(sql, { outcomes: [{ workflowUUID }] });
      return finished;
    });
  }

  recordOutcome(position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number, evenIfCancelled = false): Promise<Commit> {
    return this.#committed(async (sql) => {
      const state = await lockWorkflow(sql, position.workflowUUID);
      if (!evenIfCancelled) refuse(position.workflowUUID, state);
      else if (state === undefined) throw new WorkflowNotFoundError(position.workflowUUID);
      this.#fence(position.workflowUUID, state!);
      await this.#record(sql, position, phase, output, error, nowMs);
    });
  }

  startWait(wait: WaitStart, nowMs: number): Promise<Commit> {
    return this.#committed(async (sql) => {
      await this.#lockRecording(sql, wait.workflowUUID);
      await insertStarted(sql, wait, nowMs);
    });
  }

  recordStepFailure(wait: WaitStart, phase: AttemptPhase, nowMs: number): Promise<Commit> {
    return this.#committed(async (sql) => {
      await this.#lockRecording(sql, wait.workflowUUID);
      if (phase === 'first') await insertStarted(sql, wait, nowMs);
      else if (!(await continueWait(sql, wait))) {
        throw new Error(`Operation #${wait.operationIndex} of workflow "${wait.workflowUUID}" has no started step to continue.`);
      }
    });
  }

  send(destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): Promise<Written<SendResult>> {
    return this.#written(async (sql) => {
      const destination = await lockWorkflow(sql, destinationUUID);
      if (destination === undefined) return 'not-found';
      if (destination.status === 'CANCELLED') return 'cancelled';
      if (!(await insertMessage(sql, destinationUUID, message, topic, idempotencyKey, nowMs))) return 'duplicate';
      await this.#announce(sql, { messages: [{ destinationUUID, topic }] });
      return 'sent';
    });
  }

  sendMany(batch: readonly OutgoingMessage[], nowMs: number): Promise<Written<SendManyOutcome>> {
    return this.#written(async (sql): Promise<SendManyOutcome> => {
      // Every destination is locked and checked before anything is inserted; the first refused one,
      // in array order, refuses the batch.
      const states = await lockWorkflows(sql, batch.map((outgoing) => outgoing.destinationUUID));
      for (const { destinationUUID } of batch) {
        const state = states.get(destinationUUID);
        if (state === undefined) return { notFound: destinationUUID };
        if (state.status === 'CANCELLED') return { notFound: null, cancelled: destinationUUID };
      }
      const inserted: boolean[] = [];
      for (const outgoing of batch) inserted.push(await insertMessage(sql, outgoing.destinationUUID, outgoing.message, outgoing.topic, outgoing.idempotencyKey, nowMs));
      const sent = batch.filter((_outgoing, index) => inserted[index]).map(({ destinationUUID, topic }) => ({ destinationUUID, topic }));
      await this.#announce(sql, { messages: sent });
      return { notFound: null, inserted };
    });
  }

  sendFromWorkflow(position: OperationPosition, destinationUUID: string, message: string, topic: string | null, encodeRefusal: (refusal: SendRefusal) => string, nowMs: number): Promise<Written<SendResult>> {
    return this.#written(async (sql): Promise<SendResult> => {
      const states = await lockWorkflows(sql, [position.workflowUUID, destinationUUID]);
      this.#fence(position.workflowUUID, refuse(position.workflowUUID, states.get(position.workflowUUID)));
      const destination = states.get(destinationUUID);
      if (destination === undefined || destination.status === 'CANCELLED') {
        const refusal = destination === undefined ? 'not-found' : 'cancelled';
        await insertCompleted(sql, { ...position, output: null, error: encodeRefusal(refusal) }, nowMs);
        return refusal;
      }
      await insertMessage(sql, destinationUUID, message, topic, null, nowMs);
      await insertCompleted(sql, { ...position, output: null, error: null }, nowMs);
      await this.#announce(sql, { messages: [{ destinationUUID, topic }] });
      return 'sent';
    });
  }

  setEvent(position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): Promise<Written<boolean>> {
    return this.#written(async (sql) => {
      await this.#lockRecording(sql, position.workflowUUID);
      const inserted = await insertEvent(sql, position.workflowUUID, key, value, position.operationIndex, nowMs);
      await insertCompleted(sql, { ...position, output: null, error: inserted ? null : encodeDuplicate() }, nowMs);
      if (inserted) await this.#announce(sql, { events: [{ workflowUUID: position.workflowUUID, key }] });
      return inserted;
    });
  }

  receive(position: OperationPosition, phase: AttemptPhase, topic: string | null, wait: WaitPlan | null, nowMs: number): Promise<AttemptResult> {
    const { workflowUUID, operationIndex } = position;
    return this.#attempt(position, phase, wait, nowMs, {
      peek: async (sql) => (await peekOldest(sql, workflowUUID, topic)) !== undefined,
      read: (sql) => consumeOldest(sql, workflowUUID, topic, operationIndex, nowMs),
    });
  }

  readEvent(position: OperationPosition, phase: AttemptPhase, targetUUID: string, key: string, wait: WaitPlan | null, nowMs: number): Promise<AttemptResult> {
    return this.#attempt(position, phase, wait, nowMs, {
      peek: async (sql) => (await getEventValue(sql, targetUUID, key)) !== undefined,
      read: (sql) => getEventValue(sql, targetUUID, key),
    });
  }

  /** One select attempt (see the header for what "first" means between an event and a message here). */
  select(position: OperationPosition, phase: AttemptPhase, branches: readonly SelectBranch[], wait: WaitPlan | null, nowMs: number): Promise<AttemptResult> {
    const selfUUID = position.workflowUUID;
    const read = async (sql: Sql, consume: boolean): Promise<string | undefined> => {
      let message: { index: number; messageId: number; text: string } | undefined;
      let event: { index: number; eventId: number; messagesBefore: number; text: string } | undefined;
      for (const [index, branch] of branches.entries()) {
        if ('recv' in branch) {
          const oldest = await peekOldest(sql, selfUUID, branch.recv);
          if (oldest !== undefined && (message === undefined || oldest.messageId < message.messageId)) message = { index, messageId: oldest.messageId, text: oldest.message };
        } else {
          const found = await getEventPlacement(sql, branch.getEvent.workflowUUID, branch.getEvent.key);
          if (found !== undefined && (event === undefined || found.eventId < event.eventId)) event = { index, eventId: found.eventId, messagesBefore: found.messagesBefore, text: found.value };
        }
      }
      if (message !== undefined && (event === undefined || message.messageId <= event.messagesBefore)) {
        if (consume) await markConsumed(sql, message.messageId, position.operationIndex, nowMs);
        return selectRecord(message.index, message.text);
      }
      return event === undefined ? undefined : selectRecord(event.index, event.text);
    };
    return this.#attempt(position, phase, wait, nowMs, {
      peek: async (sql) => (await read(sql, false)) !== undefined,
      read: (sql) => read(sql, true),
    });
  }

  appendStream(workflowUUID: string, key: string, value: string, operationIndex: number, nowMs: number): Promise<Written<AppendResult>> {
    return this.#written(async (sql) => {
      const appended = await appendToStream(sql, (await lockWorkflow(sql, workflowUUID))?.status, workflowUUID, key, value, operationIndex, nowMs);
      if (appended !== 'closed') await this.#announce(sql, { streams: [{ workflowUUID, key }] });
      return appended;
    });
  }

  writeStreamFromWorkflow(position: OperationPosition, key: string, value: string | null, encodeClosed: () => string, nowMs: number): Promise<Written<AppendResult>> {
    return this.#written(async (sql) => {
      const { workflowUUID } = position;
      const state = await this.#lockRecording(sql, workflowUUID);
      // Closing a closed stream is a no-op (recorded as done); writing to one is a recorded error.
      if (value === null && (await isStreamClosed(sql, workflowUUID, key))) {
        await insertCompleted(sql, { ...position, output: null, error: null }, nowMs);
        return 'closed';
      }
      const appended = await appendToStream(sql, state.status, workflowUUID, key, value, position.operationIndex, nowMs);
      const output = appended === 'closed' || value === null ? null : String(appended);
      await insertCompleted(sql, { ...position, output, error: appended === 'closed' ? encodeClosed() : null }, nowMs);
      if (appended !== 'closed') await this.#announce(sql, { streams: [{ workflowUUID, key }] });
      return appended;
    });
  }

  readStreamEntry(position: OperationPosition, phase: AttemptPhase, cursor: StreamCursor, wait: WaitPlan | null, nowMs: number): Promise<AttemptResult> {
    const { workflowUUID, key, offset } = cursor;
    const read = async (sql: Sql): Promise<string | undefined> => {
      const { entry, ended } = await streamEntryAt(sql, workflowUUID, key, offset);
      if (entry !== undefined) return streamReadRecord(offset, entry);
      return ended ? streamReadRecord(offset, 'end') : undefined;
    };
    return this.#attempt(position, phase, wait, nowMs, { peek: async (sql) => (await read(sql)) !== undefined, read }, streamReadRecord(offset, 'timeout'));
  }

  /**
   * One attempt of a recorded read: `read` (in the transaction, the workflow's row locked) finds the
   * value, which is recorded; else the wait starts, or the timeout is recorded. A wait that continues
   * first peeks with a plain read, and writes nothing when there is nothing.
   */
  async #attempt(
    position: OperationPosition, phase: AttemptPhase, wait: WaitPlan | null, nowMs: number,
    reads: { peek: (sql: Sql) => Promise<boolean>; read: (sql: Sql) => Promise<string | undefined> },
    timeoutOutput = 'null',
  ): Promise<AttemptResult> {
    if (phase === 'resumed' && wait !== null && !(await reads.peek(this.#transactions.reader))) return NOT_FOUND;
    const outcome = await this.#transactions.run(async (sql): Promise<string | boolean> => {
      await this.#lockRecording(sql, position.workflowUUID);
      const value = await reads.read(sql);
      if (value !== undefined || wait === null) {
        const recorded = value ?? timeoutOutput;
        await this.#record(sql, position, phase, recorded, null, nowMs);
        return recorded;
      }
      if (phase === 'first') await insertStarted(sql, { ...position, ...wait }, nowMs);
      return phase === 'first';
    });
    if (typeof outcome === 'string') return { found: true, value: outcome, commit: ALREADY_COMMITTED };
    return outcome ? { found: false, commit: ALREADY_COMMITTED } : NOT_FOUND;
  }

  /** A workflow and its recorded operations, read in one REPEATABLE READ snapshot. */
  snapshotOf(workflowUUID: string): Promise<WorkflowSnapshot> {
    return this.#transactions.snapshot(async (sql) => ({ record: await getWorkflow(sql, workflowUUID), operations: await listOperations(sql, workflowUUID) }));
  }

  /**
   * Sets a recovered workflow's attempt count back to zero: joins the next transaction of this store,
   * or one of its own started now. Never fails its caller; a failed reset stays for the next commit
   * (and at worst the next recovery counts the workflow once more).
   */
  resetRecoveryAttempts(workflowUUID: string, nowMs: number): void {
    this.#pendingResets.set(workflowUUID, nowMs);
    if (this.#flushingResets !== null || this.#transactions.halted || this.#closing !== null) return;
    this.#flushingResets = (async () => {
      // After the current turn: resets asked for together go in one statement.
      await Promise.resolve();
      // An empty transaction: the resets join it before its COMMIT.
      if (this.#pendingResets.size > 0) await this.#transactions.run(async () => {}).catch(() => {});
    })().finally(() => {
      this.#flushingResets = null;
    });
  }

  // ---- executors: many engines on one schema (see executors.ts) ----------------------------------------------

  /** Takes `workflowUUID` to run it here when it is claimable; true when this store's executor holds it now. */
  claim(workflowUUID: string): Promise<boolean> {
    const executorId = this.executorId;
    if (executorId === null) return Promise.resolve(false);
    return this.#transactions.run((sql) => claimWorkflow(sql, workflowUUID, executorId, this.#leaseMs));
  }

  /** Adds this store's executor as alive now (an Engine's open). */
  registerExecutor(): Promise<void> {
    return this.#transactions.run((sql) => registerExecutor(sql, this.#requireExecutor()));
  }

  /** Renews this executor's hold on its workflows; false when its row is gone (another engine declared it dead). */
  heartbeat(): Promise<boolean> {
    return this.#transactions.run((sql) => heartbeat(sql, this.#requireExecutor()));
  }

  /** Claims up to `limit` abandoned workflows for this executor (see claimAbandoned), each a recovery attempt when taken from another. */
  claimAbandoned(limit: number): Promise<WorkflowRecord[]> {
    return this.#transactions.run((sql) => claimAbandoned(sql, this.#requireExecutor(), this.#leaseMs, limit, false));
  }

  /**
   * Marks a workflow this executor holds MAX_RECOVERY_ATTEMPTS_EXCEEDED with `error` (a takeover found
   * it had been taken over too often: it may be what kills the engines that run it); false when it
   * was no longer PENDING.
   */
  giveUp(workflowUUID: string, error: string, nowMs: number): Promise<boolean> {
    return this.#transactions.run(async (sql) => {
      const state = await lockWorkflow(sql, workflowUUID);
      if (state === undefined || state.status !== 'PENDING' || state.executorId !== this.executorId) return false;
      await giveUp(sql, workflowUUID, error, nowMs);
      await this.#announce(sql, { outcomes: [{ workflowUUID }] });
      return true;
    });
  }

  /** Removes this executor's row, so that what it holds can be claimed at once (an Engine's close). */
  retireExecutor(): Promise<void> {
    return this.#transactions.run((sql) => retireExecutor(sql, this.#requireExecutor()), true);
  }

  #requireExecutor(): string {
    if (this.executorId === null) throw new Error('A store with no executor (a Client\'s) runs no workflows.');
    return this.executorId;
  }

  // ---- control ---------------------------------------------------------------------------------------------

  cancelWorkflow(workflowUUID: string, withDescendants: boolean, reason: (uuid: string) => string, dueByMs: number | null, nowMs: number): Promise<CancelResult | undefined> {
    return this.#transactions.run(async (sql): Promise<CancelResult | undefined> => {
      const state = await lockWorkflow(sql, workflowUUID);
      if (state === undefined) return undefined;
      // A deadline's cancel: only while that deadline stands (a resume clears it).
      if (dueByMs !== null && (state.deadlineMs === null || state.deadlineMs > dueByMs)) return { previousStatus: state.status, cancelled: [] };
      const cancelled: string[] = [];
      const cancelOne = async (uuid: string): Promise<void> => {
        if (!(await cancelWorkflow(sql, uuid, reason(uuid), nowMs))) return;
        await insertControl(sql, uuid, 'cancel', nowMs);
        cancelled.push(uuid);
      };
      if (state.status === 'PENDING') await cancelOne(workflowUUID);
      if (withDescendants) for (const descendant of await descendantsOf(sql, workflowUUID)) if (descendant.status === 'PENDING') await cancelOne(descendant.workflowUUID);
      // A cancel ends the workflows' waits and runs (a control) and their result waits (an outcome).
      await this.#announce(sql, {
        controls: cancelled.map((uuid) => ({ workflowUUID: uuid, action: 'cancel' as const })),
        outcomes: cancelled.map((uuid) => ({ workflowUUID: uuid })),
      });
      return { previousStatus: state.status, cancelled };
    });
  }

  resumeWorkflow(workflowUUID: string, nowMs: number): Promise<ResumeResult | undefined> {
    return this.#transactions.run(async (sql): Promise<ResumeResult | undefined> => {
      const state = await lockWorkflow(sql, workflowUUID);
      if (state === undefined) return undefined;
      const resumed = await resumeWorkflow(sql, workflowUUID, nowMs);
      if (resumed) {
        await insertControl(sql, workflowUUID, 'resume', nowMs);
        await this.#announce(sql, { controls: [{ workflowUUID, action: 'resume' }] });
      }
      return { previousStatus: state.status, resumed };
    });
  }

  forkWorkflow(original: string, fork: string, fromOperation: number, timeoutMs: number | null | undefined, nowMs: number): Promise<Written<ForkOutcome>> {
    return this.#written(async (sql): Promise<ForkOutcome> => {
      // The original's row locked: its operations, events and messages hold still while they are copied.
      if ((await lockWorkflow(sql, original)) === undefined) return { kind: 'not-found' };
      const record = (await getWorkflow(sql, original))!;
      const operationCount = await countOperations(sql, original);
      if (fromOperation > operationCount) return { kind: 'out-of-range', operationCount };
      const lengthMs = timeoutMs !== undefined ? timeoutMs : record.deadlineMs === null ? null : Math.max(0, record.deadlineMs - record.createdAt);
      const deadlineMs = lengthMs === null ? null : Math.ceil(nowMs + lengthMs);
      if (!(await insertWorkflow(sql, fork, record.workflowName, record.inputs, null, deadlineMs, nowMs, this.executorId))) {
        return { kind: 'conflict', existing: (await getWorkflow(sql, fork)) ?? null, original: record };
      }
      await copyOperationsForFork(sql, original, fork, fromOperation);
      await copyEventsForFork(sql, original, fork);
      await copyMessagesForFork(sql, original, fork);
      await copyStreamsForFork(sql, original, fork);
      if (this.executorId === null) await this.#announce(sql, { newWorkflows: [{ workflowUUID: fork, workflowName: record.workflowName, deadlineMs }] });
      return { kind: 'forked', original: record, deadlineMs, recorded: await listOperations(sql, fork) };
    });
  }

  deleteWorkflows(workflowUUID: string, withDescendants: boolean, keepControlsOf: ReadonlySet<string>): Promise<DeleteOutcome | undefined> {
    return this.#transactions.run(async (sql): Promise<DeleteOutcome | undefined> => {
      const found = await deletionTargets(sql, workflowUUID, withDescendants);
      if (found === undefined) return undefined;
      // Locked, then read again: a status that changed before the lock was had is the one that counts.
      const states = await lockWorkflows(sql, found.map((target) => target.workflowUUID));
      const targets = found.filter((target) => states.has(target.workflowUUID));
      const refused = targets.filter((target) => states.get(target.workflowUUID)!.status === 'PENDING').map((target) => target.workflowUUID);
      if (refused.length > 0) return { refused };
      const deleted = targets.map((target) => target.workflowUUID);
      const rows = await deleteAll(sql, deleted, keepControlsOf);
      // Whoever awaits a deleted workflow's result looks again (and finds no such workflow).
      await this.#announce(sql, { outcomes: deleted.map((uuid) => ({ workflowUUID: uuid })) });
      return { refused: null, deleted, rows };
    });
  }

  pruneBatch(statuses: readonly WorkflowStatusName[], beforeMs: number, limit: number): Promise<PruneBatch> {
    return this.#transactions.run(async (sql) => {
      const deleted = await lockFinishedBefore(sql, statuses.filter((status) => status !== 'PENDING'), beforeMs, limit);
      return { deleted, rows: deleted.length === 0 ? noDeletedRows() : await deleteAll(sql, deleted) };
    });
  }

  pruneStrayControls(beforeMs: number): Promise<number> {
    return this.#transactions.run((sql) => deleteStrayControls(sql, beforeMs));
  }

  /** Also refuses (the StorageError of #fence) a workflow another engine took over: no step of it starts here then. */
  async refuseIfCancelled(workflowUUID: string): Promise<void> {
    this.#fence(workflowUUID, refuse(workflowUUID, await controlStateOf(this.#transactions.reader, workflowUUID)));
  }

  /**
   * The recovery pass's transaction: every PENDING workflow read and its row locked (no operation of
   * it can commit meanwhile), `decide`'s writes, their operations and the feed's starting point.
   * `decide` runs again if the server picks the pass as a deadlock's victim.
   */
  recover<D extends RecoveryDecisions>(decide: (pending: WorkflowRecord[]) => D, nowMs: number): Promise<RecoverySnapshot<D>> {
    return this.#transactions.run(async (sql) => {
      // An engine recovers only what it may claim: never-claimed workflows, its own, and those of
      // executors whose lease lapsed or which closed. Another live engine's stay its own.
      const pending = this.executorId === null ? await lockPendingWorkflows(sql) : await claimAbandoned(sql, this.executorId, this.#leaseMs, Number.MAX_SAFE_INTEGER, true);
      const decisions = decide(pending);
      for (const [workflowUUID, attempt] of decisions.attempts) await setRecoveryAttempts(sql, workflowUUID, attempt, nowMs);
      for (const [workflowUUID, error] of decisions.givenUp) await giveUp(sql, workflowUUID, error, nowMs);
      for (const [workflowUUID, error] of decisions.failed) await finishWorkflow(sql, workflowUUID, 'ERROR', null, error, nowMs);
      await this.#announce(sql, { outcomes: [...decisions.givenUp, ...decisions.failed].map(([workflowUUID]) => ({ workflowUUID })) });
      const operations = decisions.readOperations ? await listForPendingWorkflows(sql) : new Map<string, OperationRecord[]>();
      return { decisions, operations, feedStart: await feedPosition(sql) };
    });
  }

  async countRecoveryAttempt(workflowUUID: string, attempt: number, nowMs: number): Promise<void> {
    await this.#transactions.run((sql) => setRecoveryAttempts(sql, workflowUUID, attempt, nowMs));
  }

  // ---- visibility: reads here see committed rows only ------------------------------------------------------

  /**
   * Runs `read` once every write of this store under way has committed or failed, as SQLite's does
   * after its open batch: a read sees this process's writes in call order (a send, then a listing in
   * the same turn, lists the message exactly when the send committed). Reads here never see
   * uncommitted rows either way.
   */
  async readCommitted<T>(read: () => T | Promise<T>): Promise<T> {
    const writes = this.#transactions.writesSettled();
    if (writes !== undefined) await writes;
    return read();
  }

  afterSettle(listener: () => void): void {
    listener();
  }

  get hasUncommittedWrites(): boolean {
    return false;
  }

  isEventUncommitted(): boolean {
    return false;
  }

  // ---- other engines, failures, the end ---------------------------------------------------------------------

  /**
   * Not yet: the change feed of a PostgreSQL store comes with the multi-engine stage of #16
   * (LISTEN/NOTIFY). Store.poll() answers synchronously, which a server cannot; and ids here are
   * handed out at insert, so "every id above the last seen" would miss a row whose lower id commits
   * later (see the header): the feed must track what is in flight, not a high-water mark alone.
   */
  openChangeFeed(): ChangeFeed {
    throw new Error('The PostgreSQL store has no change feed yet: it comes with the multi-engine stage of #16 (LISTEN/NOTIFY wake-ups, executors and leases).');
  }

  /** Null: engines on one server coordinate by leases (the multi-engine stage of #16), not by owning the database. */
  takeOwnership(): OwnershipLock | null {
    return null;
  }

  isOwnFailure(error: unknown): error is StorageError {
    return this.#transactions.raised(error);
  }

  /** False: a write here waits for a row lock instead of failing at once. */
  isLockHeld(): boolean {
    return false;
  }

  setObserver(observer: CommitObserver | null): void {
    this.#transactions.observer = observer;
  }

  /** Closes (see closeAsync), resolving once the pool ended; a failure of it is dropped. */
  close(): Promise<void> {
    return this.closeAsync().catch(() => {});
  }

  /**
   * Refuses new writes, commits the recovery-count resets still waiting, lets the transactions under
   * way finish, then ends the pool. Idempotent.
   */
  closeAsync(): Promise<void> {
    this.#closing ??= (async () => {
      this.#transactions.stop('closed');
      await this.#flushingResets;
      // One last transaction, past the closed check; the resets join it. A failure leaves them undone:
      // the next recovery counts those workflows once more.
      if (this.#pendingResets.size > 0) await this.#transactions.run(async () => {}, true).catch(() => {});
      await this.#database.close();
    })();
    return this.#closing;
  }

  /**
   * Stops writing at once, as a killed process would: new writes reject, and a transaction under way
   * rolls back instead of committing (one whose COMMIT was already sent may still land). Reads go on.
   */
  halt(): void {
    this.#transactions.stop('halted');
  }
}

/** Throws the workflow's cancellation when it is CANCELLED, WorkflowNotFoundError when it is gone; else its state. */
function refuse<S extends ControlState>(workflowUUID: string, state: S | undefined): S {
  if (state === undefined) throw new WorkflowNotFoundError(workflowUUID);
  if (state.status === 'CANCELLED') throw cancellationOf(workflowUUID, state.error);
  return state;
}

/** The highest id of each table the change feed follows (see openChangeFeed for why it is only a start). */
async function feedPosition(sql: Sql): Promise<FeedPosition> {
  const row = (await firstRow<{ message_id: number; event_id: number; entry_id: number; workflow_id: number; control_id: number }>(
    sql,
    `SELECT (SELECT coalesce(max(message_id), 0) FROM messages) AS message_id, (SELECT coalesce(max(event_id), 0) FROM events) AS event_id,
            (SELECT coalesce(max(entry_id), 0) FROM streams) AS entry_id, (SELECT coalesce(max(workflow_id), 0) FROM workflows) AS workflow_id,
            (SELECT coalesce(max(control_id), 0) FROM workflow_controls) AS control_id`,
  ))!;
  return { messageId: row.message_id, eventId: row.event_id, streamEntryId: row.entry_id, workflowRowId: row.workflow_id, controlId: row.control_id };
}
