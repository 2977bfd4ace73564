// How the PostgreSQL store runs its statements: each write one transaction on a connection of the pool,
// which settles only once COMMIT answered; reads on the pool. Every failure of the server or of a
// connection becomes a StorageError this runner raised (and only those count as the store's own).
import type pg from 'pg';
import { DurabliteError, StorageError, StorageFullError } from '../errors';
import type { CommitInterceptor, CommitObserver } from '../store/store';
import type { PostgresDatabase } from './database';
import type { Sql } from './sql';

/** How many times a transaction runs when the server rolls it back as a deadlock's or serialization's victim. */
const MAX_ATTEMPTS = 5;
/** SQLSTATEs after which the whole transaction was rolled back and may simply run again. */
const RETRYABLE = new Set(['PG_40P01', 'PG_40001']);

/** Where a transaction failed: before COMMIT was sent (nothing kept), or during it (outcome unknown if the connection broke). */
type FailurePhase = 'work' | 'commit';

/**
 * Runs just before COMMIT in every transaction: writes that join the next commit (the recovery-count
 * resets). Returns what to undo if that commit then fails. `pending` tells whether it has any.
 */
export interface BeforeCommit {
  pending(): boolean;
  run(sql: Sql): Promise<(() => void) | undefined>;
}

export class TransactionRunner {
  readonly #database: PostgresDatabase;
  readonly #interceptor: CommitInterceptor | null;
  readonly #raised = new WeakSet<object>();
  /** Plain queries on the pool: committed rows only. */
  readonly reader: Sql;
  observer: CommitObserver | null = null;
  #beforeCommit: BeforeCommit | null = null;
  #commits = 0;
  /** Transactions and reads under way (the testing kit's runUntilIdle waits until none is). */
  #inFlight = 0;
  /**
   * Writes under way, each as a promise that settles with it (never rejecting), with the workflows it
   * touches (null: unknown, any): what a read in call order waits for (see writesSettled).
   */
  readonly #writes = new Map<Promise<void>, readonly string[] | null>();
  /** The last write asked for, by line of call order (settled, never rejecting): see #inOrder. */
  readonly #lines = new Map<string, Promise<void>>();
  #stopped: 'halted' | 'closed' | null = null;
  #readOnly = false;
  /** What a halted runner refuses with, when not the plain PG_HALTED (see stop). */
  #haltedBy: StorageError | null = null;

  constructor(database: PostgresDatabase, interceptor: CommitInterceptor | null) {
    this.#database = database;
    this.#interceptor = interceptor;
    const pool = database.pool;
    this.reader = {
      query: async (text, values, name) => {
        this.#inFlight++;
        try {
          return await pool.query({ text, values, name });
        } catch (error) {
          throw this.#toFailure(error, 'work');
        } finally {
          this.#inFlight--;
        }
      },
    };
  }

  /** How many transactions and reads of this runner are under way. */
  get inFlight(): number {
    return this.#inFlight;
  }

  setBeforeCommit(hook: BeforeCommit | null): void {
    this.#beforeCommit = hook;
  }

  /** Whether this runner raised `error` (a failure of this store, in this process). */
  raised(error: unknown): error is StorageError {
    return typeof error === 'object' && error !== null && this.#raised.has(error);
  }

  get halted(): boolean {
    return this.#stopped === 'halted';
  }

  /**
   * Refuses every later write; `'halted'` also rolls back those under way rather than commit them,
   * refusing with `reason` when given (a StorageError of this runner's, see failure).
   */
  stop(how: 'halted' | 'closed', reason: StorageError | null = null): void {
    if (this.#stopped === 'halted') return;
    this.#stopped = how;
    if (how === 'halted') this.#haltedBy = reason;
  }

  /**
   * Runs `work` in one transaction and resolves once it committed. Rejects with what `work` threw
   * (after the ROLLBACK), or with this runner's StorageError when the server or the connection
   * failed; a deadlock's victim runs again (see RETRYABLE). `evenIfClosed`: the last writes of a close.
   * `scope`: the workflows it touches (null: unknown; [] for none a caller reads in call order, such
   * as the beat's claims), for the reads that wait for it (writesSettled).
   */
  run<T>(work: (sql: Sql) => Promise<T>, evenIfClosed = false, scope: readonly string[] | null = null): Promise<T> {
    return this.#tracked(this.#retried(() => this.#runOnce(work, evenIfClosed)), scope);
  }

  /** Keeps `write` among the writes under way until it settles, with the workflows it touches (see writesSettled). */
  #tracked<T>(write: Promise<T>, scope: readonly string[] | null): Promise<T> {
    const settled = write.then(() => {}, () => {});
    this.#writes.set(settled, scope);
    void settled.then(() => this.#writes.delete(settled));
    return write;
  }

  /**
   * Resolves once every write under way now that may touch `workflowUUID` (every one, when it is
   * undefined) has committed or failed; later ones are not waited for. Undefined when there is none.
   * A read about one workflow so never waits behind a write to another that waits for a lock.
   */
  writesSettled(workflowUUID?: string): Promise<void> | undefined {
    const waited: Promise<void>[] = [];
    for (const [settled, scope] of this.#writes) {
      if (workflowUUID === undefined || scope === null || scope.includes(workflowUUID)) waited.push(settled);
    }
    return waited.length === 0 ? undefined : Promise.all(waited).then(() => {});
  }

  /**
   * Runs `once` until it succeeds, again (a few times) when the server rolled it back as a deadlock's
   * or serialization's victim; tells the observer of this runner's failure that ends it.
   */
  async #retried<T>(once: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once();
        } catch (error) {
          const own = this.raised(error);
          if (own && attempt < MAX_ATTEMPTS && RETRYABLE.has(error.storageCode)) continue;
          if (own) this.observer?.failed(error);
          throw error;
        }
      }
    } finally {
      this.#inFlight--;
    }
  }

  /**
   * Runs `write`, which sends exactly one statement (a call of a recording function, see
   * recording-functions.ts), in autocommit: one round trip, its own transaction, committed when it
   * answers. Counted, intercepted and observed as a commit, retried and failed as run's transactions
   * are. While writes wait to join the next commit (BeforeCommit), it runs as a transaction with them.
   * `scope`: the workflows it touches (null: unknown), for the reads that wait for it (writesSettled),
   * which count it from this call on. `order`: its line of call order (see #inOrder), if any.
   */
  single<T>(write: (sql: Sql) => Promise<T>, scope: readonly string[] | null = null, order?: string): Promise<T> {
    const send = (): Promise<T> => (this.#beforeCommit?.pending() ? this.#retried(() => this.#runOnce(write, false)) : this.#retried(() => this.#singleOnce(write)));
    return this.#tracked(order === undefined ? send() : this.#inOrder(order, send), scope);
  }

  /**
   * Runs `send` once the writes of line `order` asked for before it have settled, so that they commit
   * in call order, as SQLite's single writer commits them (the lines are the store's: one workflow's
   * own writes, a handler's sends to one workflow...). They would take the workflow's row lock one
   * after the other anyway; on a pool, in whatever order.
   */
  #inOrder<T>(order: string, send: () => Promise<T>): Promise<T> {
    const previous = this.#lines.get(order);
    const written = previous === undefined ? send() : previous.then(send);
    const settled = written.then(() => {}, () => {});
    this.#lines.set(order, settled);
    void settled.then(() => {
      if (this.#lines.get(order) === settled) this.#lines.delete(order);
    });
    return written;
  }

  async #singleOnce<T>(write: (sql: Sql) => Promise<T>): Promise<T> {
    this.refuseIfStopped(false);
    const commitNumber = ++this.#commits;
    try {
      this.#interceptor?.beforeCommit?.(commitNumber);
    } catch (error) {
      throw this.#toFailure(error, 'work', true);
    }
    const pool = this.#database.pool;
    const startedAt = performance.now();
    const value = await write({
      query: async (text, values, name) => {
        try {
          return await pool.query({ text, values, name });
        } catch (error) {
          // The statement is its own commit: a connection lost while it ran leaves the outcome unknown.
          throw this.#toFailure(error, 'commit');
        }
      },
    });
    const durationMs = performance.now() - startedAt;
    this.#interceptor?.afterCommit?.(commitNumber);
    this.observer?.committed(commitNumber, 1, durationMs);
    return value;
  }

  /** Runs `read` in one REPEATABLE READ, READ ONLY transaction: several statements, one snapshot. */
  async snapshot<T>(read: (sql: Sql) => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await this.#withConnection(async (sql) => {
        await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const value = await read(sql);
        await sql.query('COMMIT');
        return value;
      });
    } finally {
      this.#inFlight--;
    }
  }

  async #runOnce<T>(work: (sql: Sql) => Promise<T>, evenIfClosed: boolean): Promise<T> {
    this.refuseIfStopped(evenIfClosed);
    let undo: (() => void) | undefined;
    try {
      return await this.#withConnection(async (sql, setPhase) => {
        await sql.query('BEGIN');
        const value = await work(sql);
        undo = await this.#beforeCommit?.run(sql);
        // Halted meanwhile: as in a process killed before its COMMIT, none of it stays.
        this.refuseIfStopped(true);
        const commitNumber = ++this.#commits;
        try {
          this.#interceptor?.beforeCommit?.(commitNumber);
        } catch (error) {
          throw this.#toFailure(error, 'work', true);
        }
        setPhase('commit');
        const startedAt = performance.now();
        await sql.query('COMMIT');
        const durationMs = performance.now() - startedAt;
        this.#interceptor?.afterCommit?.(commitNumber);
        this.observer?.committed(commitNumber, 1, durationMs);
        return value;
      });
    } catch (error) {
      undo?.();
      throw error;
    }
  }

  /**
   * Runs `use` on a connection of the pool, rolling back whatever it left open when it throws. While
   * the connection is out, its 'error' event (the server ended it) has a listener: the query under way
   * rejects with the same failure, which is what reaches the caller.
   */
  async #withConnection<T>(use: (sql: Sql, setPhase: (phase: FailurePhase) => void) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#database.pool.connect();
    } catch (error) {
      throw this.#toFailure(error, 'work');
    }
    // The server may end the connection while it is out (its query then rejects with that failure):
    // noted, so that it is closed rather than handed to the next write.
    let broken = false;
    const onConnectionError = (): void => {
      broken = true;
    };
    client.on('error', onConnectionError);
    let phase: FailurePhase = 'work';
    const sql: Sql = {
      query: async (text, values, name) => {
        try {
          return await client.query({ text, values, name });
        } catch (error) {
          throw this.#toFailure(error, phase);
        }
      },
    };
    try {
      return await use(sql, (next) => {
        phase = next;
      });
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.off('error', onConnectionError);
      // A connection that cannot even roll back is closed rather than handed to the next write.
      client.release(broken);
    }
  }

  /** From now on every write rejects with StorageError PG_READ_ONLY before it is sent (a read-only open). Reads go on. */
  refuseWrites(): void {
    this.#readOnly = true;
  }

  /** Throws this runner's StorageError when it was halted, or closed (unless `evenIfClosed`), or opened read-only. */
  refuseIfStopped(evenIfClosed = false): void {
    if (this.#readOnly) throw this.#mark(new StorageError('PG_READ_ONLY', 'This client was opened read-only (`readOnly: true`): it writes nothing. Open a Client without `readOnly` to send or start workflows.'));
    if (this.#stopped === 'halted') throw this.#haltedBy ?? this.#mark(new StorageError('PG_HALTED', 'This store was halted: it writes nothing more. Open the database again.'));
    if (this.#stopped === 'closed' && !evenIfClosed) throw this.#mark(new StorageError('PG_CLOSED', 'This store is closed: it writes nothing more. Open the database again.'));
  }

  /** A StorageError of this store's own making (see raised): a failure that ends a workflow's run. */
  failure(code: string, message: string): StorageError {
    return this.#mark(new StorageError(code, message));
  }

  #mark<E extends StorageError>(error: E): E {
    this.#raised.add(error);
    return error;
  }

  /**
   * pg's and the server's errors as this runner's StorageError (StorageFullError for a full disk), its
   * code the SQLSTATE (or the connection's error code) after `PG_`. Errors of durablite's own (a
   * refusal of the transaction's work) pass as they are, unless `always` (a commit interceptor's
   * throw, which fails the commit as the server's failure would).
   */
  #toFailure(error: unknown, phase: FailurePhase, always = false): unknown {
    if (error instanceof StorageError) return this.raised(error) ? error : this.#mark(error);
    if (error instanceof DurabliteError && !always) return error;
    const { code, message = String(error) } = (error ?? {}) as { code?: unknown; message?: string };
    const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
    const pgCode = `PG_${sqlState ?? (typeof code === 'string' ? code : always ? 'INTERCEPTED' : 'CONNECTION')}`;
    if (sqlState === '53100') return this.#mark(new StorageFullError(pgCode, { cause: error }));
    // A connection broken during COMMIT: the server may have committed before it went.
    const unknownOutcome = phase === 'commit' && (sqlState === undefined || sqlState.startsWith('08') || sqlState.startsWith('57'));
    const consequence = unknownOutcome
      ? 'The connection was lost while committing: the operation may or may not have been recorded; the workflow resumes from what its records show.'
      : 'The operation was not recorded; what was committed before is intact.';
    return this.#mark(new StorageError(pgCode, `PostgreSQL failed: ${message} (${pgCode}). ${consequence}`, { cause: error }));
  }
}

