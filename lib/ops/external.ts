// Commits made by other processes (clients, the CLI, or the owner when we are a client) reach this
// process here: the file watcher suggests a change, the change feed says what is new, and exactly
// the waits on those queues, keys, streams and workflows are woken (a stream that ends with its
// workflow wakes its readers through the workflow's key). The owner also picks up workflows that
// clients started.
import { FileWatcher } from '../runtime/file-watcher';
import { eventKey, messageKey, streamKey, WORKFLOW_KEY_PREFIX } from '../runtime/waiters';
import type { ChangeFeed, FeedPosition } from '../store/store';
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

export class ExternalChangeSync {
  readonly #env: OperationEnvironment;
  readonly #feed: ChangeFeed;
  readonly #watcher: FileWatcher;
  readonly #onNewWorkflow: ((workflow: NewWorkflow) => void) | null;
  readonly #onControls: ((workflowUUIDs: readonly string[]) => void) | null;

  /**
   * @param feedStart report commits made after this position (the owner's recovery snapshot); default: now.
   * @param onNewWorkflow the owner's hook for workflows other processes started; null for a client,
   *   which then watches only while something waits.
   * @param onControls the owner's hook for workflows other processes cancelled or resumed.
   */
  constructor(
    env: OperationEnvironment,
    feedStart: FeedPosition | undefined,
    onNewWorkflow: ((workflow: NewWorkflow) => void) | null,
    onControls: ((workflowUUIDs: readonly string[]) => void) | null = null,
  ) {
    this.#env = env;
    this.#onNewWorkflow = onNewWorkflow;
    this.#onControls = onControls;
    this.#feed = env.store.openChangeFeed(feedStart);
    this.#watcher = new FileWatcher(
      env.options.database,
      {
        busyIntervalMs: BUSY_RECHECK_MS,
        idleIntervalMs: onNewWorkflow === null ? 0 : OWNER_IDLE_RECHECK_MS,
        // A client's waits are satisfied only by other processes: like a pending timer, they hold it open.
        keepAliveWhileBusy: onNewWorkflow === null,
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
    const { waiters } = this.#env;
    for (const message of changes.messages) waiters.notify(messageKey(message.destinationUUID, message.topic));
    for (const event of changes.events) waiters.notify(eventKey(event.workflowUUID, event.key));
    for (const stream of changes.streams) waiters.notify(streamKey(stream.workflowUUID, stream.key));
    // Workflow outcomes carry no sequence number; result waits are few, so each re-checks its row.
    waiters.notifyPrefix(WORKFLOW_KEY_PREFIX);
    // Cancels and resumes: each workflow once, judged on its row as it is now (so order is moot).
    if (this.#onControls !== null && changes.controls.length > 0) {
      try {
        this.#onControls([...new Set(changes.controls.map((control) => control.workflowUUID))]);
      } catch (error) {
        this.#env.options.onWarning({
          code: 'CHANGE_FEED_FAILED',
          message: `Could not act on a cancel or resume another process made (${(error as Error)?.message}).`,
        });
      }
    }
    if (this.#onNewWorkflow !== null) {
      for (const workflow of changes.newWorkflows) {
        try {
          this.#onNewWorkflow(workflow);
        } catch (error) {
          // One workflow that cannot start must not keep the others from starting.
          this.#env.options.onWarning({
            code: 'STORAGE_FAILED',
            workflowUUID: workflow.workflowUUID,
            workflowName: workflow.workflowName,
            message: `Could not start workflow "${workflow.workflowUUID}", started by another process (${(error as Error)?.message}); it stays PENDING and runs on the next open.`,
          });
        }
      }
    }
    return true;
  }

  close(): void {
    this.#watcher.close();
    this.#env.waiters.setBusyListener(null);
  }
}
