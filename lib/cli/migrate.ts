// `durablite migrate`: copies a SQLite file's workflows and all they recorded into a PostgreSQL schema,
// in one transaction. The file is only read, and only while no Engine owns it; the schema must hold
// nothing yet. The copied PENDING workflows are held by no engine: the first on the server claims them.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseOwnedError } from '../errors';
import { describeUrl, isPostgresUrl, openPostgresDatabase, resolvePostgresOptions, type PostgresDatabase } from '../postgres/database';
import { importRows, type CopiedCounts, type RowSource } from '../postgres/import';
import { COPIED_TABLES, SqliteExport, type CopiedTable } from '../store/export';
import { toJson } from './format';

export const MIGRATE_USAGE = 'durablite migrate --from FILE --to postgres://... [--schema S] [--json]';
export const MIGRATE_SUMMARY = 'Copy a SQLite file\'s workflows, and all they recorded, into an empty PostgreSQL schema.';

const OPTIONS: Record<string, { type: 'string' | 'boolean'; description: string }> = {
  from: { type: 'string', description: 'the SQLite database file to copy, read-only; refused while an Engine owns it (required)' },
  to: { type: 'string', description: 'the postgres:// URL to copy into (required)' },
  schema: { type: 'string', description: 'the schema to copy into, created if needed; it must hold no rows yet (default: durablite)' },
  json: { type: 'boolean', description: 'print JSON instead of text' },
  help: { type: 'boolean', description: 'show this help' },
};

/** A failure with its exit code and one-line message. */
class MigrateUsageError extends Error {
  constructor(readonly exitCode: 1 | 2, message: string) {
    super(message);
  }
}

function migrateHelp(): string {
  const options = Object.entries(OPTIONS).map(([option, { type, description }]) => `  --${option}${type === 'string' ? ' VALUE' : ''}`.padEnd(28) + description);
  return [`durablite migrate: ${MIGRATE_SUMMARY}`, '', `Usage: ${MIGRATE_USAGE}`, '', 'Options:', ...options].join('\n');
}

/** The options, each mistake explained as the other commands explain theirs (exit 2). */
function parseMigrateArgs(args: string[]): Record<string, string | boolean> {
  const usage = `Usage: ${MIGRATE_USAGE}`;
  const { tokens } = parseArgs({
    args,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: { ...Object.fromEntries(Object.entries(OPTIONS).map(([option, { type }]) => [option, { type }])), help: { type: 'boolean', short: 'h' } },
  });
  const values: Record<string, string | boolean> = {};
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') throw new MigrateUsageError(2, `expected no arguments, got "${token.value}". ${usage}`);
    const option = OPTIONS[token.name];
    if (option === undefined) {
      throw new MigrateUsageError(2, `unknown option "${token.rawName}". It takes ${Object.keys(OPTIONS).map((known) => `--${known}`).join(', ')}. ${usage}`);
    }
    if (option.type === 'string' && token.value === undefined) throw new MigrateUsageError(2, `${token.rawName} needs a value, as in "${token.rawName} VALUE". ${usage}`);
    if (option.type === 'boolean' && token.value !== undefined) throw new MigrateUsageError(2, `${token.rawName} takes no value, got "${token.value}". ${usage}`);
    values[token.name] = option.type === 'boolean' ? true : token.value!;
  }
  return values;
}

/** `workflows 3, operations 9, ...`: the rows copied into each table. */
function describeCopied(rows: MigratedRows): string {
  return `workflows ${rows.workflows}, operations ${rows.operations}, events ${rows.events}, stream entries ${rows.streamEntries}, messages ${rows.messages}, controls ${rows.controls}, deleted workflows ${rows.deletedWorkflows}`;
}

/** The rows copied into each table, named as the delete and prune commands name them. */
export interface MigratedRows {
  workflows: number;
  operations: number;
  events: number;
  streamEntries: number;
  messages: number;
  controls: number;
  /** The UUIDs of deleted CANCELLED workflows, which stay taken. */
  deletedWorkflows: number;
}

function migratedRows(counts: CopiedCounts): MigratedRows {
  return {
    workflows: counts.workflows ?? 0,
    operations: counts.operations ?? 0,
    events: counts.events ?? 0,
    streamEntries: counts.streams ?? 0,
    messages: counts.messages ?? 0,
    controls: counts.workflow_controls ?? 0,
    deletedWorkflows: counts.deleted_workflows ?? 0,
  };
}

/** `source`, counting the PENDING workflows as their rows go by. */
function countingPending(source: SqliteExport): RowSource & { readonly pending: number } {
  const status = COPIED_TABLES.find((table) => table.name === 'workflows')!.columns.indexOf('status');
  let pending = 0;
  return {
    get pending() {
      return pending;
    },
    *batches(table: CopiedTable, size: number) {
      for (const rows of source.batches(table, size)) {
        if (table.name === 'workflows') pending += rows.filter((row) => row[status] === 'PENDING').length;
        yield rows;
      }
    },
    nextId: (table) => source.nextId(table),
  };
}

/** The source's refusals, in the words of this command: what happened, that nothing was copied, what to do. */
function sourceFailure(file: string, error: unknown): unknown {
  if (error instanceof DatabaseOwnedError) {
    const who = error.ownerPid === undefined ? 'another process' : `process ${error.ownerPid} on ${error.ownerHostname}, since ${new Date(error.ownerSince!).toISOString()}`;
    return new MigrateUsageError(1, `an Engine owns ${file} now (${who}). Stop it, and every Client writing to the file, then migrate; nothing was copied.`);
  }
  return error;
}

/** Runs `durablite migrate`; resolves to the exit code. Output goes to `out`, errors to `err`. */
export async function runMigrateCommand(argv: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let source: SqliteExport | undefined;
  let database: PostgresDatabase | undefined;
  try {
    const values = parseMigrateArgs(argv);
    if (values.help === true) {
      out(migrateHelp());
      return 0;
    }
    const from = values.from;
    const to = values.to;
    if (typeof from !== 'string' || from === '') throw new MigrateUsageError(2, `--from FILE is required: the SQLite database to copy. Usage: ${MIGRATE_USAGE}`);
    if (typeof to !== 'string' || !isPostgresUrl(to)) {
      const got = typeof to === 'string' ? `, got "${describeUrl(to)}"` : '';
      throw new MigrateUsageError(2, `--to must be a postgres:// or postgresql:// URL${got}. Usage: ${MIGRATE_USAGE}`);
    }
    if (isPostgresUrl(from)) throw new MigrateUsageError(2, `--from must be a SQLite file, got a PostgreSQL URL. Usage: ${MIGRATE_USAGE}`);
    const schema = resolvePostgresOptions({ schema: typeof values.schema === 'string' ? values.schema : undefined }).schema;
    if (!fs.existsSync(from)) throw new MigrateUsageError(1, `no database at "${from}" (${path.resolve(from)}). Check the --from path; it is relative to the current folder.`);

    // The file first: a refusal there (an owner, a newer schema, not durablite's) writes nothing anywhere.
    try {
      source = SqliteExport.open(from);
    } catch (error) {
      throw sourceFailure(from, error);
    }
    database = await openPostgresDatabase(to, { schema, maxConnections: 2 });
    source.begin();
    const counting = countingPending(source);
    const rows = migratedRows(await importRows(database, counting));
    if (values.json === true) {
      out(toJson({ from, to: database.name, schema, copied: rows, pending: counting.pending }));
      return 0;
    }
    const lines = [`Copied ${from} into the schema "${schema}" of ${database.name}, in one transaction.`, `Rows: ${describeCopied(rows)}.`];
    if (counting.pending > 0) {
      lines.push(`${counting.pending} PENDING workflow${counting.pending === 1 ? '' : 's'}, held by no engine: the first Engine on the schema claims and runs ${counting.pending === 1 ? 'it' : 'them'}.`);
    }
    lines.push(`Open your Engines on the URL from now on, not on ${from}: an Engine on the file would run its PENDING workflows a second time.`);
    out(lines.join('\n'));
    return 0;
  } catch (error) {
    if (error instanceof MigrateUsageError) {
      err(`durablite migrate: ${error.message}`);
      return error.exitCode;
    }
    err(`durablite migrate: ${((error as Error)?.message ?? String(error)).replace(/\s+/g, ' ')}`);
    // A bad --schema is bad usage; anything else (the file or the server refused) is a failure.
    return error instanceof TypeError || error instanceof RangeError ? 2 : 1;
  } finally {
    source?.close();
    await database?.close();
  }
}
