// The PostgreSQL schema, as an append-only list: migration N (1-based) moves a schema from version N-1
// to N. Never edit a shipped entry; add a new one. __tests__/postgres.schema.test.ts snapshots the result.
//
// Each runs in one transaction with search_path set to durablite's schema alone (see database.ts), so
// its names are unqualified and one list serves any schema name. The tables are those of the SQLite
// store (lib/store/migrations.ts, where each column's story is told), with these differences:
// - times are epoch milliseconds in BIGINT and payloads are TEXT, as there; ids are BIGSERIAL.
// - A sequence hands out ids at insert, not at commit: concurrent transactions may commit out of id
//   order. "Every id above the last one I saw" is therefore not "everything new" here, as it is for
//   the SQLite change feed; a reader that tracks ids must allow for it.
// - Names, keys and topics are COLLATE "C": compared and sorted by bytes, as SQLite does, whatever
//   the database's locale, so listings order alike on both stores (and the indexes are cheaper).
// - No owner table: many engines share one database, each a row of executors, each workflow held by
//   one of them under a lease.
import { RECORDING_FUNCTIONS } from './recording-functions';

export const migrations: readonly string[] = [
  // 1: the schema of the SQLite store at its version 7, and the executors and leases of many engines.
  `
  -- One row per workflow: its inputs, its deadline and, once finished, its outcome. workflow_id is
  -- the order workflows were inserted in. deadline_ms is the workflow's timeout as an absolute epoch
  -- ms, recorded at its start. recovery_attempts counts the resumes that recorded no progress.
  CREATE TABLE workflows (
    workflow_id       BIGSERIAL NOT NULL UNIQUE,
    workflow_uuid     TEXT COLLATE "C" PRIMARY KEY,
    name              TEXT COLLATE "C" NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED')),
    inputs            TEXT NOT NULL,
    output            TEXT,
    error             TEXT,
    parent_uuid       TEXT COLLATE "C",
    recovery_attempts INTEGER NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    deadline_ms       BIGINT,
    -- Who runs it: the executor that holds it and until when (epoch ms). Another engine may take a
    -- PENDING workflow over once its lease has lapsed; 0 is no lease (a workflow a Client started,
    -- never claimed), so "unclaimed or abandoned" is one range, lease_until_ms < now. No foreign key
    -- to executors: the lease decides, and a dead executor's row may go before its workflows are taken.
    executor_id       TEXT COLLATE "C",
    lease_until_ms    BIGINT NOT NULL DEFAULT 0
  );
  CREATE INDEX workflows_by_status ON workflows (status, created_at);
  CREATE INDEX workflows_by_parent ON workflows (parent_uuid) WHERE parent_uuid IS NOT NULL;
  -- What a prune removes: finished workflows by the time of their last change.
  CREATE INDEX workflows_by_finish ON workflows (status, updated_at);
  -- The workflows another engine may claim: PENDING ones whose lease lapsed (or never began), soonest
  -- lapsed first. Finished workflows leave the index.
  CREATE INDEX workflows_claimable ON workflows (lease_until_ms) WHERE status = 'PENDING';
  -- The PENDING workflows an executor holds, whose leases its heartbeat renews.
  CREATE INDEX workflows_by_executor ON workflows (executor_id) WHERE status = 'PENDING';

  -- Every durable operation of a workflow under (workflow uuid, operation index). A row with
  -- completed_at NULL is a wait under way; its deadline_ms is what recovery re-arms.
  CREATE TABLE operations (
    workflow_uuid   TEXT COLLATE "C" NOT NULL,
    operation_index INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    output          TEXT,
    error           TEXT,
    deadline_ms     BIGINT,
    wait_detail     TEXT,
    started_at      BIGINT NOT NULL,
    completed_at    BIGINT,
    PRIMARY KEY (workflow_uuid, operation_index)
  );

  -- Immutable (workflow uuid, key) -> value. event_id orders events by insertion. messages_before is
  -- the highest message_id when the event was written, so that a select can tell which of an event
  -- and a message committed first (see the SQLite migration 2; the store must take it where no lower
  -- id can still commit). operation_index is the operation that wrote it, which a fork copies.
  CREATE TABLE events (
    event_id        BIGSERIAL PRIMARY KEY,
    workflow_uuid   TEXT COLLATE "C" NOT NULL,
    key             TEXT COLLATE "C" NOT NULL,
    value           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    messages_before BIGINT NOT NULL DEFAULT 0,
    operation_index INTEGER,
    UNIQUE (workflow_uuid, key)
  );

  -- Per-(destination, topic) FIFO queues in message_id order (FIFO never depends on a clock). topic
  -- '' means none: topics given by users are never empty, and '' keeps the queue index a plain
  -- equality lookup. A consumed message stays, marked with when and by which operation
  -- (consumed_by, its operation index, which a fork copies); it is never delivered again. An
  -- idempotency key is used once per destination.
  CREATE TABLE messages (
    message_id       BIGSERIAL PRIMARY KEY,
    destination_uuid TEXT COLLATE "C" NOT NULL,
    topic            TEXT COLLATE "C" NOT NULL,
    message          TEXT NOT NULL,
    idempotency_key  TEXT COLLATE "C",
    consumed_at      BIGINT,
    consumed_by      INTEGER,
    created_at       BIGINT NOT NULL
  );
  CREATE INDEX messages_queue ON messages (destination_uuid, topic, message_id) WHERE consumed_at IS NULL;
  CREATE INDEX messages_by_destination ON messages (destination_uuid, message_id);
  CREATE UNIQUE INDEX messages_idempotency ON messages (destination_uuid, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

  -- Streams: the rows of one (workflow, key) in position order, one per value, then, once closed,
  -- one row with no value. entry_id orders every row of every stream by insertion. operation_index
  -- is the operation that wrote the row, which a fork copies.
  CREATE TABLE streams (
    entry_id        BIGSERIAL PRIMARY KEY,
    workflow_uuid   TEXT COLLATE "C" NOT NULL,
    key             TEXT COLLATE "C" NOT NULL,
    position        INTEGER NOT NULL,
    value           TEXT,
    created_at      BIGINT NOT NULL,
    operation_index INTEGER,
    UNIQUE (workflow_uuid, key, position)
  );

  -- The ordered log of cancels and resumes, which tells the engines which workflows they changed.
  CREATE TABLE workflow_controls (
    control_id    BIGSERIAL PRIMARY KEY,
    workflow_uuid TEXT COLLATE "C" NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('cancel', 'resume')),
    created_at    BIGINT NOT NULL
  );
  CREATE INDEX workflow_controls_by_workflow ON workflow_controls (workflow_uuid);

  -- The UUIDs of deleted workflows that were CANCELLED, which stay taken: the cancelled run may still
  -- be ending somewhere and writes by UUID (see the SQLite migration 7).
  CREATE TABLE deleted_workflows (
    workflow_uuid TEXT COLLATE "C" PRIMARY KEY,
    cancelled_at  BIGINT NOT NULL
  );

  -- The engines that run this database's workflows, one row each while it lives: who it is (for
  -- error messages and tools) and its last heartbeat (epoch ms). A heartbeat also renews the leases
  -- of the workflows the executor holds.
  CREATE TABLE executors (
    executor_id  TEXT COLLATE "C" PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
  );
  `,
  // 2: one lease per executor, not one per workflow. An executor's heartbeat (one row, every second
  // or so) keeps every workflow it holds; a workflow is abandoned once its executor's heartbeat is
  // older than the lease, or its executor's row is gone (it closed). executor_id NULL: never claimed
  // (started, resumed or forked by a Client). Renewing a per-workflow lease would rewrite every row an
  // engine holds at every beat.
  `
  DROP INDEX workflows_claimable;
  ALTER TABLE workflows DROP COLUMN lease_until_ms;
  CREATE INDEX workflows_unclaimed ON workflows (created_at) WHERE status = 'PENDING' AND executor_id IS NULL;
  `,
  // 3: an executor's incarnation, a random id of the engine process registered under executor_id now.
  // Two live engines given the same executorId would otherwise both run its workflows: the second is
  // refused at open while the first beats (or waits out its lease), and a record is fenced on the
  // incarnation as well as on executor_id, so an engine whose id another process took over stops.
  `
  ALTER TABLE executors ADD COLUMN incarnation TEXT COLLATE "C";
  `,
  // 4: the frequent writes as server-side functions, one round trip each (see recording-functions.ts).
  RECORDING_FUNCTIONS,
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = migrations.length;
