// Group commit: the first write of a turn opens a transaction; every write made before the pending
// promise callbacks run out joins it; one COMMIT (one fsync in FULL mode) then makes them durable
// together. Each write is handed the Commit of the batch it joined, captured as it writes: its
// caller awaits exactly that commit before reporting success, so a resolved promise means
// "committed", and a failed commit reaches every caller of its batch. Each operation's own statements
// run in a savepoint inside, so one failing operation rolls back alone. SQLite failures leave here as
// StorageError; when SQLite rolled the whole transaction back (it may, on a full disk or an I/O
// error), the batch fails as one.
import { StorageError, StorageFullError } from '../errors';
import type { SqliteDatabase } from './database';
import { ALREADY_COMMITTED, type Commit, type CommitInterceptor, type CommitObserver, type Written } from './store';

class Batch implements Commit {
  readonly durable: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  failureListeners: ((error: unknown) => void)[] | null = null;
  settleListeners: (() => void)[] | null = null;
  settled = false;
  writes = 0;

  constructor() {
    this.durable = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Every caller awaits its own captured commit; this only keeps a batch nobody awaits (a
    // bookkeeping write) from surfacing as an unhandled rejection.
    this.durable.catch(() => {});
  }

  onFailure(listener: (error: unknown) => void): void {
    (this.failureListeners ??= []).push(listener);
  }
}


/**
 * How a store commits. `'grouped'` (an owner): writes of one turn share a commit, and a write that
 * finds the lock held by another connection waits for it (SQLite's busy timeout, blocking the
 * thread). `'alone'` (a client): each write commits at once, so the lock is never held across an
 * await, and a write that finds the lock held fails at once with SQLITE_BUSY for its caller to wait
 * asynchronously (see waitForLock): a client never blocks its event loop on the owner's lock, and a
 * client and an owner can share one process.
 */
export type CommitMode = 'grouped' | 'alone';

export class GroupCommitter {
  readonly #db: SqliteDatabase;
  readonly #interceptor: CommitInterceptor | null;
  readonly #mode: CommitMode;
  readonly #begin;
  readonly #commit;
  readonly #rollback;
  readonly #busyTimeoutMs: number;
  #batch: Batch | null = null;
  // The failures this committer raised: only these end a workflow's run (a StorageError a step threw
  // from another database, or one decoded from a record, is an ordinary outcome).
  readonly #raised = new WeakSet<object>();
  // The number of the last commit: it numbers each commit for the interceptor and the commit event.
  #commits = 0;
  #halted = false;
  #beforeCommit: (() => (() => void) | void) | null = null;
  #observer: CommitObserver | null = null;

  constructor(db: SqliteDatabase, interceptor: CommitInterceptor | null = null, mode: CommitMode = 'grouped') {
    this.#db = db;
    this.#interceptor = interceptor;
    this.#mode = mode;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#busyTimeoutMs = db.pragma('busy_timeout', { simple: true }) as number;
  }

  /** Whether a write that finds the lock held fails at once (SQLITE_BUSY) instead of waiting for it. */
  get failsFastOnLock(): boolean {
    return this.#mode === 'alone';
  }

  /** Tells `observer` of every commit and failure from now on. */
  setObserver(observer: CommitObserver | null): void {
    this.#observer = observer;
  }

  /**
   * Runs `hook` inside every transaction just before it commits (to flush writes gathered in
   * memory). What it returns is called if that commit then fails, to gather those writes again.
   */
  setBeforeCommit(hook: (() => (() => void) | void) | null): void {
    this.#beforeCommit = hook;
  }

  /** Whether `error` is a failure of this committer's database, raised in this process. */
  raised(error: unknown): error is StorageError {
    return typeof error === 'object' && error !== null && this.#raised.has(error);
  }

  /** The open transaction's commit, or null when none is open (nothing uncommitted is visible). */
  get open(): Commit | null {
    return this.#batch;
  }

  /**
   * Runs `write` inside the current turn's transaction, opening it if needed, and returns its value
   * with the commit to await.
   * @throws StorageError (StorageFullError for a full disk) when SQLite fails; nothing of `write` stays.
   */
  write<T>(write: () => T): Written<T> {
    if (this.#halted) throw new Error('This store was halted; it writes nothing more.');
    if (this.#mode === 'alone') return this.#writeAlone(write);
    const batch = this.#batch ?? this.#open();
    batch.writes++;
    try {
      return { value: write(), commit: batch };
    } catch (error) {
      const failure = this.#toFailure(error);
      // SQLite undid the whole transaction, not just this write: the batch's earlier writes are gone,
      // so its callers must hear it, and the next write must open a new transaction rather than run
      // outside one (committing at once, while its caller is told the batch failed).
      if (this.#batch === batch && !this.#db.inTransaction) {
        this.#batch = null;
        this.#fail(batch, failure);
      }
      throw failure;
    }
  }

  /**
   * Runs `read` once no uncommitted write is visible to it: at once when no transaction is open,
   * else right after the open one commits or rolls back, before any other code runs. So it sees
   * committed rows only, whatever else shares the turn.
   */
  readCommitted<T>(read: () => T): Promise<T> {
    const batch = this.#batch;
    if (batch === null) {
      try {
        return Promise.resolve(read());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      (batch.settleListeners ??= []).push(() => {
        try {
          resolve(read());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /** Calls `listener` right after the open transaction settles, or at once when none is open. */
  afterSettle(listener: () => void): void {
    const batch = this.#batch;
    if (batch === null) listener();
    else (batch.settleListeners ??= []).push(listener);
  }

  /**
   * Commits the open transaction now, synchronously.
   * @throws StorageError when that commit failed (its callers are rejected as well).
   */
  commitNow(): void {
    const batch = this.#batch;
    if (batch === null) return;
    const failure = this.#finish(batch);
    if (failure !== undefined) throw failure;
  }

  /** Commits the open transaction now (before a graceful close); a failure reaches its callers only. */
  flush(): void {
    if (this.#batch !== null) this.#finish(this.#batch);
  }

  /** Stops as a killed process would: the open transaction is rolled back and never reported. */
  halt(): void {
    this.#halted = true;
    const batch = this.#batch;
    this.#batch = null;
    if (batch !== null && this.#db.open && this.#db.inTransaction) this.#rollback.run();
  }

  /** A write in a transaction of its own, committed before this returns. */
  #writeAlone<T>(write: () => T): Written<T> {
    // Not a prepared statement: SQLite applies an assigning PRAGMA when it is prepared, not when run.
    this.#db.pragma('busy_timeout = 0');
    try {
      this.#begin.run();
    } catch (error) {
      // A held lock is waited for by the caller (writeWhenUnlocked): not a failure to report yet.
      throw this.#toFailure(error, !(toStorageError(error) as StorageError)?.storageCode?.startsWith('SQLITE_BUSY'));
    } finally {
      this.#db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`);
    }
    const commitNumber = ++this.#commits;
    let value: T;
    try {
      value = write();
    } catch (error) {
      if (this.#db.inTransaction) this.#rollback.run();
      throw this.#toFailure(error);
    }
    const durationMs = this.#runCommit(commitNumber);
    this.#interceptor?.afterCommit?.(commitNumber);
    this.#observer?.committed(commitNumber, 1, durationMs);
    return { value, commit: ALREADY_COMMITTED };
  }

  #open(): Batch {
    try {
      this.#begin.run();
    } catch (error) {
      throw this.#toFailure(error);
    }
    const batch = new Batch();
    this.#batch = batch;
    queueMicrotask(() => {
      if (this.#batch === batch) this.#finish(batch);
    });
    return batch;
  }

  /** Commits `batch`; returns the failure (after rolling back and rejecting its callers), if any. */
  #finish(batch: Batch): unknown {
    this.#batch = null;
    const commitNumber = ++this.#commits;
    let durationMs: number;
    try {
      durationMs = this.#runCommit(commitNumber);
    } catch (failure) {
      this.#fail(batch, failure);
      return failure;
    }
    this.#interceptor?.afterCommit?.(commitNumber);
    this.#observer?.committed(commitNumber, batch.writes, durationMs);
    batch.settled = true;
    runSettleListeners(batch);
    batch.resolve();
    return undefined;
  }

  /**
   * COMMIT with the hooks around it; returns how long COMMIT took. On failure the transaction is
   * rolled back, what the before-commit hook gathered is given back, and the failure is thrown.
   */
  #runCommit(commitNumber: number): number {
    let undo: (() => void) | void = undefined;
    try {
      undo = this.#beforeCommit?.();
      this.#interceptor?.beforeCommit?.(commitNumber);
      const startedAt = performance.now();
      this.#commit.run();
      return performance.now() - startedAt;
    } catch (error) {
      if (this.#db.inTransaction) this.#rollback.run();
      undo?.();
      throw this.#toFailure(error);
    }
  }

  #toFailure(error: unknown, report = true): unknown {
    const failure = toStorageError(error);
    if (failure instanceof StorageError) {
      this.#raised.add(failure);
      if (report) this.#observer?.failed(failure);
    }
    return failure;
  }

  #fail(batch: Batch, failure: unknown): void {
    batch.settled = true;
    const listeners = batch.failureListeners;
    batch.failureListeners = null;
    if (listeners !== null) for (const listener of listeners) listener(failure);
    runSettleListeners(batch);
    batch.reject(failure);
  }
}

function runSettleListeners(batch: Batch): void {
  const listeners = batch.settleListeners;
  batch.settleListeners = null;
  if (listeners !== null) for (const listener of listeners) listener();
}

/** SQLite's errors as StorageError (StorageFullError for a full disk); any other error as it is. */
export function toStorageError(error: unknown): unknown {
  const code = sqliteCodeOf(error);
  if (code === undefined) return error;
  if (code === 'SQLITE_FULL') return new StorageFullError(code, { cause: error });
  if (code.startsWith('SQLITE_BUSY')) {
    return new StorageError(code, `The database is locked by another connection that held it longer than the busy timeout (${code}). The operation was not recorded; what was committed before is intact.`, { cause: error });
  }
  return new StorageError(code, `SQLite failed: ${(error as Error).message} (${code}). The operation was not recorded; what was committed before is intact.`, { cause: error });
}

/**
 * An error shaped as better-sqlite3 raises it, for fault injection: it travels every path a real
 * SQLite failure does.
 */
export function simulatedSqliteError(code: string, message: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, 'name', { value: 'SqliteError', configurable: true, writable: true });
  return Object.assign(error, { code });
}

/**
 * The SQLite code of a better-sqlite3 error, else undefined. Not `instanceof`: the native addon
 * builds its errors from the SqliteError class of the first copy of the module loaded in the
 * process, which a test runner (one module registry and realm per test file) does not share.
 */
function sqliteCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, code } = error as { name?: unknown; code?: unknown };
  return name === 'SqliteError' && typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}
