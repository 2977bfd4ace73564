// Every error durablite raises on purpose is a DurabliteError with a stable string `code`, so callers
// branch on `code` or `instanceof`, never on message text. Argument errors are plain TypeError/RangeError.

/** Context fields an error may carry to explain itself. */
export interface ErrorContext {
  workflowUUID?: string;
  key?: string;
  topic?: string | null;
  operationIndex?: number;
}

/**
 * Base class of every error durablite raises on purpose.
 *
 * @example
 * try { await handle.getResult(); }
 * catch (error) { if (error instanceof DurabliteError && error.code === 'WORKFLOW_NOT_FOUND') ... }
 */
export class DurabliteError extends Error {
  /** Stable machine-readable code, e.g. `'DUPLICATE_EVENT_KEY'`. */
  readonly code: string;
  readonly workflowUUID?: string;

  constructor(code: string, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    for (const [field, value] of Object.entries(context)) {
      if (value !== undefined) (this as Record<string, unknown>)[field] = value;
    }
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** No workflow with this UUID exists in the database. */
export class WorkflowNotFoundError extends DurabliteError {
  declare readonly workflowUUID: string;
  constructor(workflowUUID: string) {
    super(
      'WORKFLOW_NOT_FOUND',
      `No workflow with UUID "${workflowUUID}" exists. Start it first, or check the UUID.`,
      { workflowUUID },
    );
  }
}

/**
 * A workflow was started with a UUID that already belongs to a workflow of another name. The message
 * names the owner: its workflow name, and its parent when it is a child workflow.
 */
export class WorkflowConflictError extends DurabliteError {
  declare readonly workflowUUID: string;
  readonly existingName: string;
  readonly requestedName: string;
  /** The parent of the workflow that owns the UUID, or null when it was started directly. */
  readonly existingParentUUID: string | null;
  constructor(workflowUUID: string, existingName: string, requestedName: string, existingParentUUID: string | null = null) {
    const owner = existingParentUUID === null
      ? `a ${existingName} workflow`
      : `a ${existingName} workflow that is a child of workflow "${existingParentUUID}"`;
    super(
      'WORKFLOW_CONFLICT',
      `Workflow UUID "${workflowUUID}" already belongs to ${owner}; it cannot also be a ${requestedName}. Use another UUID.`,
      { workflowUUID },
    );
    this.existingName = existingName;
    this.requestedName = requestedName;
    this.existingParentUUID = existingParentUUID;
  }
}

/**
 * `deleteWorkflow` was asked to delete a workflow that is still `PENDING` (it, or one of the
 * descendants `deleteChildren` reaches): nothing was deleted. `pendingUUIDs` lists them.
 */
export class WorkflowPendingError extends DurabliteError {
  declare readonly workflowUUID: string;
  readonly pendingUUIDs: string[];
  constructor(workflowUUID: string, pendingUUIDs: string[]) {
    const which = pendingUUIDs.length === 1 && pendingUUIDs[0] === workflowUUID
      ? `Workflow "${workflowUUID}" is still PENDING`
      : `Workflow "${workflowUUID}" has PENDING workflows among those to delete (${pendingUUIDs.map((uuid) => `"${uuid}"`).join(', ')})`;
    super(
      'WORKFLOW_PENDING',
      `${which}; nothing was deleted. Wait for it to finish, cancel it first, or pass { force: true } to cancel and delete it.`,
      { workflowUUID },
    );
    this.pendingUUIDs = pendingUUIDs;
  }
}

/** A workflow called `setEvent` twice with one key; the first value stays. */
export class DuplicateEventKeyError extends DurabliteError {
  declare readonly workflowUUID: string;
  readonly key: string;
  constructor(workflowUUID: string, key: string) {
    super(
      'DUPLICATE_EVENT_KEY',
      `Workflow "${workflowUUID}" already set event "${key}"; events are immutable, so the first value is kept. Use a new key for a new value.`,
      { workflowUUID },
    );
    this.key = key;
  }
}

/** A replayed workflow met a different operation than the one recorded at that position. */
export class DeterminismError extends DurabliteError {
  declare readonly workflowUUID: string;
  readonly operationIndex: number;
  readonly recorded: string;
  readonly attempted: string;
  constructor(workflowUUID: string, operationIndex: number, recorded: string, attempted: string) {
    super(
      'NONDETERMINISTIC_WORKFLOW',
      `Workflow "${workflowUUID}" is not deterministic: operation #${operationIndex} was recorded as ${recorded} but the replay called ${attempted}. ` +
        'A workflow must call the same operations in the same order on every run; keep side effects and randomness in steps.',
      { workflowUUID },
    );
    this.operationIndex = operationIndex;
    this.recorded = recorded;
    this.attempted = attempted;
  }
}

/** A value could not be serialized (a function, a symbol, a cycle...) or is larger than allowed. */
export class SerializationError extends DurabliteError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SERIALIZATION_FAILED', message, {}, options);
  }
}

/** A serialized payload is larger than the engine's `maxPayloadBytes`. */
export class PayloadTooLargeError extends DurabliteError {
  readonly sizeBytes: number;
  readonly limitBytes: number;
  constructor(what: string, sizeBytes: number, limitBytes: number) {
    super(
      'PAYLOAD_TOO_LARGE',
      `The ${what} serializes to ${sizeBytes} bytes, over the limit of ${limitBytes} bytes. Store large data elsewhere and pass a reference, or raise \`maxPayloadBytes\`.`,
    );
    this.sizeBytes = sizeBytes;
    this.limitBytes = limitBytes;
  }
}

/** The database was written by a newer durablite whose schema this version does not know. */
export class SchemaVersionError extends DurabliteError {
  readonly foundVersion: number;
  readonly supportedVersion: number;
  constructor(database: string, foundVersion: number, supportedVersion: number) {
    super(
      'SCHEMA_TOO_NEW',
      `Database "${database}" has schema version ${foundVersion}, but this durablite supports up to ${supportedVersion}. Upgrade durablite to open it; it was not modified.`,
    );
    this.foundVersion = foundVersion;
    this.supportedVersion = supportedVersion;
  }
}

/** The database file could not be opened or is not a durablite/SQLite database. */
export class DatabaseOpenError extends DurabliteError {
  readonly database: string;
  constructor(database: string, reason: string, cause?: unknown) {
    super('DATABASE_OPEN_FAILED', `Cannot open database "${database}": ${reason}`, {}, { cause });
    this.database = database;
  }
}

/** Another live process owns (runs the workflows of) this database file. */
export class DatabaseOwnedError extends DurabliteError {
  readonly database: string;
  /** The owner as it recorded itself; undefined fields when it could not be read. */
  readonly ownerPid?: number;
  readonly ownerHostname?: string;
  readonly ownerSince?: number;
  constructor(database: string, owner: { pid: number; hostname: string; startedAt: number } | undefined) {
    const who = owner === undefined
      ? 'another process'
      : `process ${owner.pid} on ${owner.hostname} (since ${new Date(owner.startedAt).toISOString()})`;
    super(
      'DATABASE_OWNED',
      `Database "${database}" is already run by ${who}. Only one Engine may run a file's workflows; use Client.open() to talk to it from this process, or stop the owner first.`,
    );
    this.database = database;
    if (owner !== undefined) {
      this.ownerPid = owner.pid;
      this.ownerHostname = owner.hostname;
      this.ownerSince = owner.startedAt;
    }
  }
}

/**
 * Another live engine is registered under this Engine's `executorId` on the PostgreSQL schema: two
 * engines of one id would both run its workflows. The open waits out the other's lease (it may be a
 * crashed process of the same deployment slot) and throws this once that engine beats again.
 */
export class ExecutorInUseError extends DurabliteError {
  readonly executorId: string;
  readonly holderHostname: string;
  readonly holderPid: number;
  constructor(executorId: string, holder: { hostname: string; pid: number }) {
    super(
      'EXECUTOR_IN_USE',
      `The executor id "${executorId}" is in use by a live engine (process ${holder.pid} on ${holder.hostname}, which is still beating). Give each engine its own executorId, or close the other engine first.`,
    );
    this.executorId = executorId;
    this.holderHostname = holder.hostname;
    this.holderPid = holder.pid;
  }
}

/** The engine was closed; the awaited operation will not complete in this process. */
export class EngineClosedError extends DurabliteError {
  constructor(what = 'This operation') {
    super(
      'ENGINE_CLOSED',
      `${what} cannot complete: the engine was closed. Unfinished workflows stay PENDING and resume when the database is opened again.`,
    );
  }
}

/** Two different functions were registered under one name, or a name is not registered. */
export class RegistrationError extends DurabliteError {
  readonly registeredName: string;
  constructor(code: 'DUPLICATE_REGISTRATION' | 'NOT_REGISTERED', registeredName: string, message: string) {
    super(code, message);
    this.registeredName = registeredName;
  }
}

/** The workflow crashed the process on recovery too many times and was given up. */
export class MaxRecoveryAttemptsExceededError extends DurabliteError {
  declare readonly workflowUUID: string;
  constructor(workflowUUID: string, attempts: number) {
    super(
      'MAX_RECOVERY_ATTEMPTS_EXCEEDED',
      `Workflow "${workflowUUID}" was recovered ${attempts} times without recording progress and has been given up. Fix the cause, then start it again under a new UUID.`,
      { workflowUUID },
    );
  }
}

/**
 * A step with retries failed on its last allowed attempt. It is the step's recorded error, so a
 * replay rethrows it (as this class); `cause` is the last attempt's error, `attempts` how many ran.
 *
 * @example
 * try { await ctxt.invoke(Payments).charge(orderId); }
 * catch (error) { if (error instanceof StepRetriesExceededError) console.log(error.attempts, error.cause); }
 */
export class StepRetriesExceededError extends DurabliteError {
  declare readonly workflowUUID: string;
  declare readonly operationIndex: number;
  /** The step's registered name. */
  readonly stepName: string;
  /** How many attempts ran, the last one included. */
  readonly attempts: number;
  constructor(workflowUUID: string, operationIndex: number, stepName: string, attempts: number, cause: unknown) {
    super(
      'STEP_RETRIES_EXCEEDED',
      `Step "${stepName}" (operation #${operationIndex} of workflow "${workflowUUID}") failed ${attempts} time${attempts === 1 ? '' : 's'}, its last allowed attempt included: ${safeString(() => (cause instanceof Error ? cause.message : cause))}. The last error is its \`cause\`; raise \`retries.maxAttempts\` or handle the failure in the workflow.`,
      { workflowUUID, operationIndex },
      { cause },
    );
    this.stepName = stepName;
    this.attempts = attempts;
  }
}

/**
 * The workflow was cancelled (`cancelWorkflow`, or its parent's cancel with `cancelChildren`): its
 * status is `CANCELLED`. `getResult()` rejects with it; inside the workflow, the operation that meets
 * the cancel rejects with it (and the run stops there); `send` to the workflow is refused with it.
 * `resumeWorkflow` returns the workflow to `PENDING`.
 */
export class WorkflowCancelledError extends DurabliteError {
  declare readonly workflowUUID: string;
  constructor(workflowUUID: string, message?: string, code = 'WORKFLOW_CANCELLED') {
    super(
      code,
      message ?? `Workflow "${workflowUUID}" was cancelled. Resume it with resumeWorkflow("${workflowUUID}") to carry on from its recorded operations.`,
      { workflowUUID },
    );
  }
}

/**
 * The workflow's deadline (`timeoutSeconds`, its own or its parent's) passed: it was cancelled, with
 * this as the recorded reason. A WorkflowCancelledError, so code that handles cancels handles it too.
 */
export class WorkflowTimeoutError extends WorkflowCancelledError {
  /** The deadline that passed, in epoch milliseconds. */
  readonly deadlineMs: number;
  constructor(workflowUUID: string, deadlineMs: number) {
    super(
      workflowUUID,
      `Workflow "${workflowUUID}" timed out: its deadline (${new Date(deadlineMs).toISOString()}) passed, and it was cancelled. Resume it with resumeWorkflow("${workflowUUID}") to carry on without a deadline.`,
      'WORKFLOW_TIMEOUT',
    );
    this.deadlineMs = deadlineMs;
  }
}

/** A workflow-only operation was called where it is not allowed (from a step or outside workflows). */
export class WorkflowContextError extends DurabliteError {
  constructor(operation: string, where: string) {
    super(
      'NOT_IN_WORKFLOW',
      `\`${operation}\` can only be called from a workflow, not from ${where}. Move the call into the workflow function.`,
    );
  }
}

/**
 * The store failed to read or write the database (an I/O error, a read-only file, a lock held too
 * long, a server that went away...). The operation did not happen; what was committed before is
 * intact. `storageCode` is the store's own code: SQLite's result code on SQLite (e.g.
 * `'SQLITE_IOERR_WRITE'`), `PG_` and the SQLSTATE on PostgreSQL (e.g. `'PG_58030'`).
 *
 * @example
 * try { await engine.send(workflowUUID, message, 'topic'); }
 * catch (error) { if (error instanceof StorageError && error.storageCode.startsWith('SQLITE_BUSY')) ... }
 */
export class StorageError extends DurabliteError {
  /** The store's code: `'SQLITE_IOERR'`, `'SQLITE_BUSY'`..., or `'PG_<SQLSTATE>'` such as `'PG_53100'`. */
  readonly storageCode: string;
  constructor(storageCode: string, message: string, options?: { cause?: unknown }, code = 'STORAGE_FAILED') {
    super(code, message, {}, options);
    this.storageCode = storageCode;
  }

  /**
   * The former name of {@link StorageError.storageCode}, from when SQLite was the only store.
   *
   * @deprecated Use `storageCode`, which holds the same value on every store.
   */
  get sqliteCode(): string {
    return this.storageCode;
  }
}

/** The database could not grow: the disk (or the database's size limit) is full. */
export class StorageFullError extends StorageError {
  constructor(storageCode: string, options?: { cause?: unknown }) {
    super(
      storageCode,
      'The database is full: the disk (or its `max_page_count` limit) has no room for this write. The operation was not recorded and everything committed before is intact; free space, then retry.',
      options,
      'STORAGE_FULL',
    );
  }
}

/**
 * A stored record cannot be read back: it is damaged, or was written by a durablite that encoded
 * values differently. Nothing stops over it: the workflow it belongs to is marked `ERROR` with this
 * error (and a warning names it), listings show this error in the unreadable value's place, and
 * every other workflow runs.
 */
export class UnreadableRecordError extends DurabliteError {
  declare readonly workflowUUID: string;
  /** Which record, e.g. `'inputs'` or `'result of operation #3 (recv)'`. */
  readonly record: string;
  constructor(workflowUUID: string, record: string, cause: unknown) {
    super(
      'UNREADABLE_RECORD',
      `The stored ${record} of workflow "${workflowUUID}" cannot be read back (${cause instanceof Error ? cause.message : String(cause)}): the record is damaged, or was written by an incompatible version of durablite.`,
      { workflowUUID },
      { cause },
    );
    this.record = record;
  }
}

/**
 * A value was written to a stream that takes no more: `closeStream` closed it, or its workflow
 * finished. Nothing was written. From a workflow, this is the operation's recorded outcome.
 */
export class StreamClosedError extends DurabliteError {
  declare readonly workflowUUID: string;
  readonly key: string;
  constructor(workflowUUID: string, key: string) {
    super(
      'STREAM_CLOSED',
      `Stream "${key}" of workflow "${workflowUUID}" is closed (by closeStream, or because the workflow finished), so it takes no more values. Write to a new key instead.`,
      { workflowUUID },
    );
    this.key = key;
  }
}

/**
 * A stream reader waited `timeoutSeconds` for the next value and none came, though the stream has
 * not ended. Not the end of the stream: read on from `offset` with a new reader.
 */
export class StreamTimeoutError extends DurabliteError {
  declare readonly workflowUUID: string;
  readonly key: string;
  /** The offset of the value that did not come: where a new reader picks up. */
  readonly offset: number;
  readonly timeoutSeconds: number;
  constructor(workflowUUID: string, key: string, offset: number, timeoutSeconds: number) {
    super(
      'STREAM_TIMEOUT',
      `No value came at offset ${offset} of stream "${key}" of workflow "${workflowUUID}" within ${timeoutSeconds} s, and the stream has not ended. Read on with \`fromOffset: ${offset}\`, or give a longer \`timeoutSeconds\`.`,
      { workflowUUID },
    );
    this.key = key;
    this.offset = offset;
    this.timeoutSeconds = timeoutSeconds;
  }
}

/**
 * String() of what `read` yields, for values that refuse it (a null-prototype object, a throwing
 * toString or getter, a revoked Proxy): then their `[object Type]` tag, or a fixed phrase. Never
 * throws, so logging or recording whatever was thrown cannot fail in turn.
 */
export function safeString(read: () => unknown): string {
  let value: unknown;
  try {
    value = read();
    return String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return 'a thrown value that cannot be described';
    }
  }
}

/**
 * The classes by name, so the codec can rebuild a recorded error as the same class on replay
 * (`instanceof` keeps working after a crash).
 */
export const errorClassesByName: ReadonlyMap<string, Function> = new Map<string, Function>([
  ['DurabliteError', DurabliteError],
  ['WorkflowNotFoundError', WorkflowNotFoundError],
  ['DuplicateEventKeyError', DuplicateEventKeyError],
  ['WorkflowConflictError', WorkflowConflictError],
  ['WorkflowPendingError', WorkflowPendingError],
  ['DeterminismError', DeterminismError],
  ['SerializationError', SerializationError],
  ['PayloadTooLargeError', PayloadTooLargeError],
  ['SchemaVersionError', SchemaVersionError],
  ['DatabaseOpenError', DatabaseOpenError],
  ['DatabaseOwnedError', DatabaseOwnedError],
  ['EngineClosedError', EngineClosedError],
  ['RegistrationError', RegistrationError],
  ['MaxRecoveryAttemptsExceededError', MaxRecoveryAttemptsExceededError],
  ['WorkflowContextError', WorkflowContextError],
  ['StepRetriesExceededError', StepRetriesExceededError],
  ['WorkflowCancelledError', WorkflowCancelledError],
  ['WorkflowTimeoutError', WorkflowTimeoutError],
  ['StorageError', StorageError],
  ['StorageFullError', StorageFullError],
  ['UnreadableRecordError', UnreadableRecordError],
  ['StreamClosedError', StreamClosedError],
  ['StreamTimeoutError', StreamTimeoutError],
  ['Error', Error],
  ['TypeError', TypeError],
  ['RangeError', RangeError],
  ['SyntaxError', SyntaxError],
  ['ReferenceError', ReferenceError],
  ['EvalError', EvalError],
  ['URIError', URIError],
]);
