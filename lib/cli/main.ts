#!/usr/bin/env node
// The durablite command line: inspect and talk to a database, even while its owner runs.
//   durablite <command> --db FILE [options]      (durablite <command> --help for each command)
// Exit codes: 0 success, 1 not found or timed out, 2 bad usage; errors go to stderr in one line.
import { parseArgs } from 'node:util';
import { Client } from '../client';
import { DatabaseOpenError, DurabliteError, WorkflowNotFoundError } from '../errors';
import type { WorkflowStatusName } from '../types';
import { runBenchCommand } from './bench';
import { compact, table, time, toJson } from './format';

/** A failure with its exit code and one-line message. */
class CliError extends Error {
  constructor(readonly exitCode: 1 | 2, message: string) {
    super(message);
  }
}

interface CommandSpec {
  usage: string;
  summary: string;
  positionals: string[];
  options: Record<string, { type: 'string' | 'boolean'; description: string }>;
  run(client: Client, args: string[], values: Record<string, string | boolean | undefined>, json: boolean): Promise<string>;
}

const statusNames = ['PENDING', 'SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'];

function timeoutOption(value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new CliError(2, `--timeout must be a number of seconds >= 0, got "${String(value)}"`);
  }
  return seconds;
}

/** MESSAGE arguments are JSON when they parse as JSON, plain strings otherwise. */
function parseMessage(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
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
    summary: 'Show a workflow: status, inputs, result or error, operations, and what it waits on now.',
    positionals: ['UUID'],
    options: {},
    async run(client, [uuid], _values, json) {
      const handle = client.retrieveWorkflow(uuid!);
      const status = await handle.getStatus();
      if (status === null) throw new CliError(1, `No workflow with UUID "${uuid}".`);
      const operations = await client.listOperations(uuid!);
      let outcome: { result?: unknown; error?: unknown } = {};
      if (status.status !== 'PENDING') {
        outcome = await handle.getResult().then((result) => ({ result }), (error: unknown) => ({ error }));
      }
      const waitingOn = operations.filter((operation) => operation.completedAt === null);
      if (json) return toJson({ ...status, ...outcome, operations, waitingOn });
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
      for (const wait of waitingOn) lines.push(`Waiting:   ${wait.kind} ${compact(wait.waitingFor)} until ${time(wait.deadlineMs)}`);
      lines.push('', operations.length === 0 ? 'No operations recorded.' : table(
        ['#', 'KIND', 'NAME', 'OUTCOME', 'COMPLETED'],
        operations.map((operation) => [
          String(operation.operationIndex),
          operation.kind,
          operation.name,
          operation.completedAt === null
            ? `waiting (until ${time(operation.deadlineMs)})`
            : operation.error !== null ? `error: ${compact(operation.error)}` : operation.output === undefined ? 'done' : compact(operation.output),
          time(operation.completedAt),
        ]),
      ));
      return lines.join('\n');
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
  send: {
    usage: 'durablite send UUID MESSAGE --db FILE [--topic T] [--idempotency-key K] [--json]',
    summary: 'Send a message (JSON, or a plain string) to a workflow.',
    positionals: ['UUID', 'MESSAGE'],
    options: {
      topic: { type: 'string', description: 'the topic to send on (default: none)' },
      'idempotency-key': { type: 'string', description: 'send at most once per key and destination' },
    },
    async run(client, [uuid, message], values, json) {
      await client.send(uuid!, parseMessage(message!), values.topic as string | undefined, values['idempotency-key'] as string | undefined);
      return json ? toJson({ sent: true, destinationUUID: uuid, topic: values.topic ?? null }) : `Sent to ${uuid}${values.topic === undefined ? '' : ` on topic "${String(values.topic)}"`}.`;
    },
  },
};

function commandHelp(name: string, spec: CommandSpec): string {
  const options = Object.entries({
    ...spec.options,
    db: { type: 'string', description: 'the database file (required)' },
    json: { type: 'boolean', description: 'print JSON instead of a table' },
    help: { type: 'boolean', description: 'show this help' },
  }).map(([option, { type, description }]) => `  --${option}${type === 'string' ? ' VALUE' : ''}`.padEnd(28) + description);
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
    `  ${'bench'.padEnd(12)}Run the benchmarks on this machine (see durablite bench --help).`,
    '',
    'Every command takes --help, and --json for output that scripts can read.',
    'Exit codes: 0 success, 1 not found or timed out, 2 bad usage.',
  ].join('\n');
}

/** Runs the command line; resolves to the exit code. Output goes to `out`, errors to `err`. */
export async function runCli(argv: string[], out: (text: string) => void = console.log, err: (text: string) => void = console.error): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === 'bench') {
    return runBenchCommand(rest, out, err);
  }
  const spec = commands[name];
  if (spec === undefined) {
    err(`durablite: unknown command "${name}". Run "durablite --help" for the list.`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(Object.entries(spec.options).map(([option, { type }]) => [option, { type }])),
        db: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    err(`durablite ${name}: ${(error as Error).message.split('\n')[0]}. Usage: ${spec.usage}`);
    return 2;
  }
  const { values, positionals } = parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
  if (values.help === true) {
    out(commandHelp(name, spec));
    return 0;
  }
  if (typeof values.db !== 'string' || values.db === '') {
    err(`durablite ${name}: --db FILE is required. Usage: ${spec.usage}`);
    return 2;
  }
  if (positionals.length !== spec.positionals.length) {
    err(`durablite ${name}: expected ${spec.positionals.join(' ') || 'no arguments'}, got ${positionals.length} argument(s). Usage: ${spec.usage}`);
    return 2;
  }
  let client: Client | undefined;
  try {
    client = await Client.open({ database: values.db });
    out(await spec.run(client, positionals, values, values.json === true));
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
    return error instanceof DurabliteError ? 1 : 1;
  } finally {
    await client?.close();
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
