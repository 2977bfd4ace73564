// The contracts every layer shares, in a leaf module that imports nothing above it: the shapes of
// workflow and step functions and their registrations, the contexts and handles user code is given,
// and the engine's resolved options. Implementations live in ops/ (workflow-context.ts, handle.ts) and options.ts;
// ops/ depends on these shapes only, so that the layers import one way.
import type { StorageError } from './errors';
import type { ResolvedPostgresOptions } from './postgres/database';
import type { Clock } from './runtime/clock';
import type { WaitDescription } from './runtime/waiters';
import type { SynchronousMode } from './store/database';
import type { MessageInfo, OperationKind, RecvAnyResult, SelectBranch, SelectResult, SendManyMessage, SendManyResult, StreamInfo, WorkflowStatus, WorkflowStatusName } from './types';

/** A workflow function: deterministic code that calls durable operations on its context. */
export type WorkflowFunction<Args extends unknown[] = any[], R = any> = (ctxt: WorkflowContext, ...args: Args) => Promise<R>;

/** A step function: arbitrary code (I/O, randomness) whose result is recorded once. */
export type StepFunction<Args extends unknown[] = any[], R = any> = (ctxt: StepContext, ...args: Args) => Promise<R> | R;

/** A registered workflow, as returned by {@link registerWorkflow}. */
export interface WorkflowRef<Args extends unknown[] = any[], R = any> {
  readonly kind: 'workflow';
  readonly name: string;
  readonly fn: WorkflowFunction<Args, R>;
  /** Its default timeout (`@Workflow({ timeoutSeconds })`), when it has one. */
  readonly timeoutSeconds?: number;
}

/** A registered step, as returned by {@link registerStep}. */
export interface StepRef<Args extends unknown[] = any[], R = any> {
  readonly kind: 'step';
  readonly name: string;
  readonly fn: StepFunction<Args, R>;
  /** How a failing run is retried, with every default filled in; absent for a step without retries. */
  readonly retries?: StepRetryPolicy;
}

/**
 * How a failing step is retried (`@Step({ retries })`, `registerStep(name, fn, { retries })`). After
 * attempt n fails, the next one starts `min(maxIntervalSeconds, intervalSeconds * backoffRate ** (n - 1))`
 * seconds later, on the engine's clock. Each failed attempt is recorded before the pause, so the count
 * and the time of the next attempt survive a crash.
 */
export interface StepRetryOptions {
  /** Attempts in all, the first included: an integer from 1 to 1,000. @default 3 */
  maxAttempts?: number;
  /** The pause after the first failed attempt, in seconds, >= 0. @default 1 */
  intervalSeconds?: number;
  /** What each pause is multiplied by for the next one, >= 1. @default 2 */
  backoffRate?: number;
  /** The longest pause, in seconds, >= intervalSeconds. @default the larger of 3600 and intervalSeconds */
  maxIntervalSeconds?: number;
  /**
   * Decides whether an error is worth another attempt (called with the error and the attempt that
   * threw it). When it returns false (or throws), the step fails at once with that error as it is,
   * not wrapped. @default every error is retried
   */
  retryIf?: (error: unknown, attempt: number) => boolean;
}

/** A step's retry options once checked, every default filled in (times in milliseconds). */
export interface StepRetryPolicy {
  readonly maxAttempts: number;
  readonly intervalMs: number;
  readonly backoffRate: number;
  readonly maxIntervalMs: number;
  readonly retryIf: ((error: unknown, attempt: number) => boolean) | null;
}

/** Something that names a workflow: a decorated static method or a {@link WorkflowRef}. */
export type WorkflowTarget<Args extends unknown[], R> = WorkflowRef<Args, R> | WorkflowFunction<Args, R>;

/** Something that names a step: a decorated static method or a {@link StepRef}. */
export type StepTarget<Args extends unknown[], R> = StepRef<Args, R> | StepFunction<Args, R>;

type Rest<F> = F extends (ctxt: any, ...args: infer A) => any ? A : never;
type Output<F> = F extends (...args: any[]) => infer R ? Awaited<R> : never;

/** `ctxt.invoke(Class)` inside a workflow: each step runs (recorded); each workflow runs as a child. */
export type WorkflowInvoker<T> = {
  [K in keyof T as T[K] extends (...args: any[]) => any ? K : never]: (...args: Rest<T[K]>) => Promise<Output<T[K]>>;
};

/** `engine.invoke(Class)`: each workflow method starts the workflow and resolves to its handle. */
export type HandlerInvoker<T> = {
  [K in keyof T as T[K] extends (...args: any[]) => any ? K : never]: (...args: Rest<T[K]>) => Promise<WorkflowHandle<Output<T[K]>>>;
};

/** Given to a step: where it runs. Steps cannot call durable operations; they can write to their workflow's streams. */
export interface StepContext {
  readonly workflowUUID: string;
  readonly stepName: string;
  readonly operationIndex: number;
  /**
   * Which attempt this run of the step is, from 1. Above 1 only for a step with retries whose
   * earlier attempts failed (their failures are recorded, so the count survives a crash).
   */
  readonly attempt: number;
  /**
   * Appends `value` to the workflow's stream `key`, at least once: the write is not recorded, so a
   * step that runs again after a crash writes again. Resolves once the value is committed.
   * @throws StreamClosedError when the stream is closed or the workflow finished (nothing is written);
   *   WorkflowContextError once the step has returned.
   */
  writeStream<T>(key: string, value: T): Promise<void>;
}

/** Options of `readStream`. */
export interface ReadStreamOptions {
  /** The offset of the first value to read (offsets count values from 0). @default 0 */
  fromOffset?: number;
  /**
   * How long to wait for each next value, in seconds; when it passes before a value (or the end)
   * comes, the iteration throws StreamTimeoutError. `0` reads what is there without waiting.
   * @default 60
   */
  timeoutSeconds?: number;
}

/**
 * Given to a workflow. Every method is a durable operation: recorded under the next operation index
 * the first time, and answered from the record (not run again) when the workflow is replayed after a
 * crash. Workflow code must call the same operations in the same order on every run.
 */
export interface WorkflowContext {
  readonly workflowUUID: string;
  readonly workflowName: string;
  /** Calls the steps (and child workflows) of a decorated class. */
  invoke<T extends object>(target: T): WorkflowInvoker<T>;
  /** Runs a step registered with `registerStep` (or a decorated step method). */
  runStep<Args extends unknown[], R>(step: StepTarget<Args, R>, ...args: Args): Promise<R>;
  /** Starts a child workflow with a UUID derived from this one; returns its handle. */
  startChildWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<WorkflowHandle<R>>;
  /** Runs a child workflow and waits for its result. */
  childWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<R>;
  /** Sends a message, exactly once. @throws WorkflowNotFoundError (recorded) when the destination does not exist. */
  send<T>(destinationUUID: string, message: T, topic?: string | null): Promise<void>;
  /** Consumes the next message on `topic` (none = messages sent without a topic), or null after `timeoutSeconds` (default 60). */
  recv<T>(topic?: string | null, timeoutSeconds?: number): Promise<T | null>;
  /** Publishes an immutable event. @throws DuplicateEventKeyError (recorded) when this workflow already set `key`. */
  setEvent<T>(key: string, value: T): Promise<void>;
  /** Waits for another workflow's event, or null after `timeoutSeconds` (default 60). What it saw is recorded. */
  getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null>;
  /** Sleeps durably: after a crash only the remaining time is slept. */
  sleep(seconds: number): Promise<void>;
  /**
   * The engine's time in epoch milliseconds, recorded the first time and replayed after a crash: the
   * deterministic `Date.now()` of workflow code. Follows the virtual clock under TestEngine.
   */
  now(): Promise<number>;
  /**
   * A random UUID (v4, from node:crypto), recorded the first time and replayed after a crash: use it
   * in workflow code in place of `crypto.randomUUID()` or `Math.random()`.
   */
  randomUUID(): Promise<string>;
  /**
   * Waits for whichever branch completes first: a message on one of this workflow's topics
   * (`{ recv: topic }`) or another workflow's event (`{ getEvent: { workflowUUID, key } }`).
   * Resolves to `{ index, value }` of the winner, or null after `timeoutSeconds` (default 60).
   * Exactly one branch completes: only the winning message is consumed, and the losers record
   * nothing. Among messages the oldest wins; between a message and an event, the one committed first.
   * @throws TypeError/RangeError for no branch, more than 256, a repeated or malformed branch.
   */
  select<T = unknown>(branches: readonly SelectBranch[], timeoutSeconds?: number): Promise<SelectResult<T> | null>;
  /**
   * Consumes the oldest message across `topics` (null: messages sent without a topic), with its
   * topic, or null after `timeoutSeconds` (default 60). A message that is itself `null` comes as
   * `{ topic, message: null }`, never confused with a timeout.
   * @throws TypeError/RangeError for no topic, more than 256, or a repeated or malformed topic.
   */
  recvAny<T = unknown>(topics: readonly (string | null)[], timeoutSeconds?: number): Promise<RecvAnyResult<T> | null>;
  /** Appends `value` to this workflow's stream `key`, exactly once. @throws StreamClosedError (recorded) after closeStream. */
  writeStream<T>(key: string, value: T): Promise<void>;
  /** Closes this workflow's stream `key` (a closed stream stays closed; closing it again does nothing). */
  closeStream(key: string): Promise<void>;
  /**
   * Reads stream `key` of workflow `workflowUUID` from `fromOffset`: each value read is recorded, so
   * a replay reads the same values and resumes at the same offset.
   */
  readStream<T>(workflowUUID: string, key: string, options?: ReadStreamOptions): AsyncIterableIterator<T>;
}

/**
 * What code outside workflows (request handlers, scripts, tests) may do. The {@link Engine} is one.
 */
export interface HandlerContext {
  invoke<T extends object>(target: T, workflowUUID?: string): HandlerInvoker<T>;
  startWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, options?: StartWorkflowOptions, ...args: Args): Promise<WorkflowHandle<R>>;
  retrieveWorkflow<R = unknown>(workflowUUID: string): WorkflowHandle<R>;
  send<T>(destinationUUID: string, message: T, topic?: string | null, idempotencyKey?: string | null): Promise<void>;
  sendMany(messages: readonly SendManyMessage[]): Promise<SendManyResult>;
  getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null>;
  listEvents(workflowUUID: string): Promise<Record<string, unknown>>;
  listMessages(workflowUUID: string, topic?: string | null): Promise<MessageInfo[]>;
  readStream<T>(workflowUUID: string, key: string, options?: ReadStreamOptions): AsyncIterableIterator<T>;
  listStreams(workflowUUID: string): Promise<StreamInfo[]>;
}

/** Options of `startWorkflow`. */
export interface StartWorkflowOptions {
  /** The workflow's identity. Starting a UUID that exists returns the existing workflow. @default a new random id */
  workflowUUID?: string;
  /**
   * Cancel the workflow (and its children), with WorkflowTimeoutError as the recorded reason, once
   * this many seconds have passed since its start. The deadline is recorded with the workflow, so it
   * holds across restarts (only the remaining time is waited). Overrides `@Workflow({ timeoutSeconds })`.
   * @default the workflow's own `timeoutSeconds`, or none
   */
  timeoutSeconds?: number;
}

/** Options of `deleteWorkflow`. */
export interface DeleteWorkflowOptions {
  /** Also delete every descendant (children, their children...). @default false */
  deleteChildren?: boolean;
  /**
   * Cancel the workflow first when it is `PENDING` (and, with `deleteChildren`, its `PENDING`
   * descendants), as `cancelWorkflow` does, then delete it. Without it a `PENDING` workflow is
   * refused with WorkflowPendingError. @default false
   */
  force?: boolean;
}

/** Options of `pruneWorkflows`. */
export interface PruneWorkflowsOptions {
  /** Delete the workflows whose last change (their finish, for a finished one) is before this time: a Date or epoch ms. */
  finishedBefore: Date | number;
  /**
   * Which statuses to delete; `PENDING` is refused (cancel such workflows first).
   * @default ['SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED']
   */
  statuses?: readonly WorkflowStatusName[];
  /** Workflows per transaction; each batch is committed alone, and the event loop runs between batches. @default 500 */
  batchSize?: number;
}

/** Options of `cancelWorkflow`. */
export interface CancelWorkflowOptions {
  /** Also cancel every PENDING descendant (children, their children...). @default false */
  cancelChildren?: boolean;
}

/** Options of `forkWorkflow`. */
export interface ForkWorkflowOptions {
  /**
   * How many of the original's operations the fork keeps: those with an index below this (0 keeps
   * none: the fork runs from the top). An integer from 0 to the number of recorded operations.
   */
  fromOperation: number;
  /** The fork's UUID; one that exists is refused (WorkflowConflictError). @default a new random UUID */
  newWorkflowUUID?: string;
  /**
   * The fork's timeout, from its start; `null` for none.
   * @default the original's timeout (its deadline as measured from its start), or none
   */
  timeoutSeconds?: number | null;
}

/**
 * A reference to one workflow, by UUID: read its status and await its outcome. Cheap to create;
 * holds no resources.
 *
 * @example
 * const handle = await engine.invoke(Shop).checkout('o-1');
 * console.log(handle.getWorkflowUUID(), (await handle.getStatus())?.status);
 * const result = await handle.getResult();
 */
export interface WorkflowHandle<R = unknown> {
  /** The workflow's UUID (its identity: starting another workflow with it returns this one). */
  getWorkflowUUID(): string;
  /**
   * The workflow's current status, or `null` when no workflow has this UUID.
   * @throws EngineClosedError after the engine closed.
   */
  getStatus(): Promise<WorkflowStatus | null>;
  /**
   * Waits for the workflow to finish; resolves with its return value or rejects with the error it
   * threw (name and message preserved, DurabliteError subclasses rebuilt).
   * @throws WorkflowNotFoundError when no workflow has this UUID.
   * @throws MaxRecoveryAttemptsExceededError when recovery gave the workflow up.
   * @throws WorkflowCancelledError when the workflow was cancelled (WorkflowTimeoutError when its
   *   deadline passed).
   * @throws UnreadableRecordError when the stored outcome cannot be read back.
   * @throws EngineClosedError when the engine closes first.
   */
  getResult(): Promise<R>;
}

/**
 * A warning the engine reports without failing:
 * - `WORKFLOW_NOT_REGISTERED`: a PENDING workflow's name is not registered here; it stays PENDING.
 * - `STORAGE_FAILED`: a commit under a workflow failed; it stays PENDING and resumes from its records.
 * - `UNREADABLE_RECORD`: a workflow's record cannot be read back; it is marked ERROR.
 * - `WORKFLOW_NOT_RECORDED`: a workflow's outcome could not be recorded; it resumes on the next open.
 * - `CHANGE_FEED_FAILED`: reading other processes' commits failed; it is tried again on the next change.
 * - `MAX_RECOVERY_ATTEMPTS_EXCEEDED`: a workflow taken over too often is given up (PostgreSQL).
 * - `EXECUTOR_SUPERSEDED`: another engine process registered under this engine's executorId after it
 *   missed its lease (PostgreSQL); this engine writes nothing more and should be closed.
 */
export interface EngineWarning {
  code: 'WORKFLOW_NOT_REGISTERED' | 'WORKFLOW_NOT_RECORDED' | 'STORAGE_FAILED' | 'UNREADABLE_RECORD' | 'CHANGE_FEED_FAILED' | 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' | 'EXECUTOR_SUPERSEDED';
  message: string;
  workflowUUID?: string;
  workflowName?: string;
}

export interface ResolvedOptions {
  readonly database: string;
  /** The PostgreSQL options, checked, when `database` is a postgres:// URL; null for SQLite. */
  readonly postgres: ResolvedPostgresOptions | null;
  readonly synchronous: SynchronousMode;
  readonly clock: Clock;
  readonly maxRecoveryAttempts: number;
  readonly maxPayloadBytes: number;
  readonly recover: boolean;
  readonly onWarning: (warning: EngineWarning) => void;
}

/**
 * The registered workflows, by name, as the lifecycle in ops/ sees them (the registry itself is
 * decorators.ts; it is handed down, so that ops never imports it).
 */
export interface WorkflowRegistry {
  /**
   * The registration of a ref or a decorated (or registered) function, if any.
   * @throws RegistrationError when two registrations claim the function.
   */
  registrationOf(target: unknown): WorkflowRef | StepRef | undefined;
  /** The workflow registered under `name`, if any. */
  workflowNamed(name: string): WorkflowRef | undefined;
  /** What to tell about a name that is not registered: the registered names, nearest first. */
  unregisteredHint(name: string): string;
}

/** What the recovery pass at open did, as workflow UUIDs. */
export interface RecoveryReport {
  /** Workflows resumed. */
  resumed: string[];
  /** PENDING workflows whose name is not registered in this process (left PENDING). */
  unregistered: string[];
  /** Workflows given up (MAX_RECOVERY_ATTEMPTS_EXCEEDED) for crashing without progress. */
  givenUp: string[];
  /** Workflows marked ERROR because a record of theirs cannot be read (UnreadableRecordError). */
  failed: string[];
}

/** How a run of a workflow began: a new start, the recovery pass, or a resume after a storage failure. */
export type RunCause = 'started' | 'recovered' | 'resumed';

/**
 * The events of `engine.events` (and `client.events`, which has the commit, storage and wait
 * events of the client's own calls), each with a typed payload. Listeners run synchronously where
 * the thing happens: keep them quick, and never call the engine from one expecting to see the
 * event's own effect before it resolves.
 *
 * @example
 * engine.events.on('workflowFinished', ({ workflowUUID, status }) => console.log(workflowUUID, status));
 * engine.events.on('commit', ({ writes, durationMs }) => metrics.observe('commit_ms', durationMs));
 */
export interface EngineEvents {
  /** A run of a workflow's code began. */
  workflowStarted: (event: { workflowUUID: string; workflowName: string; cause: RunCause }) => void;
  /**
   * A workflow's outcome was committed: `SUCCESS` or `ERROR` by its run here, or `CANCELLED` when a
   * run of this engine was cancelled (by this process, another one, or its deadline).
   */
  workflowFinished: (event: { workflowUUID: string; workflowName: string; status: 'SUCCESS' | 'ERROR' | 'CANCELLED' }) => void;
  /** A durable operation was recorded and its commit landed (replays are not recorded again). */
  operationRecorded: (event: { workflowUUID: string; operationIndex: number; kind: OperationKind; name: string }) => void;
  /** A step's code began to run. */
  stepStarted: (event: { workflowUUID: string; operationIndex: number; name: string }) => void;
  /** A step's code returned or threw (its outcome is recorded next). */
  stepEnded: (event: { workflowUUID: string; operationIndex: number; name: string }) => void;
  /** A wait began: a workflow's recv, getEvent or sleep, or a caller's getEvent or getResult. */
  waitStarted: (wait: WaitDescription) => void;
  /** A wait ended: woken with what it awaited, at its deadline, or failed (closed, its run died). */
  waitEnded: (wait: WaitDescription, outcome: 'satisfied' | 'timeout' | 'failed') => void;
  /** A group commit landed: how many writes it held, and how long COMMIT took (the fsync, in FULL mode). */
  commit: (event: { commitNumber: number; writes: number; durationMs: number }) => void;
  /** A commit (or a write) failed: every operation in it rejects, and the workflows in it resume. */
  storageError: (event: { error: StorageError }) => void;
  /** The recovery pass at open, emitted once, at the first turn after `Engine.open` resolved. */
  recovery: (report: RecoveryReport) => void;
}
