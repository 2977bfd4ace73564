// The PostgreSQL store: the Store of one PostgreSQL schema, shared by many engines. Every write is one
// transaction, and its promise settles only once that transaction committed (commit: ALREADY_COMMITTED)
// or failed (a StorageError this store raised; nothing of the write kept). The frequent writes (a
// workflow's start and finish, a step's outcome, a wait's start, send, setEvent, stream writes, the
// attempts of recv and getEvent) are each one call of a server-side function in autocommit, one round trip (see
// recording-functions.ts); the rest run BEGIN ... COMMIT on a connection of the pool, ROLLBACK on any
// error (see transactions.ts). Reads run on the pool and see committed rows only.
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
// No change feed and no ownership, unlike SqliteStore: other engines' commits arrive through NOTIFY
// (notifications.ts), and the engines on one server share it through leases (executors.ts).
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { ExecutorInUseError, WorkflowNotFoundError, type StorageError } from '../errors';
import { noDeletedRows } from '../store/deletion';
import { toStoredTopic } from '../store/messages';
import type { OwnershipLock } from '../store/ownership';
import {
  ALREADY_COMMITTED, cancellationOf, selectRecord, streamReadRecord,
  type AppendResult, type AttemptPhase, type AttemptResult, type Commit, type CommitInterceptor, type CommitObserver,
  type ControlState, type DeleteOutcome, type FeedPosition, type ForkOutcome, type OutgoingMessage, type PruneBatch, type RecoveryDecisions,
  type RecoverySnapshot, type SendManyOutcome, type SendRefusal, type SendResult, type Store, type StreamCursor, type WaitPlan, type WaitStart,
  type WorkflowSnapshot, type Written,
} from '../store/store';
import type { CancelResult, OperationPosition, OperationRecord, ResumeResult, SelectBranch, WorkflowRecord, WorkflowStatusName } from '../types';
import { DEFAULT_LEASE_SECONDS, openPostgresDatabase, type PostgresDatabase, type PostgresOptions } from './database';
import { deleteAll, deleteStrayControls, lockFinishedBefore, PostgresDeletionReads } from './deletion';
import { copyEventsForFork, getEventPlacement, PostgresEventReads } from './events';
import { copyMessagesForFork, insertMessage, markConsumed, peekOldest, PostgresMessageReads } from './messages';
import {
  completeOperation, copyOperationsForFork, countOperations, insertCompleted, insertStarted, listForPendingWorkflows, listOperations,
  PostgresOperationReads,
} from './operations';
import { announceChanges, changeChannel, encodeChanges, type AnnouncedChanges } from './notifications';
import { callFunction, type Refusable } from './recording-functions';
import {
  claimAbandoned, claimWorkflow, endedHere, heartbeat, holdsExecutor, noteIncarnation, openHere, registerExecutor, retireExecutor, type HeartbeatResult,
} from './executors';
import { firstRow, type Sql } from './sql';
import { copyStreamsForFork, PostgresStreamReads, streamEntryAt } from './streams';
import { TransactionRunner } from './transactions';
import {
  cancelWorkflow, controlStateOf, deletionTargets, descendantsOf, finishWorkflow, getWorkflow, giveUp, insertControl, insertWorkflow,
  lockPendingWorkflows, lockWorkflow, lockWorkflows, PostgresWorkflowReads, resetRecoveryAttempts, resumeWorkflow, setRecoveryAttempts,
  type HeldState,
} from './workflows';

/** How often an open polls an executor row another incarnation holds, waiting for its lease to lapse (see registerExecutor). */
const REGISTER_POLL_MS = 250;
/** How much later a holder's last beat must look to count as a new beat, past the clocks' and round trips' jitter. */
const REGISTER_BEAT_SLACK_MS = 200;

const NOT_FOUND: AttemptResult = Object.freeze({ found: false, commit: ALREADY_COMMITTED });

/** How a recording function's call is told apart (see PostgresStore.#call). */
interface CallOptions {
  /** The operation it records, for the error of a missing started wait. */
  operationIndex?: number;
  /** What is missing then. @default 'wait to complete' */
  missing?: string;
  /** The workflows it writes to. @default [the call's workflow] */
  scope?: readonly string[];
  /** Its line of call order. @default `workflow:<the call's workflow>` */
  order?: string;
}

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
  /**
   * Only read (a read-only Client): the schema must be durablite's at this version already (nothing
   * is created or migrated), and every write rejects with StorageError PG_READ_ONLY before it is sent.
   */
  readOnly?: boolean;
}

export class PostgresStore implements Store {
  readonly #database: PostgresDatabase;
  readonly #transactions: TransactionRunner;
  /** Where each write transaction announces what it changed (see notifications.ts). */
  readonly #channel: string;
  /** The executor this store writes for; null for a Client's. */
  readonly executorId: string | null;
  readonly #leaseMs: number;
  /** This process's open of the executor id: its row in executors names it, and every record is fenced on it. */
  readonly #incarnation = randomUUID();
  #supersededBy: StorageError | null = null;
  /** The heartbeat's own connection (see heartbeat), opened at the first beat. */
  #heartbeatConnection: Promise<pg.Client> | null = null;
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
    const { interceptor = null, executorId = null, leaseMs = DEFAULT_LEASE_SECONDS * 1000, readOnly = false, ...databaseOptions } = options;
    const store = new PostgresStore(await openPostgresDatabase(url, databaseOptions, readOnly), interceptor, executorId, leaseMs);
    if (readOnly) store.#transactions.refuseWrites();
    return store;
  }

  /** A store over a database already opened with openPostgresDatabase; the store takes it over (its close ends the pool). */
  constructor(database: PostgresDatabase, interceptor: CommitInterceptor | null = null, executorId: string | null = null, leaseMs = DEFAULT_LEASE_SECONDS * 1000) {
    this.#database = database;
    this.executorId = executorId;
    this.#leaseMs = leaseMs;
    this.#channel = changeChannel(database.schema);
    const transactions = (this.#transactions = new TransactionRunner(database, interceptor));
    transactions.setBeforeCommit({
      pending: () => this.#pendingResets.size > 0,
      run: async (sql) => {
        if (this.#pendingResets.size === 0) return undefined;
        const taken = this.#pendingResets;
        this.#pendingResets = new Map();
        await resetRecoveryAttempts(sql, [...taken.keys()], Math.max(...taken.values()));
        // The commit failed: these resets were rolled back with it; they go with the next commit.
        return () => {
          for (const [workflowUUID, nowMs] of taken) if (!this.#pendingResets.has(workflowUUID)) this.#pendingResets.set(workflowUUID, nowMs);
        };
      },
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
  #fence<S extends HeldState>(workflowUUID: string, state: S): S {
    if (this.executorId === null) return state;
    const otherIncarnation = state.holderIncarnation !== null && state.holderIncarnation !== this.#incarnation;
    if (state.executorId !== this.executorId || otherIncarnation) throw this.#notHeld(workflowUUID, state.executorId);
    return state;
  }

  /** The fence's refusal (see #fence): `holder` is the executor holding the workflow; this one's own id when another incarnation of it does. */
  #notHeld(workflowUUID: string, holder: string | null): StorageError {
    return this.#transactions.failure(
      'PG_NOT_HELD',
      holder === this.executorId
        ? `Workflow "${workflowUUID}" is held by engine "${holder}", which another engine process registered as since this one missed its heartbeat for longer than its lease. Nothing was recorded; this engine stops running it.`
        : `Workflow "${workflowUUID}" is held by ${holder === null ? 'no engine' : `engine "${holder}"`}, not by this one ("${this.executorId}"): another engine took it over. Nothing was recorded; this engine stops running it.`,
    );
  }

  /**
   * Calls recording function `name` (see recording-functions.ts) as one autocommit statement, and
   * throws its refusal as the error it stands for (the workflow `workflowUUID` is gone, CANCELLED, or
   * held elsewhere; operation `operationIndex` has no started `missing`: its start was not
   * committed); else returns its row. `scope`: the workflows the call writes to, for the reads that
   * wait for it (see readCommitted). `order`: the line of writes it keeps call order with, by default
   * its workflow's own (its un-awaited stream writes and recvs); a handler's sends to one workflow and
   * steps' stream writes have lines of their own, so that a send need not wait for the recv it is
   * about to satisfy to record its wait.
   */
  async #call<Row extends object>(name: string, workflowUUID: string, values: unknown[], options: CallOptions = {}): Promise<Row> {
    const { operationIndex = -1, missing = 'wait to complete', scope = [workflowUUID], order = `workflow:${workflowUUID}` } = options;
    const row = await this.#transactions.single((sql) => callFunction<Row & Partial<Refusable>>(sql, name, values), scope, order);
    switch (row.refusal ?? null) {
      case null:
      case 'needs-error':
        return row;
      case 'not-found':
        throw new WorkflowNotFoundError(workflowUUID);
      case 'cancelled':
        throw cancellationOf(workflowUUID, row.detail ?? null);
      case 'not-held':
        throw this.#notHeld(workflowUUID, row.detail ?? null);
      case 'no-started-wait':
        // The wait's start record is gone (its commit failed): nothing was recorded, nor consumed.
        throw new Error(`Operation #${operationIndex} of workflow "${workflowUUID}" has no started ${missing}.`);
    }
  }

  /** The executor and incarnation a recording function fences on: both null for a Client's store. */
  get #holder(): [string | null, string | null] {
    return [this.executorId, this.executorId === null ? null : this.#incarnation];
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

  /** A recording function's result (committed once it resolves), as a write's. */
  async #calledFor<T>(call: Promise<T>): Promise<Written<T>> {
    return { value: await call, commit: ALREADY_COMMITTED };
  }

  // ---- writes of workflows and their operations ---------------------------------------------------------

  startWorkflow(workflowUUID: string, workflowName: string, inputs: string, nowMs: number, deadlineMs: number | null = null): Promise<Written<boolean>> {
    // Announced as new only when no engine holds it (a Client's start): an engine's own start is
    // its own to run, and no other engine has anything to claim.
    const payloads = this.executorId === null ? encodeChanges({ newWorkflows: [{ workflowUUID, workflowName, deadlineMs }] }) : [];
    const call = this.#call<{ inserted: boolean }>('start_workflow', workflowUUID, [workflowUUID, workflowName, inputs, deadlineMs, nowMs, ...this.#holder, this.#channel, payloads]);
    return this.#calledFor(call.then((row) => row.inserted));
  }

  startChildWorkflow(position: OperationPosition, candidateUUIDs: readonly string[], childName: string, inputs: string, deadlineMs: number | null, nowMs: number): Promise<Written<string | null>> {
    const { workflowUUID, operationIndex, kind, name } = position;
    const outputs = candidateUUIDs.map((uuid) => JSON.stringify(uuid));
    const call = this.#call<{ child: string | null }>('start_child_workflow', workflowUUID, [
      workflowUUID, operationIndex, kind, name, [...candidateUUIDs], outputs, childName, inputs, deadlineMs, nowMs, ...this.#holder,
    ], { scope: [workflowUUID, ...candidateUUIDs] });
    return this.#calledFor(call.then((row) => row.child));
  }

  finishWorkflow(workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): Promise<Written<boolean>> {
    // A run's outcome is recorded only by the engine that holds the workflow (see #fence).
    const payloads = encodeChanges({ outcomes: [{ workflowUUID }] });
    const call = this.#call<{ finished: boolean }>('finish_workflow', workflowUUID, [workflowUUID, status, output, error, nowMs, ...this.#holder, this.#channel, payloads]);
    return this.#calledFor(call.then((row) => row.finished));
  }

  async recordOutcome(position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number, evenIfCancelled = false): Promise<Commit> {
    const { workflowUUID, operationIndex, kind, name } = position;
    await this.#call('record_outcome', workflowUUID, [
      workflowUUID, operationIndex, kind, name, phase === 'first', output, error, nowMs, ...this.#holder, evenIfCancelled ? 'even-if-cancelled' : 'record',
    ], { operationIndex });
    return ALREADY_COMMITTED;
  }

  startWait(wait: WaitStart, nowMs: number): Promise<Commit> {
    return this.#startWait(wait, true, nowMs);
  }

  recordStepFailure(wait: WaitStart, phase: AttemptPhase, nowMs: number): Promise<Commit> {
    return this.#startWait(wait, phase === 'first', nowMs);
  }

  /** Starts a wait (`first`), or gives the started one its next deadline and detail (a step's next attempt). */
  async #startWait(wait: WaitStart, first: boolean, nowMs: number): Promise<Commit> {
    const { workflowUUID, operationIndex, kind, name, deadlineMs, waitDetail } = wait;
    await this.#call('start_wait', workflowUUID, [workflowUUID, operationIndex, kind, name, first, deadlineMs, waitDetail, nowMs, ...this.#holder], { operationIndex, missing: 'step to continue' });
    return ALREADY_COMMITTED;
  }

  send(destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): Promise<Written<SendResult>> {
    const payloads = encodeChanges({ messages: [{ destinationUUID, topic }] });
    const call = this.#call<{ outcome: SendResult }>(
      'send_message', destinationUUID, [destinationUUID, toStoredTopic(topic), message, idempotencyKey, nowMs, this.#channel, payloads], { order: `to:${destinationUUID}` },
    );
    return this.#calledFor(call.then((row) => row.outcome));
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
    const { workflowUUID, operationIndex, kind, name } = position;
    const payloads = encodeChanges({ messages: [{ destinationUUID, topic }] });
    const call = (errors: [string | null, string | null]): Promise<Refusable & { outcome: SendResult }> => this.#call('send_from_workflow', workflowUUID, [
      workflowUUID, operationIndex, kind, name, destinationUUID, toStoredTopic(topic), message, ...errors, nowMs, ...this.#holder, this.#channel, payloads,
    ], { scope: [workflowUUID, destinationUUID] });
    // A refused send's recorded error is built only for a refused send (a second call).
    const sent = call([null, null]).then((row) => (row.refusal === 'needs-error' ? call([encodeRefusal('not-found'), encodeRefusal('cancelled')]) : row));
    return this.#calledFor(sent.then((row) => row.outcome));
  }

  setEvent(position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): Promise<Written<boolean>> {
    const { workflowUUID, operationIndex, kind, name } = position;
    const payloads = encodeChanges({ events: [{ workflowUUID, key }] });
    const call = (duplicateError: string | null): Promise<Refusable & { inserted: boolean }> => this.#call('set_event', workflowUUID, [
      workflowUUID, operationIndex, kind, name, key, value, duplicateError, nowMs, ...this.#holder, this.#channel, payloads,
    ]);
    // The duplicate key's recorded error is built only for a duplicate (a second call).
    const set = call(null).then((row) => (row.refusal === 'needs-error' ? call(encodeDuplicate()) : row));
    return this.#calledFor(set.then((row) => row.inserted));
  }

  receive(position: OperationPosition, phase: AttemptPhase, topic: string | null, wait: WaitPlan | null, nowMs: number): Promise<AttemptResult> {
    return this.#attemptRead(position, phase, { topic: toStoredTopic(topic), target: null, key: null }, wait, nowMs);
  }

  readEvent(position: OperationPosition, phase: AttemptPhase, targetUUID: string, key: string, wait: WaitPlan | null, nowMs: number): Promise<AttemptResult> {
    return this.#attemptRead(position, phase, { topic: null, target: targetUUID, key }, wait, nowMs);
  }

  /** One attempt of a recv (`topic`) or in-workflow getEvent (`target`, `key`), as one call of attempt_read. */
  async #attemptRead(
    position: OperationPosition, phase: AttemptPhase, read: { topic: string | null; target: string | null; key: string | null }, wait: WaitPlan | null, nowMs: number,
  ): Promise<AttemptResult> {
    const { workflowUUID, operationIndex, kind, name } = position;
    const row = await this.#call<{ outcome: 'recorded' | 'started' | 'none'; value: string | null }>('attempt_read', workflowUUID, [
      workflowUUID, operationIndex, kind, name, phase === 'first', read.topic, read.target, read.key, wait !== null, wait?.deadlineMs ?? null, wait?.waitDetail ?? null,
      'null', nowMs, ...this.#holder,
    ], { operationIndex });
    if (row.outcome === 'recorded') return { found: true, value: row.value!, commit: ALREADY_COMMITTED };
    return row.outcome === 'started' ? { found: false, commit: ALREADY_COMMITTED } : NOT_FOUND;
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
    const payloads = encodeChanges({ streams: [{ workflowUUID, key }] });
    const call = this.#call<{ appended: number }>(
      'append_stream', workflowUUID, [workflowUUID, key, value, operationIndex, nowMs, this.#channel, payloads], { order: `stream:${workflowUUID}` },
    );
    return this.#calledFor(call.then((row) => appendResult(row.appended)));
  }

  writeStreamFromWorkflow(position: OperationPosition, key: string, value: string | null, encodeClosed: () => string, nowMs: number): Promise<Written<AppendResult>> {
    const { workflowUUID, operationIndex, kind, name } = position;
    const payloads = encodeChanges({ streams: [{ workflowUUID, key }] });
    const call = (closedError: string | null): Promise<Refusable & { appended: number }> => this.#call('write_stream', workflowUUID, [
      workflowUUID, operationIndex, kind, name, key, value, closedError, nowMs, ...this.#holder, this.#channel, payloads,
    ]);
    // Writing to an ended stream is a recorded error, built only then (a second call).
    const written = call(null).then((row) => (row.refusal === 'needs-error' ? call(encodeClosed()) : row));
    return this.#calledFor(written.then((row) => appendResult(row.appended)));
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
    return this.#transactions.single((sql) => claimWorkflow(sql, workflowUUID, executorId, this.#incarnation, this.#leaseMs));
  }

  /**
   * Registers this store's executor as alive now, under this process's incarnation (an Engine's open,
   * or its rejoin after the others declared it dead). When another incarnation holds the id and beat
   * within the lease, waits: it took over once that lease lapses (a crashed process of the same slot),
   * and throws ExecutorInUseError once that holder beats again (a live engine of the same id). A holder
   * this process opened and ended (the testing kit's crash) is taken over at once.
   * @throws ExecutorInUseError, StorageError.
   */
  async registerExecutor(): Promise<void> {
    const executorId = this.#requireExecutor();
    let replacing: string | null = null;
    let firstBeat: { incarnation: string | null; beatAtMs: number } | null = null;
    for (;;) {
      const startedAt = performance.now();
      const holder = await this.#transactions.run((sql) => registerExecutor(sql, executorId, this.#incarnation, this.#leaseMs, replacing), false, []);
      if (holder === null) break;
      if (endedHere(holder.incarnation)) {
        replacing = holder.incarnation;
        continue;
      }
      // Its last beat, on this process's clock (the server's age of it, less our round trip's worth).
      const beatAtMs = startedAt - holder.heartbeatAgeMs;
      if (openHere(holder.incarnation) || (firstBeat !== null && firstBeat.incarnation === holder.incarnation && beatAtMs > firstBeat.beatAtMs + REGISTER_BEAT_SLACK_MS)) {
        throw new ExecutorInUseError(executorId, holder);
      }
      if (firstBeat === null || firstBeat.incarnation !== holder.incarnation) firstBeat = { incarnation: holder.incarnation, beatAtMs };
      await delay(Math.min(REGISTER_POLL_MS, Math.max(1, this.#leaseMs - holder.heartbeatAgeMs + 1)));
    }
    noteIncarnation(this.#incarnation, true);
  }

  /**
   * Renews this executor's hold on its workflows, on a connection of its own (a heartbeat must not
   * queue behind the pool's writes, or a busy engine loses its workflows to the others). `gone`: the
   * others declared it dead (see ExecutorBeat); `superseded`: another engine process registered under
   * its id, and this store writes nothing more (every write rejects with a StorageError PG_SUPERSEDED).
   * @throws StorageError when the server or the connection failed (the next beat connects again).
   */
  async heartbeat(): Promise<HeartbeatResult> {
    const executorId = this.#requireExecutor();
    // A halted or closed store beats no more: the others may take its workflows once its lease lapses.
    this.#transactions.refuseIfStopped();
    let result: HeartbeatResult;
    try {
      // A beat that hangs would skip every later one, silently: it gives up at half the lease instead.
      this.#heartbeatConnection ??= this.#database.connectAlone('durablite heartbeat', Math.max(500, Math.floor(this.#leaseMs / 2)));
      result = await heartbeat(await this.#heartbeatConnection, executorId, this.#incarnation);
    } catch (error) {
      this.#dropHeartbeatConnection();
      this.#transactions.refuseIfStopped(true);
      throw this.#transactions.failure('PG_HEARTBEAT', `This engine's heartbeat failed: ${(error as Error)?.message ?? String(error)}`);
    }
    if (result === 'superseded') this.#supersede();
    return result;
  }

  /** Another process registered under this executor's id: this store writes nothing more, as if halted. */
  #supersede(): void {
    this.#supersededBy ??= this.#transactions.failure(
      'PG_SUPERSEDED',
      `Another engine process registered under this engine's executor id ("${this.executorId}") after this one missed its heartbeat for longer than its lease: this engine writes nothing more. Close it; give each engine its own executorId.`,
    );
    noteIncarnation(this.#incarnation, false);
    this.#transactions.stop('halted', this.#supersededBy);
  }

  /** The StorageError every write of this store rejects with since another engine process took over its executor id (see heartbeat); null until then. */
  get supersededBy(): StorageError | null {
    return this.#supersededBy;
  }

  /** Claims up to `limit` abandoned workflows for this executor (see claimAbandoned), each a recovery attempt when taken from another. */
  claimAbandoned(limit: number): Promise<WorkflowRecord[]> {
    // Scope []: no caller awaits the beat's claims in call order (see TransactionRunner.run).
    return this.#transactions.run((sql) => claimAbandoned(sql, this.#requireExecutor(), this.#leaseMs, limit, false), false, []);
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

  /** Removes this executor's row (if this process still holds it), so that what it holds can be claimed at once (an Engine's close). */
  async retireExecutor(): Promise<void> {
    noteIncarnation(this.#incarnation, false);
    if (this.#supersededBy !== null) return;
    await this.#transactions.run((sql) => retireExecutor(sql, this.#requireExecutor(), this.#incarnation), true);
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
      if (withDescendants) {
        // Locked in UUID order, as every other writer of several rows locks them (a descendant's send
        // to another locks both that way): taken one by one in tree order, they could deadlock. A
        // child started before its parent's row was locked is in the next read: read again until no
        // new one appears (a locked workflow can start no child, whose start needs its row).
        const locked = new Map<string, HeldState>();
        let tree: string[];
        for (;;) {
          tree = (await descendantsOf(sql, workflowUUID)).map((descendant) => descendant.workflowUUID);
          const unlocked = tree.filter((uuid) => !locked.has(uuid));
          if (unlocked.length === 0) break;
          for (const [uuid, held] of await lockWorkflows(sql, unlocked)) locked.set(uuid, held);
        }
        // Nearest first, as SQLite lists them.
        for (const uuid of tree) if (locked.get(uuid)?.status === 'PENDING') await cancelOne(uuid);
      }
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
      // An engine's fork is its own to run: refused once another process holds its executor id (see start_workflow).
      if (this.executorId !== null && !(await holdsExecutor(sql, this.executorId, this.#incarnation))) throw this.#notHeld(fork, this.executorId);
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
   * uncommitted rows either way. With `workflowUUID`, only the writes that may touch that workflow are
   * waited for: a read about one workflow never waits behind a write to another that waits for a
   * row lock (held, say, by a process paused in the middle of a transaction).
   */
  async readCommitted<T>(read: () => T | Promise<T>, workflowUUID?: string): Promise<T> {
    const writes = this.#transactions.writesSettled(workflowUUID);
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
      this.#endHeartbeat();
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
    this.#endHeartbeat();
  }

  /** This incarnation is over: its heartbeat's connection ends, and this process may take its executor id over at once. */
  #endHeartbeat(): void {
    noteIncarnation(this.#incarnation, false);
    this.#dropHeartbeatConnection();
  }

  /** Ends the heartbeat's connection (the next beat, if any, opens another). */
  #dropHeartbeatConnection(): void {
    const connection = this.#heartbeatConnection;
    this.#heartbeatConnection = null;
    void connection?.then((client) => client.end()).catch(() => {});
  }
}

/** A stream write's position, or 'closed' for the -1 of a stream or workflow that had ended. */
function appendResult(appended: number): AppendResult {
  return appended < 0 ? 'closed' : appended;
}

/** Throws the workflow's cancellation when it is CANCELLED, WorkflowNotFoundError when it is gone; else its state. */
function refuse<S extends ControlState>(workflowUUID: string, state: S | undefined): S {
  if (state === undefined) throw new WorkflowNotFoundError(workflowUUID);
  if (state.status === 'CANCELLED') throw cancellationOf(workflowUUID, state.error);
  return state;
}

/**
 * The highest id of each table SQLite's change feed follows, for RecoverySnapshot.feedStart. Only a start:
 * ids here are handed out at insert, so a row of a lower id may commit later; engines on PostgreSQL hear
 * each other through NOTIFY, with no feed.
 */
async function feedPosition(sql: Sql): Promise<FeedPosition> {
  const row = (await firstRow<{ message_id: number; event_id: number; entry_id: number; workflow_id: number; control_id: number }>(
    sql,
    `SELECT (SELECT coalesce(max(message_id), 0) FROM messages) AS message_id, (SELECT coalesce(max(event_id), 0) FROM events) AS event_id,
            (SELECT coalesce(max(entry_id), 0) FROM streams) AS entry_id, (SELECT coalesce(max(workflow_id), 0) FROM workflows) AS workflow_id,
            (SELECT coalesce(max(control_id), 0) FROM workflow_controls) AS control_id`,
  ))!;
  return { messageId: row.message_id, eventId: row.event_id, streamEntryId: row.entry_id, workflowRowId: row.workflow_id, controlId: row.control_id };
}
