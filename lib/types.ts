// Plain data shapes shared by every layer: what the store returns and what the public API reports.

/**
 * A workflow's lifecycle state. `PENDING` until it returns (`SUCCESS`) or throws (`ERROR`);
 * `MAX_RECOVERY_ATTEMPTS_EXCEEDED` when recovery gave it up; `CANCELLED` when `cancelWorkflow` (or
 * its deadline) stopped it. `resumeWorkflow` returns the last three to `PENDING`.
 */
export type WorkflowStatusName = 'PENDING' | 'SUCCESS' | 'ERROR' | 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' | 'CANCELLED';

/** Every status, in lifecycle order: the one list the API checks, the CLI offers and the schema allows. */
export const WORKFLOW_STATUSES: readonly WorkflowStatusName[] = Object.freeze(['PENDING', 'SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED']);

/**
 * One way a `select` can complete: the next message on one of the workflow's own topics (`null`:
 * messages sent without a topic), or an event of a workflow (which may not exist yet).
 */
export type SelectBranch = { recv: string | null } | { getEvent: { workflowUUID: string; key: string } };

/** What a select resolves to when a branch completes: which one (its index in `branches`) and its value. */
export interface SelectResult<T = unknown> {
  index: number;
  value: T;
}

/** What recvAny resolves to when a message comes: its topic (null: sent without one) and the message. */
export interface RecvAnyResult<T = unknown> {
  topic: string | null;
  message: T;
}

/** The kinds of durable operation a workflow records, one row each, under its operation index. */
export type OperationKind = 'step' | 'child' | 'send' | 'recv' | 'setEvent' | 'getEvent' | 'sleep' | 'select' | 'writeStream' | 'closeStream' | 'readStream' | 'now' | 'randomUUID';

/** A workflow row as stored, payloads still serialized. */
export interface WorkflowRecord {
  workflowUUID: string;
  workflowName: string;
  status: WorkflowStatusName;
  inputs: string;
  output: string | null;
  error: string | null;
  parentUUID: string | null;
  recoveryAttempts: number;
  /** The workflow's deadline in epoch ms (its timeout, recorded at start), or null for none. */
  deadlineMs: number | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * An operation row as stored. `completedAt` is null while a wait (recv, getEvent, sleep) is under way,
 * or while a step with retries backs off before its next attempt (then `deadlineMs` is that attempt's
 * time and `waitDetail` holds the failed attempts, see StepAttemptInfo).
 */
export interface OperationRecord {
  workflowUUID: string;
  operationIndex: number;
  kind: OperationKind;
  name: string;
  output: string | null;
  error: string | null;
  /** For waits: the absolute deadline in epoch ms, recorded when the wait started. */
  deadlineMs: number | null;
  /** For waits: what is awaited (topic, or workflow UUID and key), as JSON. */
  waitDetail: string | null;
  startedAt: number;
  completedAt: number | null;
}

/**
 * Where a durable operation records itself: its workflow, its index there, and what it is. Every
 * shape of an operation (the row, an outcome to write, a wait to start, the operationRecorded event)
 * is this plus fields of {@link OperationRecord}, so each field is declared once.
 */
export type OperationPosition = Pick<OperationRecord, 'workflowUUID' | 'operationIndex' | 'kind' | 'name'>;

/** A message row as stored, payload still serialized. `topic` is null for messages sent without one. */
export interface MessageRecord {
  messageId: number;
  destinationUUID: string;
  topic: string | null;
  message: string;
  idempotencyKey: string | null;
  consumed: boolean;
  createdAt: number;
  consumedAt: number | null;
}

/** An event row as stored, value still serialized. */
export interface EventRecord {
  workflowUUID: string;
  key: string;
  value: string;
  createdAt: number;
}

/** What `WorkflowHandle.getStatus()` reports. Times are epoch milliseconds. */
export interface WorkflowStatus {
  workflowUUID: string;
  workflowName: string;
  status: WorkflowStatusName;
  /** The arguments the workflow was started with. */
  inputs: unknown[];
  /** UUID of the workflow that started this one as a child, or null. */
  parentUUID: string | null;
  /** Times this workflow was resumed by recovery since it last recorded progress. */
  recoveryAttempts: number;
  /**
   * When the workflow times out, in epoch ms (`timeoutSeconds` at its start, or its parent's
   * earlier deadline), or null for none.
   */
  deadlineMs: number | null;
  createdAt: number;
  updatedAt: number;
}

/** One message as reported by `listMessages`, in queue order. */
export interface MessageInfo<T = unknown> {
  topic: string | null;
  message: T;
  consumed: boolean;
  createdAt: number;
}

/** One recorded operation, as reported by `listOperations`. */
export interface OperationInfo {
  operationIndex: number;
  kind: OperationKind;
  name: string;
  /** The recorded result (undefined while a wait is under way or when it failed). */
  output: unknown;
  /** The recorded error, or null. */
  error: Error | null;
  /** For waits: the absolute deadline in epoch ms. */
  deadlineMs: number | null;
  /** For waits: what it waits on (`{ topic }`, or `{ workflowUUID, key }`). */
  waitingFor: Record<string, unknown> | null;
  startedAt: number;
  /** Null while the operation (a wait, or a step backing off before its next attempt) is under way. */
  completedAt: number | null;
  /**
   * Steps: how many attempts reached a recorded outcome (the failed attempts in `failedAttempts`,
   * plus the one that completed the step); 1 for a step that completed at once. Null for other kinds.
   */
  attempts: number | null;
  /**
   * Steps: the attempts that failed and were retried, in order, with their errors (empty when the
   * first attempt completed the step). The last attempt's outcome is `output` or `error`. Null for
   * other kinds.
   */
  failedAttempts: StepAttemptInfo[] | null;
}

/** One failed attempt of a step with retries, as `listOperations` reports it. */
export interface StepAttemptInfo {
  /** Which attempt, 1-based. */
  attempt: number;
  /** When its failure was recorded, in epoch ms (the engine's clock). */
  failedAt: number;
  /** What it threw (an UnreadableRecordError when the record cannot be read back). */
  error: Error;
}

/**
 * One wait under way in a PENDING workflow, as `listWaits` reports it: a recorded `recv`, `getEvent`
 * or `sleep` (or any later kind of wait) that has started and not ended. Times are epoch milliseconds.
 */
export interface WaitInfo {
  /** The workflow that waits. */
  workflowUUID: string;
  workflowName: string;
  /** The wait's position among the workflow's operations. */
  operationIndex: number;
  kind: OperationKind;
  /** recv: the topic awaited (null for messages without a topic). */
  topic?: string | null;
  /** getEvent: the workflow whose event is awaited. */
  targetUUID?: string;
  /** getEvent: the key awaited. */
  key?: string;
  /** A wait on several things at once: what each branch awaits, as recorded. */
  branches?: unknown[];
  /** The absolute deadline, recorded when the wait started. */
  deadlineMs: number | null;
  startedAt: number;
  /** Set when what the wait awaits cannot be read back: the UnreadableRecordError (the other fields stay). */
  unreadable?: Error;
}

/** One message of a `sendMany` batch: the arguments of one `send`. */
export interface SendManyMessage<T = unknown> {
  destinationUUID: string;
  message: T;
  /** A non-empty string, or undefined/null for no topic. */
  topic?: string | null;
  /** A non-empty string, or undefined/null for none: as `send`'s idempotencyKey. */
  idempotencyKey?: string | null;
}

/** What `sendMany` stored: `sent` messages, and `duplicates` skipped for an idempotency key used before. */
export interface SendManyResult {
  sent: number;
  duplicates: number;
}

/** One stream of a workflow, as reported by `listStreams`. */
export interface StreamInfo {
  key: string;
  /** Values written so far (offsets 0 to length - 1). */
  length: number;
  /** No value will come any more: `closeStream` closed it, or its workflow finished. */
  closed: boolean;
}

/**
 * What `cancelWorkflow` did. `previousStatus` is the workflow's status before the call: `PENDING`
 * means this call cancelled it; `CANCELLED` that it already was (nothing changed); any other status
 * that it had finished, and it was left as it is.
 */
export interface CancelResult {
  previousStatus: WorkflowStatusName;
  /** Every workflow this call moved to `CANCELLED`: the workflow first, then its descendants (with `cancelChildren`). */
  cancelled: string[];
}

/**
 * What `resumeWorkflow` did. `previousStatus` is the workflow's status before the call; `resumed` is
 * true when this call returned it to `PENDING` (from `CANCELLED`, `ERROR` or
 * `MAX_RECOVERY_ATTEMPTS_EXCEEDED`), false for a workflow `PENDING` or `SUCCESS` already (left as it is).
 */
export interface ResumeResult {
  previousStatus: WorkflowStatusName;
  resumed: boolean;
}

/** How many rows of each table a `deleteWorkflow` or `pruneWorkflows` removed. */
export interface DeletedRows {
  workflows: number;
  operations: number;
  events: number;
  /** Stream rows: one per value written, one per close. */
  streamEntries: number;
  /** Messages addressed to the deleted workflows, consumed or not. */
  messages: number;
  /** Cancel and resume records (see `workflow_controls`). */
  controls: number;
}

/**
 * What `deleteWorkflow` did: `deleted` lists the workflows removed (the workflow first, then its
 * descendants with `deleteChildren`, nearest first); `cancelled` those that were `PENDING` and
 * `force` cancelled (committed) before the delete; `rows` what went from each table.
 */
export interface DeleteResult {
  deleted: string[];
  cancelled: string[];
  rows: DeletedRows;
}

/** What `pruneWorkflows` did: `deleted` workflows in `batches` commits; `rows` what went from each table. */
export interface PruneResult {
  deleted: number;
  batches: number;
  rows: DeletedRows;
}
