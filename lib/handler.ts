// What every handle on a database offers code outside workflows, whether it runs the workflows
// (Engine) or not (Client): send, getEvent, handles, and read-only listings.
import { nanoid } from 'nanoid';
import type { CancelWorkflowOptions, DeleteWorkflowOptions, ForkWorkflowOptions, PruneWorkflowsOptions, StartWorkflowOptions, WorkflowRef } from './contracts';
import { cancelWorkflow, forkWorkflow, resumeWorkflow } from './ops/control';
import { DEFAULT_PRUNE_BATCH_SIZE, deleteWorkflow, FINISHED_STATUSES, pruneWorkflows } from './ops/deletion';
import type { EventEmitter } from 'eventemitter3';
import type { EngineEvents, ReadStreamOptions, WorkflowHandle } from './contracts';
import { WorkflowHandleImpl, toStatus } from './ops/handle';
import { assertOpen, readCommitted, type OperationEnvironment } from './ops/environment';
import { getEventFromHandler } from './ops/events';
import { prepareSendMany, sendFromHandler, sendManyFromHandler } from './ops/messages';
import { decodeForListing, encodePayload } from './ops/payload';
import { checkStreamRead, listStreams, StreamReader } from './ops/streams';
import { workflowOnlyBase } from './ops/workflow-only';
import type { WaitRecord } from './store/store';
import type { WorkflowFilter } from './store/store';
import { WORKFLOW_STATUSES, type CancelResult, type DeleteResult, type PruneResult, type ResumeResult, type MessageInfo, type OperationInfo, type OperationRecord, type StepAttemptInfo, type SendManyMessage, type SendManyResult, type StreamInfo, type WaitInfo, type WorkflowStatus, type WorkflowStatusName } from './types';
import { durationMs, nonNegativeInteger, optionalIdempotencyKey, optionalTopic, positiveInteger, requireNonEmptyString, typeError } from './validate';

/** Filters of `listWorkflows`. */
export interface ListWorkflowsOptions {
  status?: WorkflowStatusName;
  workflowName?: string;
  /** At most this many, oldest first. */
  limit?: number;
}

/** Filters of `listWaits`. */
export interface ListWaitsOptions {
  /** Only the waits of this workflow. */
  workflowUUID?: string;
}

/** The workflow UUID from start options: the given one (checked) or a new random one. */
export function startOptionsUUID(options: StartWorkflowOptions | undefined): string {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw typeError('options', 'an object like { workflowUUID } or undefined', options);
  }
  return options?.workflowUUID === undefined ? nanoid() : requireNonEmptyString('workflowUUID', options.workflowUUID);
}

/**
 * The timeout of a start in milliseconds: the options' `timeoutSeconds` (checked), else the
 * workflow's own default (`@Workflow({ timeoutSeconds })`), else null for none.
 */
export function startOptionsTimeoutMs(options: StartWorkflowOptions | undefined, registration: WorkflowRef | undefined): number | null {
  if (options?.timeoutSeconds !== undefined) return durationMs('timeoutSeconds', options.timeoutSeconds);
  return registration?.timeoutSeconds === undefined ? null : registration.timeoutSeconds * 1000;
}

const statuses = new Set<string>(WORKFLOW_STATUSES);

/**
 * What Engine and Client share. recv, setEvent, sleep... exist on WorkflowContext only: called on an
 * Engine or Client from plain JavaScript they fail with WorkflowContextError, while `'recv' in engine`
 * stays false (see workflowOnlyBase).
 */
export abstract class HandlerBase extends workflowOnlyBase(
  ['recv', 'recvAny', 'select', 'setEvent', 'sleep', 'runStep', 'startChildWorkflow', 'childWorkflow', 'writeStream', 'closeStream', 'now', 'randomUUID'],
  'code outside workflows (an Engine or Client)',
) {
  readonly #env: OperationEnvironment;

  protected constructor(env: OperationEnvironment) {
    super();
    this.#env = env;
  }

  /**
   * The typed events of this engine (or client): workflows started and finished, operations
   * recorded, steps, waits, commits, storage errors, the recovery report. See {@link EngineEvents}.
   *
   * @example
   * engine.events.on('workflowFinished', ({ workflowUUID, status }) => console.log(workflowUUID, status));
   */
  get events(): EventEmitter<EngineEvents> {
    return this.#env.events;
  }

  /** Whether this handle is open. */
  get isOpen(): boolean {
    return this.#env.isOpen;
  }

  /**
   * Cancels a workflow: a `PENDING` one becomes `CANCELLED`, in one commit, before this resolves.
   * Every wait of it (`recv`, `getEvent`, `select`, `sleep`, a child's result) ends at once, in this
   * process and, through the change feed, in the Engine that runs it; its next operation rejects with
   * WorkflowCancelledError and records nothing, and no step of it starts. A step already running
   * finishes and its result is recorded. `getResult()` rejects with WorkflowCancelledError, and
   * messages sent to it are refused. With `cancelChildren`, every `PENDING` descendant is cancelled
   * in the same commit. A workflow that finished, or was cancelled already, is left as it is: the
   * result says what it was.
   *
   * @example
   * const { previousStatus, cancelled } = await engine.cancelWorkflow('order-o-1', { cancelChildren: true });
   * @throws WorkflowNotFoundError when no workflow has this UUID; TypeError for bad arguments;
   *   StorageError when the commit fails (nothing changed).
   */
  async cancelWorkflow(workflowUUID: string, options: CancelWorkflowOptions = {}): Promise<CancelResult> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object like { cancelChildren } or undefined', options);
    if (options.cancelChildren !== undefined && typeof options.cancelChildren !== 'boolean') throw typeError('cancelChildren', 'a boolean', options.cancelChildren);
    return cancelWorkflow(this.#env, workflowUUID, { cancelChildren: options.cancelChildren === true });
  }

  /**
   * Returns a `CANCELLED`, `ERROR` or `MAX_RECOVERY_ATTEMPTS_EXCEEDED` workflow to `PENDING`, in one
   * commit, before this resolves: its recovery count starts again from zero and its deadline is
   * removed. The Engine that owns the file (this one, or the owner of a Client's file) runs it again
   * from its recorded operations: what it recorded is replayed, not run again. A `PENDING` or
   * `SUCCESS` workflow is left as it is (`resumed: false`). Descendants cancelled with it are not
   * resumed with it: resume each one that should go on.
   *
   * @example
   * await engine.resumeWorkflow('order-o-1');
   * const result = await engine.retrieveWorkflow('order-o-1').getResult();
   * @throws WorkflowNotFoundError when no workflow has this UUID; StorageError when the commit fails.
   */
  async resumeWorkflow(workflowUUID: string): Promise<ResumeResult> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    return resumeWorkflow(this.#env, workflowUUID);
  }

  /**
   * Deletes a finished workflow and everything that is its own, in one commit, before this resolves:
   * its row, operations, events, streams, the messages addressed to it (consumed or not) and its
   * cancel/resume records. With `deleteChildren`, its descendants too (their links to it go with
   * them; without it, they stay, naming a parent that no longer exists). A `PENDING` workflow (or
   * descendant) is refused, nothing deleted, unless `force`: then it is cancelled first, as
   * `cancelWorkflow` does (its own commit), then deleted. The UUID of a workflow deleted while
   * CANCELLED stays taken (its run may still be ending); another deleted UUID is free again: starting it
   * starts a new workflow.
   *
   * @example
   * const { deleted, rows } = await engine.deleteWorkflow('order-o-1', { deleteChildren: true });
   * @throws WorkflowNotFoundError when no workflow has this UUID; WorkflowPendingError when one to
   *   delete is PENDING and `force` is not set; TypeError for bad arguments; StorageError when a
   *   commit fails (nothing of that commit stays).
   */
  async deleteWorkflow(workflowUUID: string, options: DeleteWorkflowOptions = {}): Promise<DeleteResult> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object like { deleteChildren, force } or undefined', options);
    if (options.deleteChildren !== undefined && typeof options.deleteChildren !== 'boolean') throw typeError('deleteChildren', 'a boolean', options.deleteChildren);
    if (options.force !== undefined && typeof options.force !== 'boolean') throw typeError('force', 'a boolean', options.force);
    return deleteWorkflow(this.#env, workflowUUID, { deleteChildren: options.deleteChildren === true, force: options.force === true });
  }

  /**
   * Deletes, as `deleteWorkflow` does, every workflow with one of `statuses` whose last change (its
   * finish) is before `finishedBefore`, in batches of `batchSize` workflows, each its own commit, the
   * event loop free between them: other work (and other processes' writes) wait at most one batch.
   * Interrupted (a crash, a failed commit), it leaves whole workflows, deleted or not; run it again.
   * Descendants are not followed: each workflow is judged on its own status and time.
   *
   * @example
   * const { deleted } = await engine.pruneWorkflows({ finishedBefore: Date.now() - 30 * 24 * 3600_000 });
   * @throws TypeError/RangeError for bad arguments (PENDING among `statuses` is one); StorageError
   *   when a batch's commit fails (the batches before it stay deleted).
   */
  async pruneWorkflows(options: PruneWorkflowsOptions): Promise<PruneResult> {
    return pruneWorkflows(this.#env, checkPruneOptions(options));
  }

  /**
   * Forks a workflow: starts a new one with the same name and inputs whose first `fromOperation`
   * operations are copied from the original's records, with what they wrote (the events set, the
   * messages consumed, the stream values written). The new workflow replays the copies and runs on
   * from `fromOperation`: steps below it are not run again, steps from it on are. One commit, landed
   * before this resolves. The original may be in any status and is not changed. An Engine runs the
   * fork at once (if its workflow is registered); a Client's fork is run by the owner of the file.
   * The copies are of completed operations only (a wait under way runs anew in the fork); a copied
   * child start names the original's child; messages the original had not consumed stay with it.
   *
   * @example
   * // The bug in step 3 is fixed: run the workflow again from there, with steps 0-2 as recorded.
   * const fork = await engine.forkWorkflow('order-o-1', { fromOperation: 3 });
   * console.log(await fork.getResult());
   * @throws WorkflowNotFoundError when no workflow has this UUID; RangeError when `fromOperation` is
   *   not an integer from 0 to the number of operations the workflow recorded; WorkflowConflictError
   *   when `newWorkflowUUID` belongs to a workflow already (nothing is overwritten); TypeError for bad
   *   arguments; StorageError when the commit fails (nothing is written).
   */
  async forkWorkflow<R = unknown>(workflowUUID: string, options: ForkWorkflowOptions): Promise<WorkflowHandle<R>> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object like { fromOperation }', options);
    const fromOperation = nonNegativeInteger('fromOperation', options.fromOperation);
    const newWorkflowUUID = options.newWorkflowUUID === undefined ? nanoid() : requireNonEmptyString('newWorkflowUUID', options.newWorkflowUUID);
    const timeoutMs = options.timeoutSeconds === undefined || options.timeoutSeconds === null
      ? options.timeoutSeconds
      : durationMs('timeoutSeconds', options.timeoutSeconds);
    await forkWorkflow(this.#env, workflowUUID, { fromOperation, newWorkflowUUID, timeoutMs });
    return new WorkflowHandleImpl<R>(this.#env, newWorkflowUUID);
  }

  /** A handle to the workflow with this UUID (which may not exist: see `getStatus`/`getResult`). */
  retrieveWorkflow<R = unknown>(workflowUUID: string): WorkflowHandle<R> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    return new WorkflowHandleImpl<R>(this.#env, workflowUUID);
  }

  /**
   * Sends a message to a workflow, queued per topic. Resolves once it is committed. With an
   * `idempotencyKey`, at most one message per (key, destination) is ever stored: a repeat resolves
   * and stores nothing, even if its payload differs.
   *
   * @example
   * await engine.send(orderUUID, { paid: true }, 'checkout_complete', `delivery-${deliveryId}`);
   * @throws WorkflowNotFoundError when no workflow has `destinationUUID` (nothing is stored).
   * @throws TypeError for a bad uuid, topic or key; SerializationError/PayloadTooLargeError for the message.
   */
  async send<T>(destinationUUID: string, message: T, topic?: string | null, idempotencyKey?: string | null): Promise<void> {
    requireNonEmptyString('destinationUUID', destinationUUID);
    const checkedTopic = optionalTopic(topic);
    const key = optionalIdempotencyKey(idempotencyKey);
    assertOpen(this.#env, 'send');
    const text = encodePayload(this.#env, message, 'message');
    await sendFromHandler(this.#env, destinationUUID, text, checkedTopic, key);
  }

  /**
   * Sends every message or none, in one transaction: each as `send` would, queued in array order.
   * Resolves once committed, with how many were stored and how many were skipped as duplicates (an
   * idempotency key already used for that destination, or used by an earlier message of the batch).
   * An empty array resolves at once and writes nothing.
   *
   * @example
   * await engine.sendMany(orders.map((order) => ({ destinationUUID: order.uuid, message: { shipped: true }, topic: 'shipping' })));
   * @throws TypeError/RangeError naming the bad element (`messages[3].topic`), or for more than
   *   1,000 messages; SerializationError/PayloadTooLargeError naming the message (or the batch, over
   *   `maxPayloadBytes` all together); WorkflowNotFoundError
   *   naming the first destination no workflow has. Nothing is stored when it throws.
   */
  async sendMany(messages: readonly SendManyMessage[]): Promise<SendManyResult> {
    const batch = prepareSendMany(this.#env, messages);
    return sendManyFromHandler(this.#env, batch);
  }

  /**
   * Waits for the event `key` of workflow `workflowUUID` (which may not exist yet) and resolves to its
   * value, or `null` after `timeoutSeconds` (default 60; 0 checks once).
   *
   * @example
   * const url = await engine.getEvent<string>(handle.getWorkflowUUID(), 'checkout_url', 10);
   * @throws TypeError/RangeError for bad arguments; EngineClosedError when closed while waiting.
   */
  async getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    requireNonEmptyString('key', key);
    return getEventFromHandler<T>(this.#env, workflowUUID, key, durationMs('timeoutSeconds', timeoutSeconds));
  }

  /**
   * Every event the workflow set, as `{ key: value }` (empty for an unknown UUID). Read-only; only
   * committed events. A value that cannot be read back shows as an UnreadableRecordError.
   */
  async listEvents(workflowUUID: string): Promise<Record<string, unknown>> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    const records = await readCommitted(this.#env, 'listEvents', () => this.#env.store.events.listForWorkflow(workflowUUID), workflowUUID);
    const events: Record<string, unknown> = {};
    for (const event of records) events[event.key] = decodeForListing(event.value, workflowUUID, `value of event "${event.key}"`);
    return events;
  }

  /**
   * The workflow's messages in queue order, consumed ones included. `topic` omitted: every topic;
   * `null`: messages sent without a topic; a string: that topic. Read-only; only committed messages.
   * A message that cannot be read back shows as an UnreadableRecordError.
   */
  async listMessages(workflowUUID: string, topic?: string | null): Promise<MessageInfo[]> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    const checkedTopic = topic === undefined ? undefined : optionalTopic(topic);
    const records = await readCommitted(this.#env, 'listMessages', () => this.#env.store.messages.list(workflowUUID, checkedTopic), workflowUUID);
    return records.map((record) => ({
      topic: record.topic,
      message: decodeForListing(record.message, workflowUUID, `message #${record.messageId}`),
      consumed: record.consumed,
      createdAt: record.createdAt,
    }));
  }

  /**
   * Every wait under way of a PENDING workflow (`recv`, `getEvent`, `sleep`...), soonest deadline
   * first, read from the database: a Client sees the owner's waits. Read-only; only committed
   * records. The waits of code outside workflows (a handler's getEvent or getResult) are not
   * recorded: see `events` (waitStarted, waitEnded).
   *
   * @example
   * for (const wait of await client.listWaits()) console.log(wait.workflowUUID, wait.kind, wait.topic ?? wait.key, new Date(wait.deadlineMs!));
   */
  async listWaits(options: ListWaitsOptions = {}): Promise<WaitInfo[]> {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object like { workflowUUID } or undefined', options);
    const workflowUUID = options.workflowUUID === undefined ? undefined : requireNonEmptyString('workflowUUID', options.workflowUUID);
    const records = await readCommitted(this.#env, 'listWaits', () => this.#env.store.operations.listWaits(workflowUUID), workflowUUID);
    return records.map(toWaitInfo);
  }

  /**
   * Reads stream `key` of workflow `workflowUUID`: an async iterable of its values in order, from
   * `fromOffset` (default 0), each yielded once it is committed, woken right after that commit (in
   * this process or another). It ends when the stream is closed or the workflow finishes (once every
   * value before has been read). A workflow that does not exist yet is waited for. When no value
   * comes within `timeoutSeconds` (default 60) of asking for the next one, the iteration throws
   * StreamTimeoutError (its `offset` is where to read on): a timeout is never taken for the end.
   * Leaving a `for await` loop (`break`, `return`, a throw) ends the reader and its wait at once.
   *
   * @example
   * for await (const progress of engine.readStream<number>(handle.getWorkflowUUID(), 'progress')) {
   *   console.log(`${progress}%`);
   * }
   * @throws TypeError/RangeError for bad arguments, at the call. The iteration throws
   *   StreamTimeoutError; EngineClosedError when closed while waiting; UnreadableRecordError for a
   *   value that cannot be read back.
   */
  readStream<T>(workflowUUID: string, key: string, options?: ReadStreamOptions): AsyncIterableIterator<T> {
    const plan = checkStreamRead(workflowUUID, key, options);
    return new StreamReader<T>(this.#env, workflowUUID, key, plan);
  }

  /**
   * The workflow's streams, in the order they were first written to, as `{ key, length, closed }`
   * (`closed`: no value will come, because closeStream closed it or the workflow finished). Empty for
   * an unknown UUID. Read-only; only committed values.
   */
  async listStreams(workflowUUID: string): Promise<StreamInfo[]> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    return listStreams(this.#env, workflowUUID);
  }

  /** Workflows, oldest first, optionally filtered by status and name. Read-only; only committed rows. */
  async listWorkflows(options: ListWorkflowsOptions = {}): Promise<WorkflowStatus[]> {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    if (options.status !== undefined && !statuses.has(options.status)) {
      throw typeError('status', [...statuses].map((status) => `'${status}'`).join(', ').replace(/, ([^,]*)$/, ' or $1'), options.status);
    }
    const filter: WorkflowFilter = {};
    if (options.status !== undefined) filter.status = options.status;
    if (options.workflowName !== undefined) filter.workflowName = requireNonEmptyString('workflowName', options.workflowName);
    if (options.limit !== undefined) filter.limit = positiveInteger('limit', options.limit);
    const records = await readCommitted(this.#env, 'listWorkflows', () => this.#env.store.workflows.list(filter));
    return records.map(toStatus);
  }

  /**
   * The workflow's recorded operations in order, including a wait under way (`completedAt` null,
   * with its deadline and what it waits on). Empty for an unknown UUID. Read-only; only committed
   * records. An output or error that cannot be read back shows as an UnreadableRecordError.
   */
  async listOperations(workflowUUID: string): Promise<OperationInfo[]> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    const records = await readCommitted(this.#env, 'listOperations', () => this.#env.store.operations.listForWorkflow(workflowUUID), workflowUUID);
    return records.map((record) => {
      const what = `result of operation #${record.operationIndex} (${record.kind})`;
      // A step's detail is its failed attempts (see ops/steps.ts), not something it waits on.
      const failedAttempts = record.kind === 'step' ? failedAttemptsOf(record, workflowUUID) : null;
      return {
        operationIndex: record.operationIndex,
        kind: record.kind,
        name: record.name,
        output: record.error === null ? decodeForListing(record.output, workflowUUID, what) : undefined,
        error: record.error === null ? null : (decodeForListing(record.error, workflowUUID, `error of ${what}`) as Error),
        deadlineMs: record.deadlineMs,
        waitingFor: failedAttempts !== null || record.waitDetail === null
          ? null
          : (decodeForListing(record.waitDetail, workflowUUID, `wait of operation #${record.operationIndex}`) as Record<string, unknown>),
        startedAt: record.startedAt,
        completedAt: record.completedAt,
        attempts: failedAttempts === null ? null : failedAttempts.length + (record.completedAt === null ? 0 : 1),
        failedAttempts,
      };
    });
  }
}

/** The failed attempts a step with retries recorded; one that cannot be read shows its UnreadableRecordError. */
function failedAttemptsOf(record: OperationRecord, workflowUUID: string): StepAttemptInfo[] {
  if (record.waitDetail === null) return [];
  const detail = decodeForListing(record.waitDetail, workflowUUID, `attempts of operation #${record.operationIndex} (step)`);
  if (detail instanceof Error) return [{ attempt: 0, failedAt: 0, error: detail }];
  const failures = (detail as { failures?: unknown } | null)?.failures;
  return Array.isArray(failures) ? failures.map((failure: StepAttemptInfo) => ({ attempt: failure.attempt, failedAt: failure.failedAt, error: failure.error })) : [];
}

/** A recorded wait as listWaits reports it: what it awaits spread into fields; an unreadable one flagged. */
function toWaitInfo(record: WaitRecord): WaitInfo {
  const awaited: Pick<WaitInfo, 'topic' | 'targetUUID' | 'key' | 'branches' | 'unreadable'> = {};
  const detail = record.waitDetail === null ? null : decodeForListing(record.waitDetail, record.workflowUUID, `wait of operation #${record.operationIndex}`);
  if (detail instanceof Error) awaited.unreadable = detail;
  else if (typeof detail === 'object' && detail !== null) {
    // recv: { topic }; getEvent: { workflowUUID, key } of the target; a wait on several: { branches }.
    const { topic, workflowUUID, key, branches } = detail as Record<string, unknown>;
    if (topic === null || typeof topic === 'string') awaited.topic = topic;
    if (typeof workflowUUID === 'string') awaited.targetUUID = workflowUUID;
    if (typeof key === 'string') awaited.key = key;
    if (Array.isArray(branches)) awaited.branches = branches;
  }
  return {
    workflowUUID: record.workflowUUID,
    workflowName: record.workflowName,
    operationIndex: record.operationIndex,
    kind: record.kind,
    ...awaited,
    deadlineMs: record.deadlineMs,
    startedAt: record.startedAt,
  };
}

/** Checks pruneWorkflows' options; returns them as the ops layer takes them. */
export function checkPruneOptions(options: PruneWorkflowsOptions): { beforeMs: number; statuses: readonly WorkflowStatusName[]; batchSize: number } {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object like { finishedBefore, statuses }', options);
  const { finishedBefore } = options;
  let beforeMs: number;
  if (finishedBefore instanceof Date) beforeMs = finishedBefore.getTime();
  else if (typeof finishedBefore === 'number') beforeMs = finishedBefore;
  else throw typeError('finishedBefore', 'a Date or epoch milliseconds', finishedBefore);
  if (!Number.isFinite(beforeMs)) throw new RangeError(`Expected \`finishedBefore\` to be a valid Date or finite epoch milliseconds, got \`${String(finishedBefore)}\``);
  let statuses: readonly WorkflowStatusName[] = FINISHED_STATUSES;
  if (options.statuses !== undefined) {
    if (!Array.isArray(options.statuses) || options.statuses.length === 0) throw typeError('statuses', 'a non-empty array of statuses', options.statuses);
    for (const status of options.statuses as unknown[]) {
      if (!FINISHED_STATUSES.includes(status as WorkflowStatusName)) {
        throw new RangeError(`Expected \`statuses\` to hold only ${FINISHED_STATUSES.join(', ')} (a PENDING workflow is cancelled first), got \`${String(status)}\``);
      }
    }
    statuses = [...new Set(options.statuses)];
  }
  const batchSize = options.batchSize === undefined ? DEFAULT_PRUNE_BATCH_SIZE : positiveInteger('batchSize', options.batchSize);
  return { beforeMs, statuses, batchSize };
}
