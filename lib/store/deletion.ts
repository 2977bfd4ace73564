// Deleting workflows: a workflow's own rows are its row, its operations, events and stream entries,
// the messages addressed to it (consumed or not) and its cancel/resume controls. They go together, in
// the caller's transaction, so no reader ever sees a workflow half deleted. Ids are AUTOINCREMENT
// (migration 5): a deleted id is never reused, so the change feed stays exact.
import type { SqliteDatabase } from './database';
import type { DeletedRows, WorkflowStatusName } from '../types';

/** No rows: the start of a sum. */
export function noDeletedRows(): DeletedRows {
  return { workflows: 0, operations: 0, events: 0, streamEntries: 0, messages: 0, controls: 0 };
}

/** Adds `more` into `total`. */
export function addDeletedRows(total: DeletedRows, more: DeletedRows): void {
  total.workflows += more.workflows;
  total.operations += more.operations;
  total.events += more.events;
  total.streamEntries += more.streamEntries;
  total.messages += more.messages;
  total.controls += more.controls;
}

export class DeletionTable {
  readonly #deleteWorkflows;
  readonly #deleteOperations;
  readonly #deleteEvents;
  readonly #deleteStreams;
  readonly #deleteMessages;
  readonly #deleteControls;
  readonly #keepCancelledUUIDs;
  readonly #selectFinished;
  readonly #countFinished;
  readonly #deleteStrayControls;
  readonly #countRows;

  constructor(db: SqliteDatabase) {
    // Each takes the workflows as a JSON array: one statement per table, whatever the batch's size.
    const of = (table: string, column: string): string => `DELETE FROM ${table} WHERE ${column} IN (SELECT value FROM json_each(?))`;
    this.#deleteWorkflows = db.prepare<[string]>(of('workflows', 'workflow_uuid'));
    this.#deleteOperations = db.prepare<[string]>(of('operations', 'workflow_uuid'));
    this.#deleteEvents = db.prepare<[string]>(of('events', 'workflow_uuid'));
    this.#deleteStreams = db.prepare<[string]>(of('streams', 'workflow_uuid'));
    this.#deleteMessages = db.prepare<[string]>(of('messages', 'destination_uuid'));
    this.#deleteControls = db.prepare<[string]>(of('workflow_controls', 'workflow_uuid'));
    this.#keepCancelledUUIDs = db.prepare<[string]>(
      `INSERT OR IGNORE INTO deleted_workflows (workflow_uuid, cancelled_at)
       SELECT workflow_uuid, updated_at FROM workflows WHERE workflow_uuid IN (SELECT value FROM json_each(?)) AND status = 'CANCELLED'`,
    );
    // Served by workflows_by_finish: one range per status.
    this.#selectFinished = db.prepare<[string, number, number], { workflow_uuid: string }>(
      `SELECT workflow_uuid FROM workflows
       WHERE status IN (SELECT value FROM json_each(?)) AND updated_at < ? LIMIT ?`,
    );
    this.#countFinished = db.prepare<[string, number], { count: number }>(
      `SELECT count(*) AS count FROM workflows WHERE status IN (SELECT value FROM json_each(?)) AND updated_at < ?`,
    );
    // What deleteAll would delete, table by table, for a dry run; the same json_each lists.
    const count = (table: string, column: string): string => `(SELECT count(*) FROM ${table} WHERE ${column} IN (SELECT value FROM json_each(?)))`;
    this.#countRows = db.prepare<[string, string, string, string, string, string], DeletedRows>(
      `SELECT ${count('workflows', 'workflow_uuid')} AS workflows, ${count('operations', 'workflow_uuid')} AS operations,
              ${count('events', 'workflow_uuid')} AS events, ${count('streams', 'workflow_uuid')} AS streamEntries,
              ${count('messages', 'destination_uuid')} AS messages, ${count('workflow_controls', 'workflow_uuid')} AS controls`,
    );
    // Controls a force delete kept for other processes (see Store.deleteWorkflows), once old enough.
    this.#deleteStrayControls = db.prepare<[number]>(
      `DELETE FROM workflow_controls
       WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.workflow_uuid = workflow_controls.workflow_uuid)`,
    );
  }

  /**
   * Deletes the workflows and all their rows; the controls of `keepControlsOf` stay (a cancel other
   * processes have yet to see). Call inside a transaction.
   */
  deleteAll(workflowUUIDs: readonly string[], keepControlsOf: ReadonlySet<string> = new Set()): DeletedRows {
    const list = JSON.stringify(workflowUUIDs);
    const controlsOf = keepControlsOf.size === 0 ? list : JSON.stringify(workflowUUIDs.filter((uuid) => !keepControlsOf.has(uuid)));
    // A cancelled workflow's UUID stays taken (see migration 7): its run may still be ending.
    this.#keepCancelledUUIDs.run(list);
    return {
      operations: this.#deleteOperations.run(list).changes,
      events: this.#deleteEvents.run(list).changes,
      streamEntries: this.#deleteStreams.run(list).changes,
      messages: this.#deleteMessages.run(list).changes,
      controls: this.#deleteControls.run(controlsOf).changes,
      workflows: this.#deleteWorkflows.run(list).changes,
    };
  }

  /** The rows {@link deleteAll} would delete now, writing nothing. */
  countAll(workflowUUIDs: readonly string[], keepControlsOf: ReadonlySet<string> = new Set()): DeletedRows {
    const list = JSON.stringify(workflowUUIDs);
    const controlsOf = JSON.stringify(workflowUUIDs.filter((uuid) => !keepControlsOf.has(uuid)));
    return { ...this.#countRows.get(list, list, list, list, list, controlsOf)! };
  }

  /** Up to `limit` workflows with one of `statuses` whose last change is before `beforeMs`. */
  finishedBefore(statuses: readonly WorkflowStatusName[], beforeMs: number, limit: number): string[] {
    return this.#selectFinished.all(JSON.stringify(statuses), beforeMs, limit).map((row) => row.workflow_uuid);
  }

  /** How many workflows {@link finishedBefore} would find, with no limit. */
  countFinishedBefore(statuses: readonly WorkflowStatusName[], beforeMs: number): number {
    return this.#countFinished.get(JSON.stringify(statuses), beforeMs)!.count;
  }

  /** Deletes the controls older than `beforeMs` whose workflow no longer exists; returns how many. */
  deleteStrayControls(beforeMs: number): number {
    return this.#deleteStrayControls.run(beforeMs).changes;
  }
}
