// Client: the face of a Session that does not run workflows. It talks to a database that an Engine
// in another process owns; workflows it starts are picked up and run by the owner. Any number of
// clients may be open at once.
import fs from 'node:fs';
import type { Awaitable } from './awaitable';
import type { StartWorkflowOptions, WorkflowHandle, WorkflowTarget } from './contracts';
import { registrationOf, type WorkflowRef } from './decorators';
import { DatabaseOpenError } from './errors';
import { HandlerBase, startOptionsTimeoutMs, startOptionsUUID } from './handler';
import { assertOpen } from './ops/environment';
import { WorkflowHandleImpl } from './ops/handle';
import { startWorkflow } from './ops/lifecycle';
import { resolveOptions } from './options';
import type { PostgresOptions } from './postgres/database';
import { SystemClock, type Clock } from './runtime/clock';
import { Session } from './session';
import { isInMemory, type SynchronousMode } from './store/database';
import { SqliteStore } from './store/sqlite-store';
import { requireNonEmptyString, typeError } from './validate';

/** Options of {@link Client.open}. */
export interface ClientOptions {
  /**
   * Path of the database file an Engine owns (or will own), not `':memory:'`; or the PostgreSQL URL
   * its engines share.
   */
  database: string;
  /** For a PostgreSQL `database` only: its schema and connection settings (see EngineOptions.postgres). */
  postgres?: PostgresOptions;
  /** Durability of the client's own commits (sends, starts). @default 'FULL' */
  synchronous?: SynchronousMode;
  /** The source of time for getEvent deadlines and timestamps. @default a SystemClock */
  clock?: Clock;
  /** Largest serialized payload in bytes. @default 16 MiB */
  maxPayloadBytes?: number;
  /**
   * Create the database when the file does not exist. Off by default, so a mistyped path is an
   * error rather than a new, empty database.
   * @default false
   */
  create?: boolean;
  /**
   * Open the database read-only: nothing is ever written to it (no schema created or upgraded, no
   * journal-mode switch), and it must already be a durablite database of this version. Reads,
   * listings and waits work; writes (`send`, `startWorkflow`) reject with StorageError. Cannot be
   * combined with `create`. On PostgreSQL the client's connections refuse writes on the server too.
   * @default false
   */
  readOnly?: boolean;
}

/**
 * The session of a Client on `options.database` (Client.open is `new Client(openClientSession(options))`).
 * @internal
 * @throws as {@link Client.open}.
 */
export function openClientSession(options: ClientOptions): Awaitable<Session> {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
  if (typeof options.database === 'string' && isInMemory(options.database)) {
    throw typeError('database', 'a file path (an in-memory database cannot be shared between processes)', options.database);
  }
  const resolved = resolveOptions({
    database: options.database,
    synchronous: options.synchronous ?? 'FULL',
    clock: options.clock ?? new SystemClock(),
    ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
    ...(options.postgres === undefined ? {} : { postgres: options.postgres }),
    recover: false,
  });
  if (resolved.postgres !== null) return Session.openPostgresClient(resolved, options.readOnly === true);
  if (options.readOnly === true) {
    if (options.create === true) throw typeError('create', 'false or absent with `readOnly: true`', options.create);
    return Session.forClient(resolved, SqliteStore.openReadOnly(resolved.database));
  }
  if (options.create !== true && !fs.existsSync(resolved.database)) {
    throw new DatabaseOpenError(resolved.database, 'the file does not exist. Check the path, or pass `create: true` to create it.');
  }
  // Each write of a client commits at once and never waits for the lock blocking the thread: see CommitMode.
  return Session.forClient(resolved, SqliteStore.open(resolved.database, resolved.synchronous, null, 'alone'));
}

/**
 * A connection to a database owned by an Engine in another process (a CLI command, a second
 * window, a cron job). It sends messages, reads and awaits events and results, lists what is stored,
 * and starts workflows by name for the owner to run. Waits wake within milliseconds of the owner's
 * commit, without polling each waiter.
 *
 * @example
 * const client = await Client.open({ database: 'deploy.db' });
 * await client.send('deploy-42', { approvedBy: 'ada' }, 'approval');
 * console.log(await client.retrieveWorkflow('deploy-42').getResult());
 * await client.close();
 */
export class Client extends HandlerBase {
  readonly #session: Session;

  /**
   * Opens a client on an existing `database` (or creates it, with `create: true`; or only reads it,
   * with `readOnly: true`).
   * @throws TypeError for bad options (including `':memory:'`); DatabaseOpenError (also when the
   *   file does not exist and `create` is not set, and with `readOnly` when the file is not a
   *   durablite database of the current schema); SchemaVersionError.
   */
  static async open(options: ClientOptions): Promise<Client> {
    return new Client(await openClientSession(options));
  }

  /** @internal Use {@link Client.open}. */
  constructor(session: Session) {
    super(session);
    this.#session = session;
  }

  /**
   * Records a new workflow for the owner to run, by registered name (or a registered ref or decorated
   * method), and resolves to its handle. Starting a UUID that exists returns the existing workflow.
   * The owner runs it within milliseconds while it is busy, and within half a second when idle.
   *
   * @example
   * const handle = await client.startWorkflow('Deploy.run', { workflowUUID: 'deploy-42' }, 'v1.2.3');
   * @throws TypeError for a bad name or options; WorkflowConflictError when the UUID belongs to
   *   another workflow; SerializationError/PayloadTooLargeError for inputs.
   */
  async startWorkflow<R = unknown>(workflow: string | WorkflowTarget<any[], R>, options?: StartWorkflowOptions, ...args: unknown[]): Promise<WorkflowHandle<R>> {
    const env = this.#session;
    assertOpen(env, 'startWorkflow');
    const registration = typeof workflow === 'string' ? undefined : (registrationOf(workflow) as WorkflowRef | undefined);
    const workflowName = typeof workflow === 'string'
      ? requireNonEmptyString('workflow', workflow)
      : registration?.name ?? requireNonEmptyString('workflow', undefined);
    const workflowUUID = startOptionsUUID(options);
    // A name alone carries no default timeout: only `timeoutSeconds`, or a registration's default.
    const timeoutMs = startOptionsTimeoutMs(options, registration);
    // Recorded only: the owner runs it.
    await startWorkflow(env, workflowName, workflowUUID, args, timeoutMs);
    return new WorkflowHandleImpl<R>(env, workflowUUID);
  }

  /** Closes the client; its waiting calls reject with EngineClosedError. Idempotent. */
  async close(): Promise<void> {
    await this.#session.close();
  }
}
