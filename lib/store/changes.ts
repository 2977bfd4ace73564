// What other processes committed since we last looked. PRAGMA data_version changes only when another
// connection commits, so an unchanged value costs one cheap call; when it changed, the monotonic ids
// of messages, events, stream rows, workflows and workflow controls say exactly which queues, keys,
// streams and workflows are new, and which workflows a cancel or resume changed. Every one of those
// ids is AUTOINCREMENT (migration 5), so a deleted row's id is never handed out again: a feed that
// passed it cannot miss the row that would have reused it.
import type { SqliteDatabase } from './database';
import { toStoredTopic } from './messages';
import type { ChangeFeed, ControlAction, ExternalChanges, FeedPosition } from './store';

const MAX_IDS_SQL = `SELECT (SELECT coalesce(max(message_id), 0) FROM messages) AS message_id,
                            (SELECT coalesce(max(event_id), 0) FROM events) AS event_id,
                            (SELECT coalesce(max(entry_id), 0) FROM streams) AS stream_entry_id,
                            (SELECT coalesce(max(workflow_id), 0) FROM workflows) AS workflow_rowid,
                            (SELECT coalesce(max(control_id), 0) FROM workflow_controls) AS control_id`;

type MaxIdsRow = { message_id: number; event_id: number; stream_entry_id: number; workflow_rowid: number; control_id: number };

function toPosition(row: MaxIdsRow): FeedPosition {
  return { messageId: row.message_id, eventId: row.event_id, streamEntryId: row.stream_entry_id, workflowRowId: row.workflow_rowid, controlId: row.control_id };
}

export class SqliteChangeFeed implements ChangeFeed {
  readonly #dataVersion;
  readonly #newMessages;
  readonly #newEvents;
  readonly #newStreamEntries;
  readonly #newWorkflows;
  readonly #newControls;
  #lastDataVersion: number | null;
  #lastMessageId: number;
  #lastEventId: number;
  #lastStreamEntryId: number;
  #lastWorkflowRowId: number;
  #lastControlId: number;

  /** The current position, read in the caller's transaction (recovery reads it with its snapshot). */
  static positionOf(db: SqliteDatabase): FeedPosition {
    return toPosition(db.prepare<[], MaxIdsRow>(MAX_IDS_SQL).get()!);
  }

  /**
   * @param start report what came after this position (read in an earlier snapshot); default: now.
   */
  constructor(db: SqliteDatabase, start?: FeedPosition) {
    this.#dataVersion = db.prepare<[], { data_version: number }>('PRAGMA data_version');
    this.#newMessages = db.prepare<[number], { message_id: number; destination_uuid: string; topic: string }>(
      'SELECT message_id, destination_uuid, topic FROM messages WHERE message_id > ? ORDER BY message_id',
    );
    this.#newEvents = db.prepare<[number], { event_id: number; workflow_uuid: string; key: string }>(
      'SELECT event_id, workflow_uuid, key FROM events WHERE event_id > ? ORDER BY event_id',
    );
    // One row per stream however many values it got: ten thousand values wake its readers once.
    this.#newStreamEntries = db.prepare<[number], { entry_id: number; workflow_uuid: string; key: string }>(
      'SELECT max(entry_id) AS entry_id, workflow_uuid, key FROM streams WHERE entry_id > ? GROUP BY workflow_uuid, key',
    );
    this.#newWorkflows = db.prepare<[number], { workflow_id: number; workflow_uuid: string; name: string; inputs: string; status: string; deadline_ms: number | null }>(
      'SELECT workflow_id, workflow_uuid, name, inputs, status, deadline_ms FROM workflows WHERE workflow_id > ? ORDER BY workflow_id',
    );
    this.#newControls = db.prepare<[number], { control_id: number; workflow_uuid: string; action: ControlAction }>(
      'SELECT control_id, workflow_uuid, action FROM workflow_controls WHERE control_id > ? ORDER BY control_id',
    );
    // From an earlier snapshot, commits may already have come since: the first poll reads the ids
    // whatever data_version says.
    this.#lastDataVersion = start === undefined ? this.#dataVersion.get()!.data_version : null;
    const position = start ?? SqliteChangeFeed.positionOf(db);
    this.#lastMessageId = position.messageId;
    this.#lastEventId = position.eventId;
    this.#lastStreamEntryId = position.streamEntryId;
    this.#lastWorkflowRowId = position.workflowRowId;
    this.#lastControlId = position.controlId;
  }

  /** What changed since the last call, or null when no other connection committed meanwhile. */
  poll(): ExternalChanges | null {
    const dataVersion = this.#dataVersion.get()!.data_version;
    if (dataVersion === this.#lastDataVersion) return null;
    this.#lastDataVersion = dataVersion;
    const changes: ExternalChanges = { messages: [], events: [], streams: [], newWorkflows: [], controls: [] };
    for (const row of this.#newMessages.all(this.#lastMessageId)) {
      this.#lastMessageId = row.message_id;
      changes.messages.push({ destinationUUID: row.destination_uuid, topic: row.topic === toStoredTopic(null) ? null : row.topic });
    }
    for (const row of this.#newEvents.all(this.#lastEventId)) {
      this.#lastEventId = row.event_id;
      changes.events.push({ workflowUUID: row.workflow_uuid, key: row.key });
    }
    for (const row of this.#newStreamEntries.all(this.#lastStreamEntryId)) {
      this.#lastStreamEntryId = Math.max(this.#lastStreamEntryId, row.entry_id);
      changes.streams.push({ workflowUUID: row.workflow_uuid, key: row.key });
    }
    for (const row of this.#newWorkflows.all(this.#lastWorkflowRowId)) {
      this.#lastWorkflowRowId = row.workflow_id;
      if (row.status === 'PENDING') changes.newWorkflows.push({ workflowUUID: row.workflow_uuid, workflowName: row.name, inputs: row.inputs, deadlineMs: row.deadline_ms });
    }
    for (const row of this.#newControls.all(this.#lastControlId)) {
      this.#lastControlId = row.control_id;
      changes.controls.push({ workflowUUID: row.workflow_uuid, action: row.action });
    }
    return changes;
  }
}
