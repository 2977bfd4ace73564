// The schema, as an append-only list: migration N (1-based) moves a database from user_version N-1 to N.
// Never edit a shipped entry; add a new one. __tests__/store.schema.test.ts snapshots the result.

export const migrations: readonly string[] = [
  // 1: workflows, their recorded operations, events and per-topic message queues.
  `
  CREATE TABLE workflows (
    workflow_uuid     TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')),
    inputs            TEXT NOT NULL,
    output            TEXT,
    error             TEXT,
    parent_uuid       TEXT,
    recovery_attempts INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX workflows_by_status ON workflows (status, created_at);

  CREATE TABLE operations (
    workflow_uuid   TEXT NOT NULL,
    operation_index INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    output          TEXT,
    error           TEXT,
    deadline_ms     INTEGER,
    wait_detail     TEXT,
    started_at      INTEGER NOT NULL,
    completed_at    INTEGER,
    PRIMARY KEY (workflow_uuid, operation_index)
  ) STRICT, WITHOUT ROWID;

  -- event_id orders events by insertion, so another process can ask "which events are new?".
  CREATE TABLE events (
    event_id      INTEGER PRIMARY KEY,
    workflow_uuid TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (workflow_uuid, key)
  ) STRICT;

  -- message_id gives strict insertion order (FIFO never depends on a clock). topic '' means none:
  -- topics given by users are never empty, and '' keeps the queue index a plain equality lookup.
  CREATE TABLE messages (
    message_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    destination_uuid TEXT NOT NULL,
    topic            TEXT NOT NULL,
    message          TEXT NOT NULL,
    idempotency_key  TEXT,
    consumed_at      INTEGER,
    created_at       INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX messages_queue ON messages (destination_uuid, topic, message_id) WHERE consumed_at IS NULL;
  CREATE INDEX messages_by_destination ON messages (destination_uuid, message_id);
  CREATE UNIQUE INDEX messages_idempotency ON messages (destination_uuid, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

  -- The process that owns (runs the workflows of) this file, for error messages and tools. The
  -- ownership itself is an OS-level lock on the side file "<database>-owner.lock".
  CREATE TABLE owner (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    pid        INTEGER NOT NULL,
    hostname   TEXT NOT NULL,
    started_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 2: where each event falls among messages, so that a select can tell which of an event and a
  // message committed first. messages_before is the highest message_id when the event was written:
  // a message with an id at most that committed before the event (or with it), any other after.
  // Events written before this migration, or by a process of an older version still running on the
  // file while a newer one upgrades it, count as older than every message.
  `
  ALTER TABLE events ADD COLUMN messages_before INTEGER NOT NULL DEFAULT 0;
  `,
  // 3: streams. A stream is the rows of one (workflow, key), in position order: one per value, then,
  // once it is closed, one row with no value. entry_id orders every row of every stream by insertion,
  // so another process can ask "which streams have new rows?".
  `
  CREATE TABLE streams (
    entry_id      INTEGER PRIMARY KEY,
    workflow_uuid TEXT NOT NULL,
    key           TEXT NOT NULL,
    position      INTEGER NOT NULL,
    value         TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (workflow_uuid, key, position)
  ) STRICT;
  `,
  // 4: cancel, resume and timeouts. The status CANCELLED joins the CHECK, which SQLite cannot alter:
  // the table is rebuilt (create, copy with each row's rowid, which the change feed orders new
  // workflows by; drop; rename; indexes again). deadline_ms is a workflow's timeout as an absolute
  // epoch ms, recorded at its start. workflows_by_parent finds the children a cancel reaches.
  // workflow_controls tells other processes, in order, which workflows a cancel or resume changed:
  // the change feed reports new rows by their monotonic ids, as it does for messages and events.
  `
  CREATE TABLE workflows_rebuilt (
    workflow_uuid     TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED')),
    inputs            TEXT NOT NULL,
    output            TEXT,
    error             TEXT,
    parent_uuid       TEXT,
    recovery_attempts INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    deadline_ms       INTEGER
  ) STRICT;
  INSERT INTO workflows_rebuilt (rowid, workflow_uuid, name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at, updated_at)
    SELECT rowid, workflow_uuid, name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at, updated_at FROM workflows;
  DROP TABLE workflows;
  ALTER TABLE workflows_rebuilt RENAME TO workflows;
  CREATE INDEX workflows_by_status ON workflows (status, created_at);
  CREATE INDEX workflows_by_parent ON workflows (parent_uuid) WHERE parent_uuid IS NOT NULL;

  CREATE TABLE workflow_controls (
    control_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_uuid TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('cancel', 'resume')),
    created_at    INTEGER NOT NULL
  ) STRICT;
  `,
  // 5: delete and prune. The change feed finds other processes' new rows by ids greater than the last
  // it saw; without AUTOINCREMENT SQLite hands out max(id) + 1, so deleting the newest rows would let
  // the next insert reuse an id a feed already passed, and that row would never be reported. events,
  // streams and workflows are rebuilt with AUTOINCREMENT ids, each row keeping its id (SQLite sets
  // sqlite_sequence to the highest copied). workflows gets workflow_id, its rowid made explicit (an
  // implicit rowid may also be renumbered by VACUUM); workflow_uuid stays unique. workflows_by_finish
  // finds what a prune removes; workflow_controls_by_workflow, a deleted workflow's controls.
  `
  CREATE TABLE events_rebuilt (
    event_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_uuid   TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    messages_before INTEGER NOT NULL DEFAULT 0,
    UNIQUE (workflow_uuid, key)
  ) STRICT;
  INSERT INTO events_rebuilt (event_id, workflow_uuid, key, value, created_at, messages_before)
    SELECT event_id, workflow_uuid, key, value, created_at, messages_before FROM events;
  DROP TABLE events;
  ALTER TABLE events_rebuilt RENAME TO events;

  CREATE TABLE streams_rebuilt (
    entry_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_uuid TEXT NOT NULL,
    key           TEXT NOT NULL,
    position      INTEGER NOT NULL,
    value         TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (workflow_uuid, key, position)
  ) STRICT;
  INSERT INTO streams_rebuilt (entry_id, workflow_uuid, key, position, value, created_at)
    SELECT entry_id, workflow_uuid, key, position, value, created_at FROM streams;
  DROP TABLE streams;
  ALTER TABLE streams_rebuilt RENAME TO streams;

  CREATE TABLE workflows_rebuilt (
    workflow_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_uuid     TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED')),
    inputs            TEXT NOT NULL,
    output            TEXT,
    error             TEXT,
    parent_uuid       TEXT,
    recovery_attempts INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    deadline_ms       INTEGER
  ) STRICT;
  INSERT INTO workflows_rebuilt (workflow_id, workflow_uuid, name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at, updated_at, deadline_ms)
    SELECT rowid, workflow_uuid, name, status, inputs, output, error, parent_uuid, recovery_attempts, created_at, updated_at, deadline_ms FROM workflows;
  DROP TABLE workflows;
  ALTER TABLE workflows_rebuilt RENAME TO workflows;
  CREATE INDEX workflows_by_status ON workflows (status, created_at);
  CREATE INDEX workflows_by_parent ON workflows (parent_uuid) WHERE parent_uuid IS NOT NULL;
  CREATE INDEX workflows_by_finish ON workflows (status, updated_at);
  CREATE INDEX workflow_controls_by_workflow ON workflow_controls (workflow_uuid);
  `,
  // 6: fork. Which operation of its workflow wrote each event and stream row (a setEvent, a
  // writeStream or closeStream, or the step that wrote from its StepContext), and which recv or
  // select consumed each message: forkWorkflow copies the rows of the operations it copies, as the
  // operation records alone do not name an event's key, a stream's key or a message. Rows written
  // before this migration have none (NULL), and a fork copies none of them.
  `
  ALTER TABLE events ADD COLUMN operation_index INTEGER;
  ALTER TABLE streams ADD COLUMN operation_index INTEGER;
  ALTER TABLE messages ADD COLUMN consumed_by INTEGER;
  `,
  // 7: the UUIDs of deleted workflows that were CANCELLED, which stay taken. A cancelled workflow's
  // run may still be ending somewhere (a step in flight, or an owner that has not heard of the
  // cancel); it writes by UUID, so a new workflow under that UUID could receive its late writes.
  // Finished ones (SUCCESS, ERROR, given up) have no run left: their UUIDs are free again.
  `
  CREATE TABLE deleted_workflows (
    workflow_uuid TEXT PRIMARY KEY,
    cancelled_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = migrations.length;
