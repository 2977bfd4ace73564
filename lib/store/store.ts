// The store: the one seam between durablite's operations and a database. Every durable operation
// of ops/ acts and records through one method of this interface, in one atomic unit, so a crash
// leaves all of it or none of it.
//
// Two kinds of store implement it:
// - SqliteStore (sqlite-store.ts) runs each method synchronously on one connection and hands back
//   plain values. Its writes of one turn share a group commit: a write returns the Commit of its
//   batch, which the caller awaits before it reports success.
// - An asynchronous store (a database server shared by several engines) runs each write as a
//   transaction of its own and hands back a promise that settles once that transaction committed
//   (its Commit is ALREADY_COMMITTED) or failed (a StorageError, nothing of it kept).
//
// So every method returns an Awaitable. Callers take a plain value in the same turn and await only a
// promise (`isPromise(x) ? await x : x`): SqliteStore's group commit runs in a microtask queued as its
// batch opens, so an `await` of a plain value would let the batch commit, or fail, before the caller
// has tied itself to that commit.
//
// Reads come in two kinds. The read views (`workflows`, `operations`...) see what is committed
// only when no write of this process waits to commit: callers wrap them in readCommitted(). A read
// that needs several facts at once (a workflow and its operations; a stream and its end) is one
// method, so that it is one snapshot on every store.
import type { Awaitable } from '../awaitable';
import { WorkflowCancelledError, type StorageError } from '../errors';
import type {
  CancelResult, DeletedRows, EventRecord, MessageRecord, OperationPosition, OperationRecord, ResumeResult,
  SelectBranch, WorkflowRecord, WorkflowStatusName,
} from '../types';
import { decode } from './codec';
import type { OwnershipLock } from './ownership';


// ---- commits ----------------------------------------------------------------------------------------

/** The commit of the batch a write joined. */
export interface Commit {
  /** Resolves once the batch is committed; rejects with StorageError when its commit failed. */
  readonly durable: Promise<void>;
  /** Whether the batch has committed or failed already. */
  readonly settled: boolean;
  /**
   * Calls `listener` synchronously as this batch fails, before any code awaiting it resumes, so
   * whoever depends on the batch stops before it can act on what was rolled back. Never called
   * when the batch commits.
   */
  onFailure(listener: (error: unknown) => void): void;
}

/** What a write returned, and the commit it must await before reporting it. */
export interface Written<T> {
  readonly value: T;
  readonly commit: Commit;
}

/** A commit that has already happened: for writes whose transaction committed before they returned. */
export const ALREADY_COMMITTED: Commit = Object.freeze({ durable: Promise.resolve(), settled: true, onFailure: () => {} });

/**
 * Called around every commit of one store (never process-wide): fault injection in the testing kit,
 * commit counting and crash points in durablite's own tests. A throw from `beforeCommit` fails that
 * commit as the database's own failure would: the transaction rolls back and every caller of it rejects.
 */
export interface CommitInterceptor {
  /** Called with the commit's 1-based sequence number just before COMMIT. */
  beforeCommit?(commitNumber: number): void;
  /** Called just after COMMIT succeeded. */
  afterCommit?(commitNumber: number): void;
}

/** Told of each commit and each failure of one store (the engine's typed events listen here). */
export interface CommitObserver {
  /** A commit landed, holding `writes` writes; COMMIT (the fsync, with durable commits) took `durationMs`. */
  committed(commitNumber: number, writes: number, durationMs: number): void;
  /** A write or a commit failed with this StorageError. */
  failed(error: StorageError): void;
}

// ---- what the operations write and read -------------------------------------------------------------

/**
 * How a recv or in-workflow getEvent attempt records itself: `first` inserts the operation row,
 * `resumed` completes the row its wait started earlier (possibly before a crash).
 */
export type AttemptPhase = 'first' | 'resumed';

/**
 * Outcome of one attempt: the stored value (recorded as the operation's result), or not found (a
 * wait was started or continues). `commit` is the batch holding what the attempt wrote.
 */
export type AttemptResult = { found: true; value: string; commit: Commit } | { found: false; commit: Commit };

/** What a wait records as it starts: its absolute deadline and what it waits on (both set, for a wait). */
export type WaitPlan = { [Field in 'deadlineMs' | 'waitDetail']: NonNullable<OperationRecord[Field]> };

/** A wait being started: its position and its plan. */
export type WaitStart = OperationPosition & WaitPlan;

/** A wait under way, with the name of its workflow (see listWaits). */
export type WaitRecord = OperationRecord & { workflowName: string };

export type SendResult = 'sent' | 'duplicate' | 'not-found' | 'cancelled';

/** Why a send was refused: no such destination, or it is CANCELLED. */
export type SendRefusal = 'not-found' | 'cancelled';

/** One message of a handler's sendMany, its payload already serialized. */
export interface OutgoingMessage {
  readonly destinationUUID: string;
  readonly message: string;
  readonly topic: string | null;
  readonly idempotencyKey: string | null;
}

/**
 * What a sendMany stored: nothing, for the first destination no workflow has (in array order); or,
 * per message, whether it was inserted (false: its idempotency key was used for that destination).
 */
export type SendManyOutcome = { notFound: string } | { cancelled: string; notFound: null } | { notFound: null; cancelled?: undefined; inserted: boolean[] };

/** One row of a stream, value still serialized; `value` null is the row that closed it. */
export interface StreamEntry {
  position: number;
  value: string | null;
}

/** One stream of a workflow, as `listStreams` reports it (before the workflow's status is applied). */
export interface StreamSummary {
  key: string;
  /** Values written (the closing row is not one). */
  length: number;
  /** Whether closeStream closed it. */
  closedByWriter: boolean;
}

/** Where an append went: the position of its row, or `'closed'` when the stream takes no more. */
export type AppendResult = number | 'closed';

/** The position a workflow's stream read reads: the stream (`workflowUUID`, `key`) at `offset`. */
export interface StreamCursor {
  readonly workflowUUID: string;
  readonly key: string;
  readonly offset: number;
}

/** What a batch read of a stream found: its rows from the offset asked, and whether it had ended before them. */
export interface StreamBatch {
  /** The stream was closed, or its workflow finished, before these rows were read: no row comes after them. */
  ended: boolean;
  entries: StreamEntry[];
}

/** Filters for listing workflows. */
export interface WorkflowFilter {
  status?: WorkflowStatusName;
  workflowName?: string;
  limit?: number;
}

/** What a cancel or resume asks of the processes that run workflows. */
export type ControlAction = 'cancel' | 'resume';

/** What decides whether a workflow may still record: its status, its recorded outcome, its deadline. */
export interface ControlState {
  status: WorkflowStatusName;
  error: string | null;
  deadlineMs: number | null;
}

/** A workflow, with its recorded operations, read as one snapshot. */
export interface WorkflowSnapshot {
  record: WorkflowRecord | undefined;
  operations: OperationRecord[];
}

/** What a recovery pass decided for the PENDING workflows it read, to write in the same transaction. */
export interface RecoveryDecisions {
  /** New recovery attempt counts of the workflows to resume. */
  attempts: readonly (readonly [workflowUUID: string, attempt: number])[];
  /** Workflows given up (MAX_RECOVERY_ATTEMPTS_EXCEEDED), with the recorded error. */
  givenUp: readonly (readonly [workflowUUID: string, error: string])[];
  /** Workflows that cannot run (an unreadable record): finished as ERROR with the recorded error. */
  failed: readonly (readonly [workflowUUID: string, error: string])[];
  /** Whether to read the recorded operations of the workflows still PENDING. */
  readOperations: boolean;
}

/** What a recovery pass read, all from the one snapshot its decisions were committed in. */
export interface RecoverySnapshot<D extends RecoveryDecisions> {
  decisions: D;
  /** The recorded operations of every workflow still PENDING after the decisions, by workflow. */
  operations: Map<string, OperationRecord[]>;
  /** Where a change feed must start so that it misses no commit made after this snapshot. */
  feedStart: FeedPosition;
}

/**
 * What a delete found: no such workflow (undefined), workflows still PENDING that it refused to
 * delete (nothing deleted), or what it deleted.
 */
export type DeleteOutcome = { refused: string[] } | { refused: null; deleted: string[]; rows: DeletedRows };

/** What one batch of a prune deleted. */
export interface PruneBatch {
  deleted: string[];
  rows: DeletedRows;
}

/**
 * What a fork wrote: nothing when there is no such workflow, `fromOperation` is past its recorded
 * operations, or the new UUID is taken (by `existing`); else the new workflow, with what it copied.
 */
export type ForkOutcome =
  | { kind: 'not-found' }
  | { kind: 'out-of-range'; operationCount: number }
  | { kind: 'conflict'; existing: WorkflowRecord | null; original: WorkflowRecord }
  | { kind: 'forked'; original: WorkflowRecord; deadlineMs: number | null; recorded: OperationRecord[] };

// ---- records every store writes alike ----------------------------------------------------------------

/**
 * The error a CANCELLED workflow's operations meet: its recorded reason (a WorkflowCancelledError or
 * WorkflowTimeoutError), or a plain WorkflowCancelledError when that cannot be read.
 */
export function cancellationOf(workflowUUID: string, recordedError: string | null): WorkflowCancelledError {
  if (recordedError !== null) {
    try {
      const reason = decode<unknown>(recordedError);
      if (reason instanceof WorkflowCancelledError) return reason;
    } catch {
      // Unreadable: the plain error below says as much as is known.
    }
  }
  return new WorkflowCancelledError(workflowUUID);
}

/** A select's recorded result: the winning branch's index and its stored value, as one stored value. */
export function selectRecord(index: number, storedValue: string): string {
  return `{"index":${index},"value":${storedValue}}`;
}

/**
 * A workflow's stream read's recorded result: the row found at `offset` (its stored value, or null
 * for the row that closed the stream), the stream's end (`'end'`), or a timeout (`'timeout'`).
 */
export function streamReadRecord(offset: number, found: { value: string | null } | 'end' | 'timeout'): string {
  if (found === 'end' || (typeof found === 'object' && found.value === null)) return `{"offset":${offset},"end":true}`;
  if (found === 'timeout') return `{"offset":${offset},"timeout":true}`;
  return `{"offset":${offset},"value":${found.value}}`;
}

// ---- other processes' commits -------------------------------------------------------------------------

export interface ExternalChanges {
  /** (destination, topic) of messages inserted since the last look; topic null for none. */
  messages: { destinationUUID: string; topic: string | null }[];
  /** (workflow, key) of events set since the last look. */
  events: { workflowUUID: string; key: string }[];
  /** (workflow, key) of streams written to or closed since the last look, each once. */
  streams: { workflowUUID: string; key: string }[];
  /** Workflows inserted since the last look that are still PENDING. */
  newWorkflows: { workflowUUID: string; workflowName: string; inputs: string; deadlineMs: number | null }[];
  /** Workflows cancelled or resumed since the last look, in commit order (a workflow may repeat). */
  controls: { workflowUUID: string; action: ControlAction }[];
}

/** The newest message, event and workflow a feed has seen: it reports only what comes after. */
export interface FeedPosition {
  readonly messageId: number;
  readonly eventId: number;
  readonly streamEntryId: number;
  readonly workflowRowId: number;
  readonly controlId: number;
}

/**
 * What other processes committed since the feed last looked: SqliteStore.openChangeFeed (see
 * changes.ts). Not a method of Store: PostgreSQL's engines hear each other's commits through NOTIFY
 * (ops/external.ts's AnnouncedChangeSync), with no feed to poll.
 */
export interface ChangeFeed {
  /** What is new since the last poll, or null when nothing is. */
  poll(): ExternalChanges | null;
}

// ---- the read views ------------------------------------------------------------------------------------

export interface WorkflowReads {
  get(workflowUUID: string): Awaitable<WorkflowRecord | undefined>;
  /** Newest first. */
  list(filter?: WorkflowFilter): Awaitable<WorkflowRecord[]>;
  controlState(workflowUUID: string): Awaitable<ControlState | undefined>;
  /** Whether a workflow of this UUID was deleted while CANCELLED (its UUID can never start again). */
  wasDeletedCancelled(workflowUUID: string): Awaitable<boolean>;
  /** The workflow and (with `withDescendants`) every descendant, with their statuses; undefined when there is no such workflow. */
  deletionTargets(workflowUUID: string, withDescendants: boolean): Awaitable<{ workflowUUID: string; status: WorkflowStatusName }[] | undefined>;
}

export interface OperationReads {
  /** In operation order. */
  listForWorkflow(workflowUUID: string): Awaitable<OperationRecord[]>;
  /** Every wait under way (of one workflow, when given), soonest deadline first. */
  listWaits(workflowUUID?: string): Awaitable<WaitRecord[]>;
}

export interface EventReads {
  /** The stored (serialized) value, or undefined when the event is not set. */
  getValue(workflowUUID: string, key: string): Awaitable<string | undefined>;
  listForWorkflow(workflowUUID: string): Awaitable<EventRecord[]>;
}

export interface MessageReads {
  /** The workflow's messages (on one topic when given), consumed or not, in queue order. */
  list(destinationUUID: string, topic?: string | null): Awaitable<MessageRecord[]>;
}

export interface StreamReads {
  /** Up to `limit` rows (and `maxBytes` of values) from `position`, with whether the stream had ended before them. */
  readBatch(workflowUUID: string, key: string, position: number, limit: number, maxBytes: number): Awaitable<StreamBatch>;
  /** The workflow's streams in the order first written, and whether the workflow finished (which ends them all). */
  listWithEnd(workflowUUID: string): Awaitable<{ finished: boolean; streams: StreamSummary[] }>;
}

export interface DeletionReads {
  /** The rows a delete of these workflows would remove. */
  countAll(workflowUUIDs: readonly string[], keepControlsOf?: ReadonlySet<string>): Awaitable<DeletedRows>;
  /** How many workflows with one of `statuses` were last changed before `beforeMs`. */
  countFinishedBefore(statuses: readonly WorkflowStatusName[], beforeMs: number): Awaitable<number>;
}

// ---- the store --------------------------------------------------------------------------------------------

export interface Store {
  readonly workflows: WorkflowReads;
  readonly operations: OperationReads;
  readonly events: EventReads;
  readonly messages: MessageReads;
  readonly streams: StreamReads;
  readonly deletion: DeletionReads;

  /** A workflow and its recorded operations, as one snapshot (call it through readCommitted). */
  snapshotOf(workflowUUID: string): Awaitable<WorkflowSnapshot>;

  // Writes of workflows and their operations. Each acts and records in one atomic unit; those that
  // record an operation of a workflow refuse (WorkflowCancelledError, WorkflowNotFoundError) when
  // their workflow is CANCELLED or gone, writing nothing.

  /** Inserts a new PENDING workflow, with its deadline if it has one; false when the UUID exists (nothing is changed then). */
  startWorkflow(workflowUUID: string, workflowName: string, inputs: string, nowMs: number, deadlineMs?: number | null): Awaitable<Written<boolean>>;
  /**
   * Inserts the child workflow under the first free UUID of `candidateUUIDs` and records the
   * parent's operation (whose result is that UUID), atomically. null, writing nothing, when every
   * candidate is taken.
   */
  startChildWorkflow(position: OperationPosition, candidateUUIDs: readonly string[], childName: string, inputs: string, deadlineMs: number | null, nowMs: number): Awaitable<Written<string | null>>;
  /**
   * Records the outcome of a PENDING workflow; the value is false when it was not PENDING (finished,
   * or CANCELLED: a cancel is never overwritten).
   */
  finishWorkflow(workflowUUID: string, status: 'SUCCESS' | 'ERROR', output: string | null, error: string | null, nowMs: number): Awaitable<Written<boolean>>;
  /**
   * Records a completed operation (a step's result or error, a sleep's end...), unless
   * `evenIfCancelled` refused when the workflow is CANCELLED (the outcome of a step that was already
   * running when the cancel committed is kept).
   */
  recordOutcome(position: OperationPosition, phase: AttemptPhase, output: string | null, error: string | null, nowMs: number, evenIfCancelled?: boolean): Awaitable<Commit>;
  /** Records the start of a wait with no read attempt (sleep). */
  startWait(wait: WaitStart, nowMs: number): Awaitable<Commit>;
  /**
   * Records a failed attempt of a step with retries: the step's row stays started (not completed),
   * with the time of its next attempt as its deadline and the attempts so far as its detail.
   */
  recordStepFailure(wait: WaitStart, phase: AttemptPhase, nowMs: number): Awaitable<Commit>;
  /** Handler-side send: appends the message unless its idempotency key was used for this destination. */
  send(destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null, nowMs: number): Awaitable<Written<SendResult>>;
  /**
   * Handler-side sendMany: appends every message, in array order, unless one destination does not
   * exist or is CANCELLED (then nothing). A message whose idempotency key was used for its
   * destination (earlier, or by an earlier message of the batch) is skipped.
   */
  sendMany(batch: readonly OutgoingMessage[], nowMs: number): Awaitable<Written<SendManyOutcome>>;
  /** Workflow-side send: appends the message and records the operation (or the refusal `encodeRefusal` makes) in one unit. */
  sendFromWorkflow(position: OperationPosition, destinationUUID: string, message: string, topic: string | null, encodeRefusal: (refusal: SendRefusal) => string, nowMs: number): Awaitable<Written<SendResult>>;
  /** Sets an event and records the operation in one unit; false (first value kept, `encodeDuplicate()` recorded) for a duplicate key. */
  setEvent(position: OperationPosition, key: string, value: string, encodeDuplicate: () => string, nowMs: number): Awaitable<Written<boolean>>;
  /**
   * One recv attempt: consume the oldest message of the queue and record it as the operation's result,
   * in one unit. With nothing to consume, starts the wait (`wait`) or records a timeout (`wait` null).
   */
  receive(position: OperationPosition, phase: AttemptPhase, topic: string | null, wait: WaitPlan | null, nowMs: number): Awaitable<AttemptResult>;
  /** One in-workflow getEvent attempt: read the event and record what was seen, in one unit. */
  readEvent(position: OperationPosition, phase: AttemptPhase, targetUUID: string, key: string, wait: WaitPlan | null, nowMs: number): Awaitable<AttemptResult>;
  /**
   * One select attempt: finds the branch that completes first and records `{ index, value }` as the
   * operation's result, in one unit; a recv branch's message is consumed then, and nothing else.
   * Between candidates, whichever committed first wins. With nothing there, starts the wait
   * (`wait`) or records a timeout (`wait` null).
   */
  select(position: OperationPosition, phase: AttemptPhase, branches: readonly SelectBranch[], wait: WaitPlan | null, nowMs: number): Awaitable<AttemptResult>;
  /**
   * A step's writeStream (not recorded): appends `value` to the stream `key` of `workflowUUID`, as
   * written by the step at `operationIndex`. `'closed'`, writing nothing, when the stream is closed
   * or its workflow finished.
   */
  appendStream(workflowUUID: string, key: string, value: string, operationIndex: number, nowMs: number): Awaitable<Written<AppendResult>>;
  /**
   * A workflow's writeStream (`value` a serialized value) or closeStream (`value` null), recorded in
   * the same unit. The position written, or `'closed'`: for a write, the stream was closed (the
   * recorded outcome is `encodeClosed()`); for a close, it already was (nothing more is written).
   */
  writeStreamFromWorkflow(position: OperationPosition, key: string, value: string | null, encodeClosed: () => string, nowMs: number): Awaitable<Written<AppendResult>>;
  /**
   * One attempt of a workflow's stream read at `cursor`: the row there (recorded as
   * `{"offset":n,"value":v}`) or the stream's end (`{"offset":n,"end":true}`), recorded as the
   * operation's result in one unit; with nothing there, the wait starts (`wait`) or a timeout
   * (`{"offset":n,"timeout":true}`) is recorded (`wait` null).
   */
  readStreamEntry(position: OperationPosition, phase: AttemptPhase, cursor: StreamCursor, wait: WaitPlan | null, nowMs: number): Awaitable<AttemptResult>;
  /**
   * Takes a PENDING workflow this engine did not start (another process started, resumed or forked
   * it; or a resume or storage failure stopped its run) to run it here: true when this engine may run
   * it now. One SQLite file has one engine: always true. Engines sharing a database server claim a
   * workflow under its row lock, so exactly one of them runs it.
   */
  claim(workflowUUID: string): Awaitable<boolean>;
  /** Sets a recovered workflow's attempt count back to zero once it shows progress (joins a later commit; never fails its caller). */
  resetRecoveryAttempts(workflowUUID: string, nowMs: number): void;

  // Control, committed before they return.

  /**
   * Cancels the workflow (and, with `withDescendants`, every PENDING descendant), recording
   * `reason(uuid)` as each one's outcome. With `dueByMs` (a deadline's cancel), only when the
   * workflow's recorded deadline is at most that. Undefined, writing nothing, when there is no such workflow.
   */
  cancelWorkflow(workflowUUID: string, withDescendants: boolean, reason: (uuid: string) => string, dueByMs: number | null, nowMs: number): Awaitable<CancelResult | undefined>;
  /** Returns a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow to PENDING. Undefined when there is no such workflow. */
  resumeWorkflow(workflowUUID: string, nowMs: number): Awaitable<ResumeResult | undefined>;
  /**
   * Forks workflow `original` as `fork` (see ForkOutcome): the new PENDING row (same name and
   * inputs, its deadline `timeoutMs` from now, or the original's timeout when undefined), the
   * original's completed operations below `fromOperation`, and the events, consumed messages and
   * stream rows those operations wrote.
   */
  forkWorkflow(original: string, fork: string, fromOperation: number, timeoutMs: number | null | undefined, nowMs: number): Awaitable<Written<ForkOutcome>>;
  /**
   * Deletes a workflow that is not PENDING (and, with `withDescendants`, every descendant, none of
   * which may be PENDING) with all its rows; the controls of `keepControlsOf` stay.
   */
  deleteWorkflows(workflowUUID: string, withDescendants: boolean, keepControlsOf: ReadonlySet<string>): Awaitable<DeleteOutcome | undefined>;
  /** Deletes up to `limit` workflows with one of `statuses` (never PENDING) last changed before `beforeMs`, with all their rows. */
  pruneBatch(statuses: readonly WorkflowStatusName[], beforeMs: number, limit: number): Awaitable<PruneBatch>;
  /** Deletes the controls older than `beforeMs` of workflows that no longer exist. */
  pruneStrayControls(beforeMs: number): Awaitable<number>;
  /**
   * Throws the workflow's cancellation (WorkflowCancelledError or WorkflowTimeoutError) when it is
   * CANCELLED: a step checks this before it starts, so that none starts after a cancel's commit.
   */
  refuseIfCancelled(workflowUUID: string): Awaitable<void>;
  /**
   * The recovery pass's transaction: reads every PENDING workflow, writes what `decide` made of
   * them, and reads their recorded operations and the change feed's starting point, all as one unit.
   */
  recover<D extends RecoveryDecisions>(decide: (pending: WorkflowRecord[]) => D, nowMs: number): Awaitable<RecoverySnapshot<D>>;
  /** Counts a recovery attempt of one workflow, committed before this returns. */
  countRecoveryAttempt(workflowUUID: string, attempt: number, nowMs: number): Awaitable<void>;

  // Visibility. A store whose reads can see writes not yet committed (SqliteStore, between a write
  // and its group commit) says so here; a store whose reads see committed rows only answers false
  // and runs its listeners at once.

  /**
   * Runs `read` when it can see committed rows only, and this process's writes made before it in call
   * order: at once when no write is waiting to commit, else right after that commit (or its
   * rollback), before any other code runs. `workflowUUID`: the read is about that workflow only, and
   * a store may wait only for the writes that touch it.
   */
  readCommitted<T>(read: () => Awaitable<T>, workflowUUID?: string): Promise<T>;
  /** Calls `listener` once no uncommitted write is visible: at once, or after the open commit settles. */
  afterSettle(listener: () => void): void;
  /** Whether writes are waiting to commit (reads now would see them). */
  readonly hasUncommittedWrites: boolean;
  /** Whether the event was set in a write still waiting to commit (any other stored event is committed: events are immutable). */
  isEventUncommitted(workflowUUID: string, key: string): boolean;

  // Other processes, failures, the end.

  /** Takes ownership of the database for this process; null where no other process can open it. */
  takeOwnership(nowMs: number): OwnershipLock | null;
  /** Whether `error` is a failure of this store, raised in this process (not one decoded from a record, or raised by another database a step used). */
  isOwnFailure(error: unknown): error is StorageError;
  /** Whether `error` means another connection held the write lock on a store whose writes then fail at once: the caller may wait and write again. */
  isLockHeld(error: unknown): boolean;
  /** Tells `observer` of every commit and failure from now on. */
  setObserver(observer: CommitObserver | null): void;
  /** Commits pending writes, then closes (a server's connections end once the promise resolves). */
  close(): Awaitable<void>;
  /** Stops writing at once, dropping uncommitted writes, as a killed process would. */
  halt(): void;
}
