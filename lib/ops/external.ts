// Commits made by other processes (clients, the CLI, other engines, or the owner when we are a
// client) reach this process here, and exactly the waits on those queues, keys, streams and workflows
// are woken (a stream that ends with its workflow wakes its readers through the workflow's key). An
// owner also picks up workflows others started, and acts on their cancels and resumes.
//
// Two sources, one dispatch (applyChanges):
// - SQLite (ExternalChangeSync): the file watcher suggests a change, and the change feed reads what
//   is new by monotonic ids.
// - PostgreSQL (AnnouncedChangeSync): every write transaction announces its changes with NOTIFY,
//   delivered at its commit to every listener. Whatever may have gone unannounced (a lost
//   connection, the safety timer) makes every wait look again: a resync.
import { FileWatcher } from '../runtime/file-watcher';
import { eventKey, messageKey, streamKey, workflowKey, WORKFLOW_KEY_PREFIX } from '../runtime/waiters';
import { ChangeListener, changeChannel, type AnnouncedChanges } from '../postgres/notifications';
import type { ChangeFeed, ExternalChanges } from '../store/store';
import type { OperationEnvironment } from './environment';

/** Safety re-check periods (the kernel's file notifications normally arrive first). */
export const BUSY_RECHECK_MS = 50;
export const OWNER_IDLE_RECHECK_MS = 500;

export interface NewWorkflow {
  workflowUUID: string;
  workflowName: string;
  inputs: string;
  deadlineMs: number | null;
}

/** What an owner does with other processes' changes (a client has none of these). */
export interface OwnerHooks {
  /** A workflow another process started. */
  onNewWorkflow(workflow: NewWorkflow): void;
  /** Workflows another process cancelled or resumed, each once. */
  onControls(workflowUUIDs: readonly string[]): void;
  /** Anything may have changed unannounced: look at the workflows' rows again. */
  onResync?(): void;
}

/**
 * Wakes whoever the changes may satisfy and hands cancels and resumes to the owner. Without
 * `outcomes` (SQLite's feed does not carry them) every result wait looks again.
 */
function applyChanges(env: OperationEnvironment, changes: Omit<ExternalChanges, 'newWorkflows'> & { outcomes?: AnnouncedChanges['outcomes'] }, owner: OwnerHooks | null): void {
  const { waiters } = env;
  for (const message of changes.messages) waiters.notify(messageKey(message.destinationUUID, message.topic));
  for (const event of changes.events) waiters.notify(eventKey(event.workflowUUID, event.key));
  for (const stream of changes.streams) waiters.notify(streamKey(stream.workflowUUID, stream.key));
  // Workflow outcomes carry no sequence number in SQLite's feed; result waits are few, so each re-checks its row.
  if (changes.outcomes === undefined) waiters.notifyPrefix(WORKFLOW_KEY_PREFIX);
  else for (const { workflowUUID } of changes.outcomes) waiters.notify(workflowKey(workflowUUID));
  // Cancels and resumes: each workflow once, judged on its row as it is now (so order is moot).
  if (owner !== null && changes.controls.length > 0) {
    try {
      owner.onControls([...new Set(changes.controls.map((control) => control.workflowUUID))]);
    } catch (error) {
      env.options.onWarning({
        code: 'CHANGE_FEED_FAILED',
        message: `Could not act on a cancel or resume another process made (${(error as Error)?.message}).`,
      });
    }
  }
}

/** Hands a workflow another process started to the owner; one that cannot start must not keep the others from starting. */
function startNew(env: OperationEnvironment, owner: OwnerHooks, workflow: NewWorkflow): void {
  try {
    owner.onNewWorkflow(workflow);
  } catch (error) {
    env.options.onWarning({
      code: 'STORAGE_FAILED',
      workflowUUID: workflow.workflowUUID,
      workflowName: workflow.workflowName,
      message: `Could not start workflow "${workflow.workflowUUID}", started by another process (${(error as Error)?.message}); it stays PENDING and runs on the next open.`,
    });
  }
}

export class ExternalChangeSync {
  readonly #env: OperationEnvironment;
  readonly #feed: ChangeFeed;
  readonly #watcher: FileWatcher;
  readonly #owner: OwnerHooks | null;

  /**
   * @param feed the SQLite file's change feed (SqliteStore.openChangeFeed), from the owner's recovery
   *   snapshot, or from now for a client.
   * @param owner the owner's hooks; null for a client, which then watches only while something waits.
   */
  constructor(env: OperationEnvironment, feed: ChangeFeed, owner: OwnerHooks | null) {
    this.#env = env;
    this.#owner = owner;
    this.#feed = feed;
    this.#watcher = new FileWatcher(
      env.options.database,
      {
        busyIntervalMs: BUSY_RECHECK_MS,
        idleIntervalMs: owner === null ? 0 : OWNER_IDLE_RECHECK_MS,
        // A client's waits are satisfied only by other processes: like a pending timer, they hold it open.
        keepAliveWhileBusy: owner === null,
      },
      () => this.check(),
    );
    env.waiters.setBusyListener((busy) => this.#watcher.setBusy(busy));
  }

  /**
   * Looks for other processes' commits and wakes whoever they may satisfy; true when it found some.
   * Never throws: it runs from file-system callbacks, where a throw would end the process. A failed
   * read is reported and tried again on the next change or re-check.
   */
  check(): boolean {
    if (!this.#env.isOpen) return false;
    const { store } = this.#env;
    // The feed must read committed rows only: were it to move past a row of ours that then rolled
    // back, the id it freed could go to another process's row, which the feed would never report.
    if (store.hasUncommittedWrites) {
      store.afterSettle(() => this.check());
      return false;
    }
    let changes: ReturnType<ChangeFeed['poll']>;
    try {
      changes = this.#feed.poll();
    } catch (error) {
      this.#env.options.onWarning({
        code: 'CHANGE_FEED_FAILED',
        message: `Could not read other processes' commits (${(error as Error)?.message}); trying again on the next change.`,
      });
      return false;
    }
    if (changes === null) return false;
    applyChanges(this.#env, changes, this.#owner);
    if (this.#owner !== null) for (const workflow of changes.newWorkflows) startNew(this.#env, this.#owner, workflow);
    return true;
  }

  close(): void {
    this.#watcher.close();
    this.#env.waiters.setBusyListener(null);
  }
}

/**
 * Other engines' and clients' commits on a PostgreSQL database, as their transactions announced them
 * (see postgres/notifications.ts). A resync (the listener connected again, or its safety timer)
 * makes every wait look again, and an owner look at its workflows' rows again.
 */
export class AnnouncedChangeSync {
  readonly #env: OperationEnvironment;
  readonly #owner: OwnerHooks | null;
  #listener: ChangeListener | null = null;

  private constructor(env: OperationEnvironment, owner: OwnerHooks | null) {
    this.#env = env;
    this.#owner = owner;
  }

  /**
   * Starts listening on the channel of `schema` (the first resync runs before this resolves).
   * @throws DatabaseOpenError when the listener's connection cannot be opened.
   */
  static async open(env: OperationEnvironment, schema: string, owner: OwnerHooks | null, connectTimeoutMs: number): Promise<AnnouncedChangeSync> {
    const sync = new AnnouncedChangeSync(env, owner);
    sync.#listener = await ChangeListener.open({
      url: env.options.database,
      channel: changeChannel(schema),
      connectTimeoutMs,
      onChanges: (changes) => sync.#apply(changes),
      onResync: () => sync.#resync(),
      onError: (error) => env.options.onWarning({
        code: 'CHANGE_FEED_FAILED',
        message: `Lost the connection that hears other processes' commits (${error.message}); reconnecting, then every wait looks again.`,
      }),
    });
    // A client's waits are satisfied only by others' commits: while one waits, the listener keeps the process alive.
    if (owner === null) {
      sync.#listener.unref();
      env.waiters.setBusyListener((busy) => (busy ? sync.#listener?.ref() : sync.#listener?.unref()));
    }
    return sync;
  }

  #apply(changes: AnnouncedChanges): void {
    if (!this.#env.isOpen) return;
    applyChanges(this.#env, changes, this.#owner);
    const owner = this.#owner;
    if (owner === null) return;
    // The announcement names the workflow; its inputs are read from its row.
    for (const { workflowUUID } of changes.newWorkflows) {
      Promise.resolve(this.#env.store.workflows.get(workflowUUID)).then(
        (record) => {
          if (record === undefined || record.status !== 'PENDING' || !this.#env.isOpen) return;
          startNew(this.#env, owner, { workflowUUID, workflowName: record.workflowName, inputs: record.inputs, deadlineMs: record.deadlineMs });
        },
        (error: unknown) => this.#env.options.onWarning({
          code: 'STORAGE_FAILED',
          workflowUUID,
          message: `Could not read workflow "${workflowUUID}", started by another process (${(error as Error)?.message}); it is looked at again on the next resync.`,
        }),
      );
    }
  }

  #resync(): void {
    if (!this.#env.isOpen) return;
    this.#env.waiters.notifyAll();
    this.#owner?.onResync?.();
  }

  close(): Promise<void> {
    this.#env.waiters.setBusyListener(null);
    return this.#listener?.close() ?? Promise.resolve();
  }
}
