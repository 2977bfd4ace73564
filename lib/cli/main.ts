#!/usr/bin/env node
// The durablite command line: inspect and talk to a database, even while its owner runs.
//   durablite <command> --db FILE [options]      (durablite <command> --help for each command)
// Exit codes: 0 success, 1 not found or timed out, 2 bad usage; errors go to stderr in one line.
// A command that only reads opens the file read-only: the CLI never writes to a file it only reads,
// and never creates, upgrades or converts one (only the application's Engine does).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, openClientSession } from '../client';
import { isPostgresUrl } from '../postgres/database';
import type { Session } from '../session';
import { DatabaseOpenError, StreamTimeoutError, WorkflowNotFoundError, WorkflowPendingError } from '../errors';
import { countPrunable, FINISHED_STATUSES, planDelete } from '../ops/deletion';
import { sendFromHandler } from '../ops/messages';
import { encodePayload } from '../ops/payload';
import { WORKFLOW_STATUSES, type DeletedRows, type MessageInfo, type WaitInfo, type WorkflowStatusName } from '../types';
import { MAX_DURATION_SECONDS, optionalIdempotencyKey, optionalTopic, requireNonEmptyString } from '../validate';
import { runBenchCommand } from './bench';
import { MIGRATE_SUMMARY, runMigrateCommand } from './migrate';
import { compact, table, time, toJson } from './format';

/** A failure with its exit code and one-line message. */
class CliError extends Error {
  constructor(readonly exitCode: 1 | 2, message: string) {
    super(message);
  }
}

/** An option's value: a string, true for a flag, every value of an option that may repeat. */
type OptionValues = Record<string, string | boolean | string[] | undefined>;

interface CommandSpec {
  usage: string;
  summary: string;
  /** Whether the command writes to the database (it is opened read-only otherwise), given its options. */
  writes?: boolean | ((values: OptionValues) => boolean);
  positionals: string[];
  /** `multiple`: the option may be given more than once; its value is then the array of them all. */
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; description: string }>;
  /** What --json means for this command, when it means more than JSON output. */
  jsonDescription?: string;
  /**
   * `session` is the client's own (the CLI opened it), for what the Client does not offer: a send's
   * duplicate flag, events in stored order. `out` prints a line at once, for output that comes over
   * time (a followed stream); what run resolves to is printed last, unless it is empty.
   */
  run(client: Client, args: string[], values: OptionValues, json: boolean, session: Session, out: (text: string) => void): Promise<string>;
}

const statusNames: readonly string[] = WORKFLOW_STATUSES;

function timeoutOption(value: OptionValues[string]): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new CliError(2, `--timeout must be a number of seconds >= 0, got "${String(value)}"`);
  }
  return seconds;
}

/** --from: a stream offset, an integer >= 0 (default 0). */
function offsetOption(value: OptionValues[string]): number {
  if (value === undefined) return 0;
  const offset = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim()) || !Number.isSafeInteger(offset)) {
    throw new CliError(2, `--from must be an offset, an integer >= 0, got "${String(value)}"`);
  }
  return offset;
}

/** An integer >= 0 (`what` says what it is in the message), or undefined when the option is absent. */
function integerOption(option: string, value: OptionValues[string], what: string, minimum = 0): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number) || number < minimum) {
    throw new CliError(2, `${option} must be ${what}, got "${String(value)}"`);
  }
  return number;
}

/** --before: an ISO 8601 date or time (`2026-11-01`, `2026-11-01T12:00:00Z`), or epoch milliseconds. */
function beforeOption(value: OptionValues[string]): number {
  if (value === undefined) throw new CliError(2, '--before is required: an ISO date like 2026-11-01 or 2026-11-01T12:00:00Z, or epoch milliseconds.');
  const text = typeof value === 'string' ? value.trim() : '';
  const epochMs = /^\d+$/.test(text) ? Number(text) : /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isSafeInteger(epochMs)) {
    throw new CliError(2, `--before must be an ISO date like 2026-11-01 or 2026-11-01T12:00:00Z, or epoch milliseconds, got "${String(value)}"`);
  }
  return epochMs;
}

/** --status for prune, as often as needed: finished statuses only (default: all of them). */
function pruneStatuses(value: OptionValues[string]): WorkflowStatusName[] {
  if (value === undefined) return [...FINISHED_STATUSES];
  const given = Array.isArray(value) ? value : [String(value)];
  for (const status of given) {
    if (status === 'PENDING') throw new CliError(2, '--status PENDING is refused: prune deletes finished workflows only. Cancel a PENDING workflow first (durablite cancel), or delete it with durablite delete --force.');
    if (!FINISHED_STATUSES.includes(status as WorkflowStatusName)) throw new CliError(2, `--status must be one of ${FINISHED_STATUSES.join(', ')}, got "${status}"`);
  }
  return [...new Set(given)] as WorkflowStatusName[];
}

/** `workflows 1, operations 3, ...`: the rows of each table a delete or prune takes. */
function describeRows(rows: DeletedRows): string {
  return `workflows ${rows.workflows}, operations ${rows.operations}, events ${rows.events}, stream entries ${rows.streamEntries}, messages ${rows.messages}, controls ${rows.controls}`;
}

/** `1 workflow` or `3 workflows`. */
function workflowCount(count: number): string {
  return `${count} workflow${count === 1 ? '' : 's'}`;
}

/** MESSAGE is JSON with --json (refused when it does not parse), the string as given otherwise. */
function parseMessage(text: string, json: boolean): unknown {
  if (!json) return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(2, `MESSAGE is not valid JSON (${(error as Error).message}). Quote a JSON string as '"text"', or drop --json to send the text as a plain string.`);
  }
}

/**
 * Sends as `client.send` does, and says whether the message was stored or was a repeat of an
 * earlier send with the same idempotency key (which stores nothing).
 */
async function sendReportingDuplicate(session: Session, destinationUUID: string, message: unknown, topic: string | undefined, idempotencyKey: string | undefined): Promise<{ duplicate: boolean }> {
  requireNonEmptyString('destinationUUID', destinationUUID);
  const checkedTopic = optionalTopic(topic);
  const key = optionalIdempotencyKey(idempotencyKey);
  const text = encodePayload(session, message, 'message');
  const result = await sendFromHandler(session, destinationUUID, text, checkedTopic, key);
  return { duplicate: result === 'duplicate' };
}

/**
 * The key each setEvent operation set, by operation index. Events are stored in the order their
 * operations ran, so the n-th successful setEvent set the n-th event; a failed one (a duplicate key)
 * names its key in its error.
 */
async function setEventKeys(session: Session, workflowUUID: string, operations: { operationIndex: number; kind: string; error: Error | null }[]): Promise<Map<number, string>> {
  const events = await session.store.readCommitted(() => session.store.events.listForWorkflow(workflowUUID), workflowUUID);
  const keys = new Map<number, string>();
  let next = 0;
  for (const operation of operations) {
    if (operation.kind !== 'setEvent') continue;
    const key = operation.error === null ? events[next++]?.key : (operation.error as { key?: unknown }).key;
    if (typeof key === 'string') keys.set(operation.operationIndex, key);
  }
  return keys;
}

/** What a wait waits on, in words: `topic "approval"`, `event "status" of w-1`; `-` for a sleep. */
function describeWait(wait: WaitInfo): string {
  if (wait.unreadable !== undefined) return `unreadable (${compact(wait.unreadable, 80)})`;
  if (wait.branches !== undefined) return `any of: ${wait.branches.map(describeBranch).join(', ')}`;
  if (wait.kind === 'recv') return wait.topic === null || wait.topic === undefined ? 'no topic' : `topic ${JSON.stringify(wait.topic)}`;
  if (wait.kind === 'getEvent') return `event ${JSON.stringify(wait.key)} of ${wait.targetUUID}`;
  return '-';
}

/** One branch of a wait on several things, as recorded: `{ recv: topic }` or `{ getEvent: { workflowUUID, key } }`. */
function describeBranch(branch: unknown): string {
  const { recv, getEvent } = (typeof branch === 'object' && branch !== null ? branch : {}) as { recv?: unknown; getEvent?: { workflowUUID?: unknown; key?: unknown } };
  if (recv === null) return 'no topic';
  if (typeof recv === 'string') return `topic ${JSON.stringify(recv)}`;
  if (typeof getEvent === 'object' && getEvent !== null) return `event ${JSON.stringify(getEvent.key)} of ${String(getEvent.workflowUUID)}`;
  return compact(branch);
}

/** A workflow's messages grouped by topic (each group in queue order), topics in order of their first message. */
function messagesByTopic(messages: MessageInfo[]): { topic: string | null; pending: number; consumed: number; messages: MessageInfo[] }[] {
  const groups = new Map<string | null, { topic: string | null; pending: number; consumed: number; messages: MessageInfo[] }>();
  for (const message of messages) {
    let group = groups.get(message.topic);
    if (group === undefined) groups.set(message.topic, (group = { topic: message.topic, pending: 0, consumed: 0, messages: [] }));
    group.messages.push(message);
    if (message.consumed) group.consumed++;
    else group.pending++;
  }
  return [...groups.values()];
}


const commands: Record<string, CommandSpec> = {
  workflows: {
    usage: 'durablite workflows --db FILE [--status S] [--name NAME] [--limit N] [--json]',
    summary: 'List workflows, oldest first.',
    positionals: [],
    options: {
      status: { type: 'string', description: `only this status (${statusNames.join(', ')})` },
      name: { type: 'string', description: 'only workflows of this name, e.g. Shop.checkout' },
      limit: { type: 'string', description: 'at most N workflows' },
    },
    async run(client, _args, values, json) {
      const status = values.status as string | undefined;
      if (status !== undefined && !statusNames.includes(status)) throw new CliError(2, `--status must be one of ${statusNames.join(', ')}, got "${status}"`);
      const limit = values.limit === undefined ? undefined : Number(values.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new CliError(2, `--limit must be an integer >= 1, got "${String(values.limit)}"`);
      const workflows = await client.listWorkflows({
        ...(status === undefined ? {} : { status: status as WorkflowStatusName }),
        ...(values.name === undefined ? {} : { workflowName: values.name as string }),
        ...(limit === undefined ? {} : { limit }),
      });
      if (json) return toJson(workflows);
      if (workflows.length === 0) return 'No workflows.';
      return table(
        ['UUID', 'NAME', 'STATUS', 'CREATED', 'UPDATED'],
        workflows.map((workflow) => [workflow.workflowUUID, workflow.workflowName, workflow.status, time(workflow.createdAt), time(workflow.updatedAt)]),
      );
    },
  },
  show: {
    usage: 'durablite show UUID --db FILE [--json]',
    summary: 'Show a workflow: status, result, operations, events, messages by topic, streams and current waits.',
    positionals: ['UUID'],
    options: {},
    async run(client, [uuid], _values, json, session) {
      const handle = client.retrieveWorkflow(uuid!);
      const status = await handle.getStatus();
      if (status === null) throw new CliError(1, `No workflow with UUID "${uuid}".`);
      const operations = await client.listOperations(uuid!);
      let outcome: { result?: unknown; error?: unknown } = {};
      if (status.status !== 'PENDING') {
        outcome = await handle.getResult().then((result) => ({ result }), (error: unknown) => ({ error }));
      }
      const waitingOn = operations.filter((operation) => operation.completedAt === null);
      const keys = await setEventKeys(session, uuid!, operations);
      const events = await client.listEvents(uuid!);
      const topics = messagesByTopic(await client.listMessages(uuid!));
      const streams = await client.listStreams(uuid!);
      const waits = await client.listWaits({ workflowUUID: uuid! });
      if (json) {
        const described = operations.map((operation) => (keys.has(operation.operationIndex) ? { ...operation, key: keys.get(operation.operationIndex) } : operation));
        return toJson({ ...status, ...outcome, operations: described, waitingOn, events, messagesByTopic: topics, streams, waits });
      }
      const lines = [
        `UUID:      ${status.workflowUUID}`,
        `Name:      ${status.workflowName}`,
        `Status:    ${status.status}`,
        `Inputs:    ${compact(status.inputs, 200)}`,
        `Created:   ${time(status.createdAt)}`,
        `Updated:   ${time(status.updatedAt)}`,
      ];
      if ('result' in outcome) lines.push(`Result:    ${compact(outcome.result, 200)}`);
      if ('error' in outcome) lines.push(`Error:     ${compact(outcome.error, 200)}`);
      if (status.parentUUID !== null) lines.push(`Parent:    ${status.parentUUID}`);
      for (const wait of waits) {
        const on = describeWait(wait);
        lines.push(`Waiting:   #${wait.operationIndex} ${wait.kind}${on === '-' ? '' : ` on ${on}`} until ${time(wait.deadlineMs)}`);
      }
      lines.push('', operations.length === 0 ? 'No operations recorded.' : table(
        ['#', 'KIND', 'NAME', 'OUTCOME', 'COMPLETED'],
        operations.map((operation) => [
          String(operation.operationIndex),
          operation.kind,
          keys.has(operation.operationIndex) ? `key ${JSON.stringify(keys.get(operation.operationIndex))}` : operation.name,
          operation.completedAt === null
            ? `waiting (until ${time(operation.deadlineMs)})`
            : operation.error !== null ? `error: ${compact(operation.error)}` : operation.output === undefined ? 'done' : compact(operation.output),
          time(operation.completedAt),
        ]),
      ));
      const eventKeys = Object.keys(events);
      lines.push('', eventKeys.length === 0 ? 'Events: none' : `Events:\n${table(['KEY', 'VALUE'], eventKeys.map((key) => [key, compact(events[key], 100)]))}`);
      lines.push('', topics.length === 0 ? 'Messages: none' : [
        `Messages, by topic: ${topics.map((group) => `${group.topic === null ? 'no topic' : JSON.stringify(group.topic)} ${group.pending} pending, ${group.consumed} consumed`).join('; ')}`,
        table(
          ['TOPIC', 'STATE', 'SENT', 'MESSAGE'],
          topics.flatMap((group) => group.messages.map((message) => [message.topic ?? '-', message.consumed ? 'consumed' : 'pending', time(message.createdAt), compact(message.message, 80)])),
        ),
      ].join('\n'));
      lines.push('', streams.length === 0 ? 'Streams: none' : `Streams:\n${table(['KEY', 'LENGTH', 'STATE'], streams.map((stream) => [stream.key, String(stream.length), stream.closed ? 'closed' : 'open']))}`);
      return lines.join('\n');
    },
  },
  waits: {
    usage: 'durablite waits --db FILE [--workflow UUID] [--json]',
    summary: 'List every wait under way: which workflow waits, on what, until when.',
    positionals: [],
    options: { workflow: { type: 'string', description: 'only the waits of this workflow' } },
    async run(client, _args, values, json) {
      const workflowUUID = values.workflow as string | undefined;
      const waits = await client.listWaits(workflowUUID === undefined ? {} : { workflowUUID });
      if (json) return toJson(waits);
      if (waits.length === 0) return 'No waits.';
      return table(
        ['WORKFLOW', 'NAME', '#', 'KIND', 'WAITING ON', 'DEADLINE'],
        waits.map((wait) => [wait.workflowUUID, wait.workflowName, String(wait.operationIndex), wait.kind, describeWait(wait), time(wait.deadlineMs)]),
      );
    },
  },
  events: {
    usage: 'durablite events UUID --db FILE [--json]',
    summary: 'List the events a workflow has set.',
    positionals: ['UUID'],
    options: {},
    async run(client, [uuid], _values, json) {
      const events = await client.listEvents(uuid!);
      if (json) return toJson(events);
      const keys = Object.keys(events);
      if (keys.length === 0) return `No events for "${uuid}".`;
      return table(['KEY', 'VALUE'], keys.map((key) => [key, compact(events[key], 100)]));
    },
  },
  'get-event': {
    usage: 'durablite get-event UUID KEY --db FILE [--timeout S] [--json]',
    summary: 'Wait for an event and print its value (exit 1 when it does not arrive in time).',
    positionals: ['UUID', 'KEY'],
    options: { timeout: { type: 'string', description: 'seconds to wait (default 0: check once)' } },
    async run(client, [uuid, key], values, json) {
      const value = await client.getEvent(uuid!, key!, timeoutOption(values.timeout) ?? 0);
      if (value === null) throw new CliError(1, `Event "${key}" of "${uuid}" was not set in time.`);
      return json ? toJson(value) : typeof value === 'string' ? value : compact(value, Infinity);
    },
  },
  messages: {
    usage: 'durablite messages UUID --db FILE [--topic T] [--json]',
    summary: 'List the messages sent to a workflow, pending and consumed, in queue order.',
    positionals: ['UUID'],
    options: { topic: { type: 'string', description: 'only this topic' } },
    async run(client, [uuid], values, json) {
      const messages = await client.listMessages(uuid!, values.topic as string | undefined);
      if (json) return toJson(messages);
      if (messages.length === 0) return `No messages for "${uuid}".`;
      return table(
        ['TOPIC', 'STATE', 'SENT', 'MESSAGE'],
        messages.map((message) => [message.topic ?? '-', message.consumed ? 'consumed' : 'pending', time(message.createdAt), compact(message.message, 80)]),
      );
    },
  },
  stream: {
    usage: 'durablite stream UUID KEY --db FILE [--follow] [--from OFFSET] [--json]',
    summary: 'Print the values of a workflow\'s stream, one a line; --follow prints new ones until it ends.',
    jsonDescription: 'print each value as one line of JSON, and nothing else',
    positionals: ['UUID', 'KEY'],
    options: {
      follow: { type: 'boolean', description: 'wait for new values until the stream ends (closed, or its workflow finished)' },
      from: { type: 'string', description: 'the offset of the first value to print (default 0)' },
    },
    async run(client, [uuid, key], values, json, _session, out) {
      const fromOffset = offsetOption(values.from);
      if ((await client.retrieveWorkflow(uuid!).getStatus()) === null) throw new CliError(1, `No workflow with UUID "${uuid}".`);
      const follow = values.follow === true;
      // Without --follow, what is committed now (timeout 0); with it, no limit on the wait for a value.
      const reader = client.readStream(uuid!, key!, { fromOffset, timeoutSeconds: follow ? MAX_DURATION_SECONDS : 0 });
      let printed = 0;
      let ended = true;
      try {
        for await (const value of reader) {
          out(json ? toJson(value, 0) : typeof value === 'string' ? value : compact(value, Infinity));
          printed++;
        }
      } catch (error) {
        if (!(error instanceof StreamTimeoutError)) throw error;
        ended = false;
      }
      if (json) return '';
      const count = `${printed} value${printed === 1 ? '' : 's'}${fromOffset > 0 ? ` from offset ${fromOffset}` : ''}`;
      return ended ? `(end of stream "${key}": ${count})` : `(stream "${key}" is still open: ${count} so far; --follow waits for more)`;
    },
  },
  send: {
    usage: 'durablite send UUID MESSAGE --db FILE [--topic T] [--idempotency-key K] [--json]',
    summary: 'Send a message to a workflow: MESSAGE as a string, or as JSON with --json.',
    writes: true,
    jsonDescription: 'MESSAGE is JSON (refused when invalid), and print JSON',
    positionals: ['UUID', 'MESSAGE'],
    options: {
      topic: { type: 'string', description: 'the topic to send on (default: none)' },
      'idempotency-key': { type: 'string', description: 'send at most once per key and destination' },
    },
    async run(_client, [uuid, message], values, json, session) {
      const topic = values.topic as string | undefined;
      const { duplicate } = await sendReportingDuplicate(session, uuid!, parseMessage(message!, json), topic, values['idempotency-key'] as string | undefined);
      if (json) return toJson({ sent: !duplicate, duplicate, destinationUUID: uuid, topic: topic ?? null });
      const where = `${uuid}${topic === undefined ? '' : ` on topic "${topic}"`}`;
      return duplicate ? `Not sent again: a message with this idempotency key was already sent to ${where}.` : `Sent to ${where}.`;
    },
  },
  cancel: {
    usage: 'durablite cancel UUID --db FILE [--children] [--json]',
    summary: 'Cancel a workflow (its waits end at once in the owner); a finished one is left as it is.',
    writes: true,
    positionals: ['UUID'],
    options: { children: { type: 'boolean', description: 'also cancel every PENDING descendant' } },
    async run(client, [uuid], values, json) {
      const result = await client.cancelWorkflow(uuid!, { cancelChildren: values.children === true });
      if (json) return toJson({ workflowUUID: uuid, ...result });
      if (result.cancelled.length === 0) {
        return result.previousStatus === 'CANCELLED' ? `${uuid} was already CANCELLED.` : `${uuid} is ${result.previousStatus}: left as it is.`;
      }
      const descendants = result.cancelled.filter((cancelled) => cancelled !== uuid);
      const head = result.cancelled.includes(uuid!) ? `Cancelled ${uuid}.` : `${uuid} is ${result.previousStatus}: left as it is.`;
      return descendants.length === 0 ? head : `${head} Cancelled ${descendants.length} descendant(s): ${descendants.join(', ')}.`;
    },
  },
  resume: {
    usage: 'durablite resume UUID --db FILE [--json]',
    summary: 'Return a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow to PENDING; the owner runs it on.',
    writes: true,
    positionals: ['UUID'],
    options: {},
    async run(client, [uuid], _values, json) {
      const result = await client.resumeWorkflow(uuid!);
      if (json) return toJson({ workflowUUID: uuid, ...result });
      return result.resumed
        ? `Resumed ${uuid} (was ${result.previousStatus}): PENDING, and the owner runs it on from its recorded operations.`
        : `${uuid} is ${result.previousStatus}: left as it is.`;
    },
  },
  delete: {
    usage: 'durablite delete UUID --db FILE [--children] [--force] [--dry-run] [--json]',
    summary: 'Delete a finished workflow and all its rows; --dry-run says what would go, writing nothing.',
    writes: (values) => values['dry-run'] !== true,
    positionals: ['UUID'],
    options: {
      children: { type: 'boolean', description: 'also delete every descendant' },
      force: { type: 'boolean', description: 'cancel PENDING ones first, then delete them (refused otherwise)' },
      'dry-run': { type: 'boolean', description: 'print what would be deleted, and write nothing (the file is opened read-only)' },
    },
    async run(client, [uuid], values, json, session) {
      const request = { deleteChildren: values.children === true, force: values.force === true };
      if (values['dry-run'] === true) {
        const plan = await session.store.readCommitted(() => planDelete(session, uuid!, request));
        if (plan === undefined) throw new CliError(1, `No workflow with UUID "${uuid}".`);
        const refused = request.force ? [] : plan.pending;
        if (json) return toJson({ dryRun: true, workflowUUID: uuid, workflows: plan.workflows, refused, cancelled: request.force ? plan.pending : [], rows: plan.rows });
        const listed = plan.workflows.map((workflow) => `${workflow.workflowUUID} (${workflow.status})`).join(', ');
        if (refused.length > 0) {
          return `Would refuse, deleting nothing: PENDING ${refused.join(', ')}. Use --force to cancel and delete, or cancel first. With --force it would delete ${workflowCount(plan.workflows.length)}: ${listed}.`;
        }
        const cancelFirst = plan.pending.length === 0 ? '' : ` (cancelling ${plan.pending.join(', ')} first)`;
        return `Would delete ${workflowCount(plan.workflows.length)}${cancelFirst}: ${listed}.\nRows: ${describeRows(plan.rows)}.`;
      }
      let result;
      try {
        result = await client.deleteWorkflow(uuid!, request);
      } catch (error) {
        if (!(error instanceof WorkflowPendingError)) throw error;
        const which = error.pendingUUIDs.length === 1 && error.pendingUUIDs[0] === uuid ? `${uuid} is PENDING` : `PENDING among those to delete: ${error.pendingUUIDs.join(', ')}`;
        throw new CliError(1, `${which}; nothing was deleted. Use --force to cancel and delete, or cancel first (durablite cancel).`);
      }
      if (json) return toJson({ workflowUUID: uuid, ...result });
      const cancelled = result.cancelled.length === 0 ? '' : `Cancelled first: ${result.cancelled.join(', ')}.\n`;
      return `${cancelled}Deleted ${workflowCount(result.deleted.length)}: ${result.deleted.join(', ')}.\nRows: ${describeRows(result.rows)}.`;
    },
  },
  prune: {
    usage: 'durablite prune --db FILE --before DATE [--status S]... [--batch-size N] [--dry-run] [--json]',
    summary: 'Delete the finished workflows last changed before a time, in batches; --dry-run counts them.',
    writes: (values) => values['dry-run'] !== true,
    positionals: [],
    options: {
      before: { type: 'string', description: 'an ISO date or time (2026-11-01, 2026-11-01T12:00:00Z) or epoch ms (required)' },
      status: { type: 'string', multiple: true, description: `only this status, repeatable (default: all of ${FINISHED_STATUSES.join(', ')})` },
      'batch-size': { type: 'string', description: 'workflows per commit (default 100)' },
      'dry-run': { type: 'boolean', description: 'count what would be deleted, and write nothing (the file is opened read-only)' },
    },
    async run(client, _args, values, json, session) {
      const beforeMs = beforeOption(values.before);
      const statuses = pruneStatuses(values.status);
      const batchSize = integerOption('--batch-size', values['batch-size'], 'an integer >= 1', 1);
      const before = new Date(beforeMs).toISOString();
      if (values['dry-run'] === true) {
        const count = await session.store.readCommitted(() => countPrunable(session, { beforeMs, statuses }));
        if (json) return toJson({ dryRun: true, before, statuses, deleted: count });
        return `Would delete ${workflowCount(count)} (${statuses.join(', ')}) last changed before ${before}.`;
      }
      const result = await client.pruneWorkflows({ finishedBefore: beforeMs, statuses, ...(batchSize === undefined ? {} : { batchSize }) });
      if (json) return toJson({ before, statuses, ...result });
      return `Deleted ${workflowCount(result.deleted)} (${statuses.join(', ')}) last changed before ${before}, in ${result.batches} batch${result.batches === 1 ? '' : 'es'}.\nRows: ${describeRows(result.rows)}.`;
    },
  },
  fork: {
    usage: 'durablite fork UUID --db FILE --from N [--new-uuid U] [--json]',
    summary: 'Start a copy of a workflow that keeps its first N operations and runs on from there; the owner runs it.',
    writes: true,
    positionals: ['UUID'],
    options: {
      from: { type: 'string', description: 'how many recorded operations the fork keeps (0: it runs from the top) (required)' },
      'new-uuid': { type: 'string', description: 'the fork\'s UUID (default: a new random one)' },
    },
    async run(client, [uuid], values, json) {
      const fromOperation = integerOption('--from', values.from, 'a number of operations, an integer >= 0');
      if (fromOperation === undefined) throw new CliError(2, '--from N is required: how many of the workflow\'s recorded operations the fork keeps (0 runs it from the top).');
      const newUUID = values['new-uuid'] as string | undefined;
      if (newUUID === '') throw new CliError(2, '--new-uuid must not be empty');
      const handle = await client.forkWorkflow(uuid!, { fromOperation, ...(newUUID === undefined ? {} : { newWorkflowUUID: newUUID }) });
      if (json) return toJson({ workflowUUID: uuid, fromOperation, newWorkflowUUID: handle.getWorkflowUUID() });
      return `Forked ${uuid} from operation ${fromOperation}: ${handle.getWorkflowUUID()} (PENDING; the owner runs it).`;
    },
  },
};

/** Options every command (except bench) takes, after its own. */
const commonOptions: CommandSpec['options'] = {
  db: { type: 'string', description: 'the database file (required)' },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
  help: { type: 'boolean', description: 'show this help' },
};

function commandHelp(name: string, spec: CommandSpec): string {
  const all = { ...spec.options, ...commonOptions };
  if (spec.jsonDescription !== undefined) all.json = { type: 'boolean', description: spec.jsonDescription };
  const options = Object.entries(all).map(([option, { type, description }]) => `  --${option}${type === 'string' ? ' VALUE' : ''}`.padEnd(28) + description);
  return [`durablite ${name}: ${spec.summary}`, '', `Usage: ${spec.usage}`, '', 'Options:', ...options].join('\n');
}

function mainHelp(): string {
  return [
    'durablite: inspect and talk to a durablite database, even while its owner runs.',
    '',
    'Usage: durablite <command> --db FILE [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, spec]) => `  ${name.padEnd(12)}${spec.summary}`),
    `  ${'migrate'.padEnd(12)}${MIGRATE_SUMMARY}`,
    `  ${'bench'.padEnd(12)}Run the benchmarks on this machine (see durablite bench --help).`,
    '',
    'Every command takes --help, and --json for output that scripts can read.',
    'durablite --version prints the version.',
    'Exit codes: 0 success, 1 not found or timed out, 2 bad usage.',
  ].join('\n');
}

/** This package's version, from the package.json above this file (lib/cli, or dist/lib/cli when built). */
export function packageVersion(): string {
  for (let folder = __dirname; ; folder = path.dirname(folder)) {
    const file = path.join(folder, 'package.json');
    if (fs.existsSync(file)) {
      const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'durablite' && typeof manifest.version === 'string') return manifest.version;
    }
    if (path.dirname(folder) === folder) return 'unknown';
  }
}

/**
 * Parses a command's arguments, with every mistake explained in our own words (exit 2). A negative
 * number after an option that takes a value is that value (`--timeout -1`), not an option.
 */
function parseCommandArgs(spec: CommandSpec, args: string[]): { values: OptionValues; positionals: string[] } {
  const options = { ...spec.options, ...commonOptions };
  const joined: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const next = args[index + 1];
    const option = arg.startsWith('--') ? options[arg.slice(2)] : undefined;
    if (option?.type === 'string' && next !== undefined && /^-\d|^-\.\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      index++;
    } else {
      joined.push(arg);
    }
  }
  const usage = `Usage: ${spec.usage}`;
  const { tokens } = parseArgs({
    args: joined,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: { ...Object.fromEntries(Object.entries(options).map(([option, { type }]) => [option, { type }])), help: { type: 'boolean', short: 'h' } },
  });
  const values: OptionValues = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    const option = options[token.name];
    if (option === undefined) {
      const hint = /^-\d/.test(token.rawName) ? ' An argument that starts with "-" goes after "--", as in "-- -5".' : '';
      throw new CliError(2, `unknown option "${token.rawName}". It takes ${Object.keys(options).map((known) => `--${known}`).join(', ')}.${hint} ${usage}`);
    }
    if (option.type === 'string' && token.value === undefined) {
      throw new CliError(2, `${token.rawName} needs a value, as in "${token.rawName} VALUE". ${usage}`);
    }
    if (option.type === 'boolean' && token.value !== undefined) {
      throw new CliError(2, `${token.rawName} takes no value, got "${token.value}". ${usage}`);
    }
    if (option.multiple === true) {
      const earlier = values[token.name];
      values[token.name] = [...(Array.isArray(earlier) ? earlier : []), token.value!];
    } else {
      values[token.name] = option.type === 'boolean' ? true : token.value;
    }
  }
  return { values, positionals };
}

/** Explains a --db path that is not there, with the CLI's real way forward. */
function missingDatabase(file: string): CliError {
  const resolved = path.resolve(file);
  const folder = path.dirname(resolved);
  const where = fs.existsSync(folder) ? `no file "${path.basename(resolved)}" in ${folder}` : `the folder ${folder} does not exist`;
  return new CliError(
    1,
    `no database at "${file}" (${where}). Check the --db path; it is relative to the current folder. The CLI never creates a database: your application creates it when it first opens its Engine (Engine.open({ database })).`,
  );
}

/**
 * Opens the database for a command, read-only unless the command writes, and never creating,
 * converting or upgrading it: a SQLite file, or a PostgreSQL URL whose schema must be durablite's at
 * this version already.
 */
async function openForCommand(database: string, writes: boolean): Promise<Session> {
  if (isPostgresUrl(database)) {
    // Read-only first, whatever the command: a writing open would create or upgrade the schema.
    const checked = await openClientSession({ database, readOnly: true });
    if (!writes) return checked;
    await checked.close();
    return openClientSession({ database });
  }
  if (!fs.existsSync(database)) throw missingDatabase(database);
  // Even a writing command checks read-only first that the file is a durablite database: a
  // read-write open would add durablite's tables to any other SQLite file.
  const reader = await openClientSession({ database, readOnly: true });
  if (!writes) return reader;
  await reader.close();
  return openClientSession({ database });
}

/** Runs the command line; resolves to the exit code. Output goes to `out`, errors to `err`. */
export async function runCli(argv: string[], out: (text: string) => void = console.log, err: (text: string) => void = console.error): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    out(packageVersion());
    return 0;
  }
  if (name === 'bench') {
    return runBenchCommand(rest, out, err);
  }
  if (name === 'migrate') {
    return runMigrateCommand(rest, out, err);
  }
  const spec = commands[name];
  if (spec === undefined) {
    err(`durablite: unknown command "${name}". Run "durablite --help" for the list.`);
    return 2;
  }
  let client: Client | undefined;
  try {
    const { values, positionals } = parseCommandArgs(spec, rest);
    if (values.help === true) {
      out(commandHelp(name, spec));
      return 0;
    }
    if (typeof values.db !== 'string' || values.db === '') {
      throw new CliError(2, `--db FILE is required. Usage: ${spec.usage}`);
    }
    if (positionals.length !== spec.positionals.length) {
      throw new CliError(2, `expected ${spec.positionals.join(' ') || 'no arguments'}, got ${positionals.length} argument(s). Usage: ${spec.usage}`);
    }
    const session = await openForCommand(values.db, typeof spec.writes === 'function' ? spec.writes(values) : spec.writes === true);
    client = new Client(session);
    const output = await spec.run(client, positionals, values, values.json === true, session, out);
    if (output !== '') out(output);
    return 0;
  } catch (error) {
    if (error instanceof CliError) {
      err(`durablite ${name}: ${error.message}`);
      return error.exitCode;
    }
    const message = (error as Error).message ?? String(error);
    err(`durablite ${name}: ${message.replace(/\s+/g, ' ')}`);
    if (error instanceof WorkflowNotFoundError || error instanceof DatabaseOpenError) return 1;
    if (error instanceof TypeError || error instanceof RangeError) return 2;
    // Any other failure (durablite's errors, and anything unexpected) is a failure of the command.
    return 1;
  } finally {
    await client?.close();
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
