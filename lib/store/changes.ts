// What other processes committed since we last looked. PRAGMA data_version changes only when another
// connection commits, so an unchanged value costs one cheap call; when it changed, the monotonic ids
// of messages, events and workflows say exactly which queues, keys and workflows are new.
import type { SqliteDatabase } from './database';
import { toStoredTopic } from './messages';

export interface ExternalChanges {
  /** (destination, topic) of messages inserted since the last look; topic null for none. */
  messages: { destinationUUID: string; topic: string | null }[];
  /** (workflow, key) of events set since the last look. */
  events: { workflowUUID: string; key: string }[];
  /** Workflows inserted since the last look that are still PENDING. */
  newWorkflows: { workflowUUID: string; workflowName: string; inputs: string }[];
}

export class ChangeFeed {
  readonly #dataVersion;
  readonly #maxIds;
  readonly #newMessages;
  readonly #newEvents;
  readonly #newWorkflows;
  #lastDataVersion: number;
  #lastMessageId: number;
  #lastEventId: number;
  #lastWorkflowRowId: number;

  constructor(db: SqliteDatabase) {
    this.#dataVersion = db.prepare<[], { data_version: number }>('PRAGMA data_version');
    this.#maxIds = db.prepare<[], { message_id: number; event_id: number; workflow_rowid: number }>(
      `SELECT (SELECT coalesce(max(message_id), 0) FROM messages) AS message_id,
              (SELECT coalesce(max(event_id), 0) FROM events) AS event_id,
              (SELECT coalesce(max(rowid), 0) FROM workflows) AS workflow_rowid`,
    );
    this.#newMessages = db.prepare<[number], { message_id: number; destination_uuid: string; topic: string }>(
      'SELECT message_id, destination_uuid, topic FROM messages WHERE message_id > ? ORDER BY message_id',
    );
    this.#newEvents = db.prepare<[number], { event_id: number; workflow_uuid: string; key: string }>(
      'SELECT event_id, workflow_uuid, key FROM events WHERE event_id > ? ORDER BY event_id',
    );
    this.#newWorkflows = db.prepare<[number], { rowid: number; workflow_uuid: string; name: string; inputs: string; status: string }>(
      'SELECT rowid, workflow_uuid, name, inputs, status FROM workflows WHERE rowid > ? ORDER BY rowid',
    );
    this.#lastDataVersion = this.#dataVersion.get()!.data_version;
    const ids = this.#maxIds.get()!;
    this.#lastMessageId = ids.message_id;
    this.#lastEventId = ids.event_id;
    this.#lastWorkflowRowId = ids.workflow_rowid;
  }

  /** What changed since the last call, or null when no other connection committed meanwhile. */
  poll(): ExternalChanges | null {
    const dataVersion = this.#dataVersion.get()!.data_version;
    if (dataVersion === this.#lastDataVersion) return null;
    this.#lastDataVersion = dataVersion;
    const changes: ExternalChanges = { messages: [], events: [], newWorkflows: [] };
    for (const row of this.#newMessages.all(this.#lastMessageId)) {
      this.#lastMessageId = row.message_id;
      changes.messages.push({ destinationUUID: row.destination_uuid, topic: row.topic === toStoredTopic(null) ? null : row.topic });
    }
    for (const row of this.#newEvents.all(this.#lastEventId)) {
      this.#lastEventId = row.event_id;
      changes.events.push({ workflowUUID: row.workflow_uuid, key: row.key });
    }
    for (const row of this.#newWorkflows.all(this.#lastWorkflowRowId)) {
      this.#lastWorkflowRowId = row.rowid;
      if (row.status === 'PENDING') changes.newWorkflows.push({ workflowUUID: row.workflow_uuid, workflowName: row.name, inputs: row.inputs });
    }
    return changes;
  }
}
