// Engine options, each with its default, resolved and checked once into a frozen object.
import type { EngineWarning, ResolvedOptions } from './contracts';
import { safeString } from './errors';
import { isPostgresUrl, resolvePostgresOptions, type PostgresOptions, type ResolvedPostgresOptions } from './postgres/database';
import { SystemClock, type Clock } from './runtime/clock';

export type { EngineWarning, ResolvedOptions } from './contracts';
import type { SynchronousMode } from './store/database';
import { positiveInteger, requirePathOrUrl, typeError } from './validate';

/** Options of {@link Engine.open}. */
export interface EngineOptions {
  /**
   * Where the workflows are kept: the path of a SQLite file (created if missing; its folder must
   * exist), `':memory:'`, or a PostgreSQL URL (`postgres://user:password@host:5432/dbname`), where
   * several engines on several machines can share one database.
   */
  database: string;
  /**
   * For a PostgreSQL `database` only: the schema durablite's tables live in (default `'durablite'`),
   * how long connecting may take, and the size of the connection pool (see {@link PostgresOptions}).
   * Refused with a TypeError for a SQLite database.
   */
  postgres?: PostgresOptions;
  /**
   * Durability of each commit (SQLite; a PostgreSQL server's own `synchronous_commit` setting
   * decides there).
   * - `'FULL'`: the WAL is synced to disk on every commit: a resolved promise survives power loss.
   * - `'NORMAL'`: synced at checkpoints only: survives a process crash; on power loss the latest
   *   commits may roll back. Several times faster per commit.
   * @default 'FULL'
   */
  synchronous?: SynchronousMode;
  /**
   * The source of time for deadlines, sleeps and timestamps. Pass a `VirtualClock` (from
   * `durablite/testing`) to run hours of workflow time in milliseconds.
   * @default a SystemClock (Date.now and setTimeout)
   */
  clock?: Clock;
  /**
   * How many times recovery may resume a workflow that makes no progress (records no new operation
   * and reaches no wait) before it is marked `MAX_RECOVERY_ATTEMPTS_EXCEEDED`.
   * @default 10
   */
  maxRecoveryAttempts?: number;
  /**
   * Largest serialized payload (workflow inputs and outputs, step results, messages, event values),
   * in bytes. Larger values are refused with `PayloadTooLargeError` before anything is written.
   * @default 16 MiB
   */
  maxPayloadBytes?: number;
  /**
   * Resume unfinished workflows when the engine opens.
   * @default true
   */
  recover?: boolean;
  /**
   * Receives warnings (see {@link EngineWarning}). A handler that throws cannot break the engine:
   * its error is printed with console.error and the engine goes on.
   * @default prints to console.warn
   */
  onWarning?: (warning: EngineWarning) => void;
}


const defaultWarning = (warning: EngineWarning): void => console.warn(`durablite: ${warning.message}`);

/** The user's warning handler, unable to throw into the engine (a warning may be reported mid-recovery). */
function guardedWarning(onWarning: (warning: EngineWarning) => void): (warning: EngineWarning) => void {
  return (warning) => {
    try {
      onWarning(warning);
    } catch (error) {
      console.error(`durablite: the onWarning handler threw (${safeString(() => (error as Error)?.message ?? error)}) on this warning: ${warning.message}`);
    }
  };
}

/** Checks every option and fills in defaults. Throws TypeError/RangeError for a bad option. */
export function resolveOptions(options: EngineOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  const synchronous = options.synchronous ?? 'FULL';
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
    throw typeError('synchronous', "'FULL' or 'NORMAL'", synchronous);
  }
  const clock = options.clock ?? new SystemClock();
  if (typeof clock.now !== 'function' || typeof clock.setAlarm !== 'function') {
    throw typeError('clock', 'a Clock (with now() and setAlarm())', clock);
  }
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw typeError('onWarning', 'a function', options.onWarning);
  }
  const database = requirePathOrUrl('database', options.database);
  let postgres: ResolvedPostgresOptions | null = null;
  if (isPostgresUrl(database)) postgres = resolvePostgresOptions(options.postgres ?? {});
  else if (options.postgres !== undefined) throw typeError('postgres', 'absent for a SQLite database (it applies to a postgres:// URL only)', options.postgres);
  return Object.freeze({
    database,
    postgres,
    synchronous,
    clock,
    maxRecoveryAttempts: positiveInteger('maxRecoveryAttempts', options.maxRecoveryAttempts ?? 10),
    maxPayloadBytes: positiveInteger('maxPayloadBytes', options.maxPayloadBytes ?? 16 * 1024 * 1024),
    recover: options.recover ?? true,
    onWarning: options.onWarning === undefined ? defaultWarning : guardedWarning(options.onWarning),
  });
}
