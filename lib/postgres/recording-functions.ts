// The PostgreSQL store's frequent writes, each one call of a server-side function (migration 4): a
// workflow's start and finish, a step's outcome, a wait's start, a send, a setEvent, a stream write,
// and the attempts of recv and getEvent. Run as BEGIN, five statements, NOTIFY, COMMIT from the engine, such a write
// waited for seven round trips; as one function call in autocommit it waits for one, and commits as
// one transaction just the same (the function's statements and its pg_notify commit or roll back
// together). Each statement inside a function sees what committed before it ran (READ COMMITTED), as
// the statements of a transaction from the engine did, so the locking rules of postgres-store.ts hold
// unchanged: the workflow's row is locked first (FOR NO KEY UPDATE), several in UUID order.
//
// A refusal is a value, not an exception: `refusal` names it ('not-found', 'cancelled', 'not-held',
// 'no-started-wait', 'needs-error') and `detail` carries the cancellation's error or the holder's executor id. A
// function that refuses has written nothing, so its statement commits nothing. The store turns the
// refusal into the same error it always raised (see PostgresStore).
//
// These functions are part of the schema: changing one is a new migration (CREATE OR REPLACE), never an
// edit of this text once released.
import type { Sql } from './sql';

/**
 * The first key of the advisory lock of an executor id (the second is hashtext of the id): shared
 * by the writes that make a workflow the id's (holds_executor), exclusive for a registration under it.
 */
export const EXECUTOR_LOCK_KEY = 0x65786563; // "exec"

/** Migration 4: the functions, created in the schema being migrated (its search_path). */
export const RECORDING_FUNCTIONS = `
  -- Locks a workflow's row for a write that records for it, and says why the write may not go on:
  -- 'not-found'; 'cancelled' (detail: its error), unless p_mode is 'even-if-cancelled' or 'finish';
  -- 'not-held' (detail: its executor) when p_executor is given and another executor, or another
  -- incarnation of p_executor, holds it ('finish': only while it is PENDING).
  CREATE FUNCTION lock_recording(p_workflow text, p_executor text, p_incarnation text, p_mode text,
    OUT refusal text, OUT detail text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_status text; v_error text; v_executor text; v_incarnation text;
  BEGIN
    SELECT w.status, w.error, w.executor_id, e.incarnation INTO v_status, v_error, v_executor, v_incarnation
      FROM workflows w LEFT JOIN executors e ON e.executor_id = w.executor_id
      WHERE w.workflow_uuid = p_workflow FOR NO KEY UPDATE OF w;
    IF NOT FOUND THEN
      IF p_mode <> 'finish' THEN refusal := 'not-found'; END IF;
      RETURN;
    END IF;
    IF v_status = 'CANCELLED' AND p_mode = 'record' THEN
      refusal := 'cancelled'; detail := v_error; RETURN;
    END IF;
    IF p_executor IS NOT NULL AND (p_mode <> 'finish' OR v_status = 'PENDING')
       AND (v_executor IS DISTINCT FROM p_executor OR (v_incarnation IS NOT NULL AND v_incarnation <> p_incarnation)) THEN
      refusal := 'not-held'; detail := v_executor;
    END IF;
  END $fn$;

  -- Records an operation's outcome: a new row (p_first), or the completion of its started wait. False
  -- (nothing written) when there was no wait under way to complete.
  CREATE FUNCTION record_operation(p_workflow text, p_index integer, p_kind text, p_name text, p_first boolean,
    p_output text, p_error text, p_now bigint)
  RETURNS boolean LANGUAGE plpgsql AS $fn$
  BEGIN
    IF p_first THEN
      INSERT INTO operations (workflow_uuid, operation_index, kind, name, output, error, started_at, completed_at)
        VALUES (p_workflow, p_index, p_kind, p_name, p_output, p_error, p_now, p_now);
      RETURN true;
    END IF;
    UPDATE operations SET output = p_output, error = p_error, completed_at = p_now
      WHERE workflow_uuid = p_workflow AND operation_index = p_index AND completed_at IS NULL;
    RETURN FOUND;
  END $fn$;

  -- Announces the payloads (see notifications.ts), delivered at the commit of the caller's transaction.
  CREATE FUNCTION announce(p_channel text, p_payloads text[]) RETURNS void LANGUAGE plpgsql AS $fn$
  BEGIN
    PERFORM pg_notify(p_channel, payload) FROM unnest(p_payloads) AS payload;
  END $fn$;

  -- Whether p_incarnation (or no process) holds executor p_executor now. It takes the id's advisory
  -- lock in shared mode until the caller's commit (key EXECUTOR_LOCK_KEY, hashtext of the id): a
  -- registration under the id takes it exclusively (see executors.ts), so it waits for every write
  -- that checked the id before it, and its recovery then sees what they wrote, whether or not the id
  -- had a row.
  CREATE FUNCTION holds_executor(p_executor text, p_incarnation text) RETURNS boolean LANGUAGE plpgsql AS $fn$
  DECLARE
    v_incarnation text;
  BEGIN
    PERFORM pg_advisory_xact_lock_shared(${EXECUTOR_LOCK_KEY}, hashtext(p_executor));
    SELECT incarnation INTO v_incarnation FROM executors WHERE executor_id = p_executor;
    RETURN v_incarnation IS NULL OR v_incarnation = p_incarnation;
  END $fn$;

  -- An engine's start (p_executor given) is refused ('not-held') once another process registered
  -- under its executor id: a row inserted as that id's would be run by neither.
  CREATE FUNCTION start_workflow(p_workflow text, p_name text, p_inputs text, p_deadline bigint, p_now bigint,
    p_executor text, p_incarnation text, p_channel text, p_payloads text[], OUT refusal text, OUT detail text, OUT inserted boolean)
  LANGUAGE plpgsql AS $fn$
  BEGIN
    IF p_executor IS NOT NULL AND NOT holds_executor(p_executor, p_incarnation) THEN
      refusal := 'not-held'; detail := p_executor; inserted := false; RETURN;
    END IF;
    INSERT INTO workflows (workflow_uuid, name, status, inputs, parent_uuid, deadline_ms, created_at, updated_at, executor_id)
      SELECT p_workflow, p_name, 'PENDING', p_inputs, NULL, p_deadline, p_now, p_now, p_executor
      WHERE NOT EXISTS (SELECT 1 FROM deleted_workflows WHERE workflow_uuid = p_workflow)
      ON CONFLICT (workflow_uuid) DO NOTHING;
    inserted := FOUND;
    IF inserted THEN PERFORM announce(p_channel, p_payloads); END IF;
  END $fn$;

  -- The first candidate UUID free for the child is taken, and recorded (its output given in p_outputs).
  CREATE FUNCTION start_child_workflow(p_workflow text, p_index integer, p_kind text, p_name text,
    p_candidates text[], p_outputs text[], p_child_name text, p_inputs text, p_deadline bigint, p_now bigint,
    p_executor text, p_incarnation text, OUT refusal text, OUT detail text, OUT child text)
  LANGUAGE plpgsql AS $fn$
  BEGIN
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'record') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    FOR i IN 1 .. coalesce(array_length(p_candidates, 1), 0) LOOP
      INSERT INTO workflows (workflow_uuid, name, status, inputs, parent_uuid, deadline_ms, created_at, updated_at, executor_id)
        SELECT p_candidates[i], p_child_name, 'PENDING', p_inputs, p_workflow, p_deadline, p_now, p_now, p_executor
        WHERE NOT EXISTS (SELECT 1 FROM deleted_workflows WHERE workflow_uuid = p_candidates[i])
        ON CONFLICT (workflow_uuid) DO NOTHING;
      IF FOUND THEN
        PERFORM record_operation(p_workflow, p_index, p_kind, p_name, true, p_outputs[i], NULL, p_now);
        child := p_candidates[i];
        RETURN;
      END IF;
    END LOOP;
  END $fn$;

  -- Records a PENDING workflow's outcome; finished is false when it was no longer PENDING.
  CREATE FUNCTION finish_workflow(p_workflow text, p_status text, p_output text, p_error text, p_now bigint,
    p_executor text, p_incarnation text, p_channel text, p_payloads text[], OUT refusal text, OUT detail text, OUT finished boolean)
  LANGUAGE plpgsql AS $fn$
  BEGIN
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'finish') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    UPDATE workflows SET status = p_status, output = p_output, error = p_error, updated_at = p_now
      WHERE workflow_uuid = p_workflow AND status = 'PENDING';
    finished := FOUND;
    IF finished THEN PERFORM announce(p_channel, p_payloads); END IF;
  END $fn$;

  CREATE FUNCTION record_outcome(p_workflow text, p_index integer, p_kind text, p_name text, p_first boolean,
    p_output text, p_error text, p_now bigint, p_executor text, p_incarnation text, p_mode text, OUT refusal text, OUT detail text)
  LANGUAGE plpgsql AS $fn$
  BEGIN
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, p_mode) l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    IF NOT record_operation(p_workflow, p_index, p_kind, p_name, p_first, p_output, p_error, p_now) THEN
      refusal := 'no-started-wait';
    END IF;
  END $fn$;

  -- Starts a wait (p_first), or gives a started one its next deadline and detail (a step's next attempt).
  CREATE FUNCTION start_wait(p_workflow text, p_index integer, p_kind text, p_name text, p_first boolean,
    p_deadline bigint, p_detail text, p_now bigint, p_executor text, p_incarnation text, OUT refusal text, OUT detail text)
  LANGUAGE plpgsql AS $fn$
  BEGIN
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'record') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    IF p_first THEN
      INSERT INTO operations (workflow_uuid, operation_index, kind, name, deadline_ms, wait_detail, started_at)
        VALUES (p_workflow, p_index, p_kind, p_name, p_deadline, p_detail, p_now);
    ELSE
      UPDATE operations SET deadline_ms = p_deadline, wait_detail = p_detail
        WHERE workflow_uuid = p_workflow AND operation_index = p_index AND completed_at IS NULL;
      IF NOT FOUND THEN refusal := 'no-started-wait'; END IF;
    END IF;
  END $fn$;

  -- A handler's send: 'sent', 'duplicate' (the idempotency key was used), 'not-found' or 'cancelled'.
  CREATE FUNCTION send_message(p_destination text, p_topic text, p_message text, p_key text, p_now bigint,
    p_channel text, p_payloads text[], OUT outcome text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_status text;
  BEGIN
    SELECT status INTO v_status FROM workflows WHERE workflow_uuid = p_destination FOR NO KEY UPDATE;
    IF NOT FOUND THEN outcome := 'not-found'; RETURN; END IF;
    IF v_status = 'CANCELLED' THEN outcome := 'cancelled'; RETURN; END IF;
    INSERT INTO messages (destination_uuid, topic, message, idempotency_key, created_at) VALUES (p_destination, p_topic, p_message, p_key, p_now)
      ON CONFLICT (destination_uuid, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;
    IF NOT FOUND THEN outcome := 'duplicate'; RETURN; END IF;
    PERFORM announce(p_channel, p_payloads);
    outcome := 'sent';
  END $fn$;

  -- A workflow's send, recorded as its operation: 'sent', or the destination's refusal ('not-found',
  -- 'cancelled'), recorded with the error given for it.
  CREATE FUNCTION send_from_workflow(p_workflow text, p_index integer, p_kind text, p_name text,
    p_destination text, p_topic text, p_message text, p_not_found_error text, p_cancelled_error text, p_now bigint,
    p_executor text, p_incarnation text, p_channel text, p_payloads text[], OUT refusal text, OUT detail text, OUT outcome text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_status text; v_error text;
  BEGIN
    -- Both rows, in UUID order: two workflows sending to each other wait rather than deadlock.
    PERFORM 1 FROM workflows WHERE workflow_uuid IN (p_workflow, p_destination) ORDER BY workflow_uuid FOR NO KEY UPDATE;
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'record') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    SELECT status INTO v_status FROM workflows WHERE workflow_uuid = p_destination;
    IF v_status IS NULL OR v_status = 'CANCELLED' THEN
      outcome := CASE WHEN v_status IS NULL THEN 'not-found' ELSE 'cancelled' END;
      v_error := CASE WHEN v_status IS NULL THEN p_not_found_error ELSE p_cancelled_error END;
      -- The error to record is built only when needed: asked for, with nothing written (the caller calls again with it).
      IF v_error IS NULL THEN refusal := 'needs-error'; RETURN; END IF;
      PERFORM record_operation(p_workflow, p_index, p_kind, p_name, true, NULL, v_error, p_now);
      RETURN;
    END IF;
    INSERT INTO messages (destination_uuid, topic, message, idempotency_key, created_at) VALUES (p_destination, p_topic, p_message, NULL, p_now);
    PERFORM record_operation(p_workflow, p_index, p_kind, p_name, true, NULL, NULL, p_now);
    PERFORM announce(p_channel, p_payloads);
    outcome := 'sent';
  END $fn$;

  -- setEvent: inserted false (the first value kept, the operation recorded with p_duplicate_error) when the key is set.
  CREATE FUNCTION set_event(p_workflow text, p_index integer, p_kind text, p_name text, p_key text, p_value text,
    p_duplicate_error text, p_now bigint, p_executor text, p_incarnation text, p_channel text, p_payloads text[],
    OUT refusal text, OUT detail text, OUT inserted boolean)
  LANGUAGE plpgsql AS $fn$
  BEGIN
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'record') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    -- messages_before: the highest message id this statement sees (see events.ts).
    INSERT INTO events (workflow_uuid, key, value, created_at, operation_index, messages_before)
      VALUES (p_workflow, p_key, p_value, p_now, p_index, (SELECT coalesce(max(message_id), 0) FROM messages))
      ON CONFLICT (workflow_uuid, key) DO NOTHING;
    inserted := FOUND;
    -- The error to record is built only when needed: asked for, with nothing written (the caller calls again with it).
    IF NOT inserted AND p_duplicate_error IS NULL THEN refusal := 'needs-error'; RETURN; END IF;
    PERFORM record_operation(p_workflow, p_index, p_kind, p_name, true, NULL, CASE WHEN inserted THEN NULL ELSE p_duplicate_error END, p_now);
    IF inserted THEN PERFORM announce(p_channel, p_payloads); END IF;
  END $fn$;

  -- Appends a value (p_value NULL: closes the stream) at the stream's next position, the caller
  -- holding the workflow's row lock and passing its status; -1 (nothing written) when the workflow
  -- is not PENDING or the stream is closed. See streams.ts.
  CREATE FUNCTION append_to_stream(p_workflow text, p_status text, p_key text, p_value text, p_index integer, p_now bigint)
  RETURNS integer LANGUAGE plpgsql AS $fn$
  DECLARE
    v_position integer; v_last text;
  BEGIN
    IF p_status IS DISTINCT FROM 'PENDING' THEN RETURN -1; END IF;
    SELECT s.position, s.value INTO v_position, v_last FROM streams s
      WHERE s.workflow_uuid = p_workflow AND s.key = p_key ORDER BY s.position DESC LIMIT 1;
    IF FOUND AND v_last IS NULL THEN RETURN -1; END IF;
    v_position := coalesce(v_position + 1, 0);
    INSERT INTO streams (workflow_uuid, key, position, value, created_at, operation_index)
      VALUES (p_workflow, p_key, v_position, p_value, p_now, p_index);
    RETURN v_position;
  END $fn$;

  -- A step's (or a handler's) stream write: the position taken, or -1 when the stream or its workflow had ended.
  CREATE FUNCTION append_stream(p_workflow text, p_key text, p_value text, p_index integer, p_now bigint,
    p_channel text, p_payloads text[], OUT appended integer)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_status text;
  BEGIN
    SELECT status INTO v_status FROM workflows WHERE workflow_uuid = p_workflow FOR NO KEY UPDATE;
    appended := append_to_stream(p_workflow, v_status, p_key, p_value, p_index, p_now);
    IF appended >= 0 THEN PERFORM announce(p_channel, p_payloads); END IF;
  END $fn$;

  -- A workflow's writeStream (p_value) or closeStream (p_value NULL), recorded as its operation: the
  -- position taken; -1 when the stream had ended, recorded with p_closed_error (asked for when
  -- missing, see 'needs-error'), except that closing a closed stream is recorded as done.
  CREATE FUNCTION write_stream(p_workflow text, p_index integer, p_kind text, p_name text, p_key text, p_value text,
    p_closed_error text, p_now bigint, p_executor text, p_incarnation text, p_channel text, p_payloads text[],
    OUT refusal text, OUT detail text, OUT appended integer)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_status text; v_last text;
  BEGIN
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'record') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    IF p_value IS NULL THEN
      SELECT s.value INTO v_last FROM streams s WHERE s.workflow_uuid = p_workflow AND s.key = p_key ORDER BY s.position DESC LIMIT 1;
      IF FOUND AND v_last IS NULL THEN
        PERFORM record_operation(p_workflow, p_index, p_kind, p_name, true, NULL, NULL, p_now);
        appended := -1; RETURN;
      END IF;
    END IF;
    SELECT status INTO v_status FROM workflows WHERE workflow_uuid = p_workflow;
    appended := append_to_stream(p_workflow, v_status, p_key, p_value, p_index, p_now);
    IF appended < 0 AND p_closed_error IS NULL THEN refusal := 'needs-error'; RETURN; END IF;
    PERFORM record_operation(p_workflow, p_index, p_kind, p_name, true,
      CASE WHEN appended < 0 OR p_value IS NULL THEN NULL ELSE appended::text END,
      CASE WHEN appended < 0 THEN p_closed_error END, p_now);
    IF appended >= 0 THEN PERFORM announce(p_channel, p_payloads); END IF;
  END $fn$;

  -- One attempt of recv (p_topic, the queue's stored topic) or of an in-workflow getEvent (p_target,
  -- p_key): outcome 'recorded' (value: what was recorded: the message, consumed now; the event's
  -- value; or p_timeout_output when p_wait is false and there was nothing), 'started' (p_first: the
  -- wait starts, with p_deadline and p_detail), or 'none' (a resumed wait found nothing, and wrote
  -- nothing: checked before any lock, so that such an attempt commits nothing).
  CREATE FUNCTION attempt_read(p_workflow text, p_index integer, p_kind text, p_name text, p_first boolean,
    p_topic text, p_target text, p_key text, p_wait boolean, p_deadline bigint, p_detail text, p_timeout_output text,
    p_now bigint, p_executor text, p_incarnation text, OUT refusal text, OUT detail text, OUT outcome text, OUT value text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    v_message_id bigint;
  BEGIN
    IF NOT p_first AND p_wait THEN
      IF p_topic IS NOT NULL THEN
        PERFORM 1 FROM messages WHERE destination_uuid = p_workflow AND topic = p_topic AND consumed_at IS NULL LIMIT 1;
      ELSE
        PERFORM 1 FROM events WHERE workflow_uuid = p_target AND key = p_key;
      END IF;
      IF NOT FOUND THEN outcome := 'none'; RETURN; END IF;
    END IF;
    SELECT l.refusal, l.detail INTO refusal, detail FROM lock_recording(p_workflow, p_executor, p_incarnation, 'record') l;
    IF refusal IS NOT NULL THEN RETURN; END IF;
    IF p_topic IS NOT NULL THEN
      SELECT message_id, message INTO v_message_id, value FROM messages
        WHERE destination_uuid = p_workflow AND topic = p_topic AND consumed_at IS NULL ORDER BY message_id LIMIT 1;
    ELSE
      SELECT e.value INTO value FROM events e WHERE e.workflow_uuid = p_target AND e.key = p_key;
    END IF;
    IF value IS NULL AND p_wait THEN
      IF p_first THEN
        INSERT INTO operations (workflow_uuid, operation_index, kind, name, deadline_ms, wait_detail, started_at)
          VALUES (p_workflow, p_index, p_kind, p_name, p_deadline, p_detail, p_now);
        outcome := 'started';
      ELSE
        outcome := 'none';
      END IF;
      RETURN;
    END IF;
    value := coalesce(value, p_timeout_output);
    IF NOT record_operation(p_workflow, p_index, p_kind, p_name, p_first, value, NULL, p_now) THEN
      refusal := 'no-started-wait'; value := NULL; RETURN;
    END IF;
    IF v_message_id IS NOT NULL THEN
      UPDATE messages SET consumed_at = p_now, consumed_by = p_index WHERE message_id = v_message_id;
    END IF;
    outcome := 'recorded';
  END $fn$;
`;

/**
 * Why a recording function wrote nothing (see the header); null when it went on. 'needs-error': it
 * would record an error it was not given (a duplicate event key, a refused send), which the caller
 * builds only then and passes in a second call.
 */
export type Refusal = 'not-found' | 'cancelled' | 'not-held' | 'no-started-wait' | 'needs-error';

/** What every recording function returns besides its own result. */
export interface Refusable {
  refusal: Refusal | null;
  /** The cancellation's error ('cancelled'), or the holder's executor id ('not-held'). */
  detail: string | null;
}

/** The SQL that calls each function, by name and parameter count (built once). */
const callTexts = new Map<string, string>();

/** SQL that calls function `name` with `count` parameters and returns its one row. */
export function callText(name: string, count: number): string {
  const key = `${name}/${count}`;
  let text = callTexts.get(key);
  if (text === undefined) {
    text = `SELECT * FROM ${name}(${Array.from({ length: count }, (_unused, index) => `$${index + 1}`).join(', ')})`;
    callTexts.set(key, text);
  }
  return text;
}

/** Calls a recording function on `sql` (one statement, prepared once per connection) and returns its row. */
export async function callFunction<Row extends object>(sql: Sql, name: string, values: unknown[]): Promise<Row> {
  const { rows } = await sql.query(callText(name, values.length), values, `durablite.${name}/${values.length}`);
  return rows[0] as Row;
}
