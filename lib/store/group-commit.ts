// Group commit: the first write of a turn opens a transaction; every write made before the pending
// promise callbacks run out joins it; one COMMIT (one fsync in FULL mode) then makes them durable
// together. Callers await `durable()` before they report success, so a resolved promise still
// means "committed". Each operation's own statements run in a savepoint inside, so one failing
// operation rolls back alone. SQLite failures leave here as StorageError; when SQLite rolled the
// whole transaction back (it may, on a full disk or an I/O error), the batch fails as one.
import { StorageError, StorageFullError } from '../errors';
import type { SqliteDatabase } from './database';

/** Test-only fault injection around each commit; see `setCommitFaultHook`. */
export interface CommitFaultHook {
  /** Called with the commit's 1-based sequence number just before COMMIT. */
  beforeCommit?(commitNumber: number): void;
  /** Called just after COMMIT succeeded. */
  afterCommit?(commitNumber: number): void;
}

let faultHook: CommitFaultHook | null = null;

/**
 * Installs (or, with null, removes) a process-wide fault hook around every group commit. For crash
 * tests only: off unless set, and then costs one null check per commit.
 */
export function setCommitFaultHook(hook: CommitFaultHook | null): void {
  faultHook = hook;
}

interface Batch {
  readonly durable: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

export class GroupCommitter {
  readonly #db: SqliteDatabase;
  readonly #begin;
  readonly #commit;
  readonly #rollback;
  #batch: Batch | null = null;
  #commits = 0;
  #halted = false;
  #beforeCommit: (() => void) | null = null;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
  }

  /** Runs `hook` inside every transaction just before it commits (to flush writes gathered in memory). */
  setBeforeCommit(hook: (() => void) | null): void {
    this.#beforeCommit = hook;
  }

  /** Commits made so far by this committer. */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Runs `write` inside the current turn's transaction, opening it if needed.
   * @throws StorageError (StorageFullError for a full disk) when SQLite fails; nothing of `write` stays.
   */
  write<T>(write: () => T): T {
    if (this.#halted) throw new Error('This store was halted; it writes nothing more.');
    if (this.#batch === null) this.#open();
    try {
      return write();
    } catch (error) {
      const failure = toStorageError(error);
      // SQLite undid the whole transaction, not just this write: the batch's earlier writes are gone,
      // so its callers must hear it, and the next write must open a new transaction rather than run
      // outside one (committing at once, while its caller is told the batch failed).
      const batch = this.#batch;
      if (batch !== null && !this.#db.inTransaction) {
        this.#batch = null;
        batch.reject(failure);
      }
      throw failure;
    }
  }

  /** The promise of the open transaction's commit, or undefined when nothing is waiting to commit. */
  durable(): Promise<void> | undefined {
    return this.#batch?.durable;
  }

  /** Commits the open transaction now (before a graceful close). */
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

  #open(): void {
    try {
      this.#begin.run();
    } catch (error) {
      throw toStorageError(error);
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const durable = new Promise<void>((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    // A failed commit rejects every caller awaiting it; nobody may be awaiting yet, so mark it handled.
    durable.catch(() => {});
    const batch: Batch = { durable, resolve, reject };
    this.#batch = batch;
    queueMicrotask(() => {
      if (this.#batch === batch) this.#finish(batch);
    });
  }

  #finish(batch: Batch): void {
    this.#batch = null;
    const commitNumber = ++this.#commits;
    try {
      this.#beforeCommit?.();
      faultHook?.beforeCommit?.(commitNumber);
      this.#commit.run();
    } catch (error) {
      if (this.#db.inTransaction) this.#rollback.run();
      batch.reject(toStorageError(error));
      return;
    }
    faultHook?.afterCommit?.(commitNumber);
    batch.resolve();
  }
}

/**
 * Whether `error` is a store failure raised in this process, as opposed to a StorageError decoded
 * from a record (a step's recorded error, replayed), which is an ordinary outcome.
 */
export function isStoreFailure(error: unknown): error is StorageError {
  return error instanceof StorageError && sqliteCodeOf(error.cause) !== undefined;
}

/** SQLite's errors as StorageError (StorageFullError for a full disk); any other error as it is. */
export function toStorageError(error: unknown): unknown {
  const code = sqliteCodeOf(error);
  if (code === undefined) return error;
  if (code === 'SQLITE_FULL') return new StorageFullError(code, { cause: error });
  return new StorageError(code, `SQLite failed: ${(error as Error).message} (${code}). The operation was not recorded; what was committed before is intact.`, { cause: error });
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
