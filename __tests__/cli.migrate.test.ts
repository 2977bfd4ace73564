// `durablite migrate`: a SQLite file's workflows, and everything they recorded, copied into a real
// PostgreSQL schema in one transaction; the copy reads the same through an Engine on the server, and
// its PENDING workflows run on there. Refused, writing nothing, while an Engine owns the file, into a
// schema that holds rows, from a newer file; a row the server refuses leaves the schema empty.
import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Client, Engine, registerStep, registerWorkflow, WorkflowConflictError, type WorkflowContext } from '../lib';
import { COPIED_TABLES } from '../lib/store/export';
import { SCHEMA_VERSION } from '../lib/store/migrations';
import { runCli } from './cli-runner';
import { openTestEngine, tempDatabasePath } from './helpers';
import { createTestDatabase, openTestPostgres, withClient } from './postgres-helpers';
import { blockedInRecv } from './wait-helpers';

const charge = registerStep('migrate.charge', async (_ctxt, order: string) => `charged ${order}`);

const finished = registerWorkflow('migrate.finished', async (ctxt: WorkflowContext, order: string) => {
  const receipt = await ctxt.runStep(charge, order);
  await ctxt.setEvent('receipt', receipt);
  await ctxt.writeStream('log', 'a');
  await ctxt.writeStream('log', 'b');
  await ctxt.closeStream('log');
  const note = await ctxt.recv<string>('note', 60);
  return { receipt, note };
});

const waiting = registerWorkflow('migrate.waiting', async (ctxt: WorkflowContext) => {
  await ctxt.setEvent('stage', 'waiting');
  await ctxt.writeStream('progress', 'started');
  const go = await ctxt.recv<string>('go', 600);
  const queued = [await ctxt.recv<string>('queued', 0), await ctxt.recv<string>('queued', 0)];
  await ctxt.writeStream('progress', 'done');
  return { go, queued };
});

/**
 * A SQLite file holding a finished workflow (a step, an event, a closed stream, a consumed message
 * with an idempotency key), a PENDING one waiting in recv (an event, an open stream, two unconsumed
 * messages with keys), a CANCELLED one, and the tombstone of one cancelled, then deleted. Its engine
 * is closed; returns what that engine listed.
 */
async function buildSource(file: string): Promise<{ listings: Listings }> {
  const engine = await openTestEngine({ database: file });
  try {
    const done = await engine.startWorkflow(finished, { workflowUUID: 'f-1' }, 'o-1');
    await engine.send('f-1', 'thanks', 'note', 'note-1');
    await done.getResult();
    await engine.startWorkflow(waiting, { workflowUUID: 'w-1' });
    await engine.send('w-1', 'q1', 'queued', 'k-1');
    await engine.send('w-1', 'q2', 'queued', 'k-2');
    await blockedInRecv(engine, 'w-1', 'go');
    for (const uuid of ['c-1', 'c-2']) {
      await engine.startWorkflow(waiting, { workflowUUID: uuid });
      await blockedInRecv(engine, uuid, 'go');
      await engine.cancelWorkflow(uuid);
    }
    await engine.deleteWorkflow('c-1');
    return { listings: await listingsOf(engine) };
  } finally {
    await engine.close();
  }
}

type Listings = { workflows: Awaited<ReturnType<Engine['listWorkflows']>>; each: unknown[] };

/** Everything an engine (or a client) lists of the test's workflows. */
async function listingsOf(engine: Engine | Client): Promise<Listings> {
  const workflows = await engine.listWorkflows();
  const each = await Promise.all(workflows.map(async ({ workflowUUID }) => ({
    workflowUUID,
    operations: await engine.listOperations(workflowUUID),
    events: await engine.listEvents(workflowUUID),
    messages: await engine.listMessages(workflowUUID),
    streams: await engine.listStreams(workflowUUID),
  })));
  return { workflows, each };
}

/** Every copied table's rows in the SQLite file, in key order. */
function sqliteRows(file: string): Record<string, unknown[][]> {
  const db = new Database(file, { readonly: true });
  try {
    return Object.fromEntries(COPIED_TABLES.map((table) => [
      table.name,
      db.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${table.key.join(', ')}`).raw().all() as unknown[][],
    ]));
  } finally {
    db.close();
  }
}

/** Every copied table's rows in the schema `durablite` of `url`, in key order. */
async function postgresRows(url: string): Promise<Record<string, unknown[][]>> {
  const database = await openTestPostgres(url);
  const rows: Record<string, unknown[][]> = {};
  for (const table of COPIED_TABLES) {
    const result = await database.pool.query({ text: `SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${table.key.join(', ')}`, rowMode: 'array' });
    rows[table.name] = result.rows as unknown[][];
  }
  await database.close();
  return rows;
}

/** Whether the database of `url` has a schema `durablite` at all. */
async function hasSchema(url: string): Promise<boolean> {
  return withClient(url, async (client) => (await client.query("SELECT 1 FROM pg_namespace WHERE nspname = 'durablite'")).rowCount === 1);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('durablite migrate', () => {
  test('copies workflows, operations, events, messages, streams, controls and tombstones; an Engine on the server lists the same, and runs the PENDING workflow on', async () => {
    const file = tempDatabasePath('migrate');
    const { listings } = await buildSource(file);
    const before = sqliteRows(file);
    const fileHash = sha256(file);
    const { url } = await createTestDatabase();

    const run = await runCli('migrate', '--from', file, '--to', url, '--json');
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(run.stdout);
    expect(report).toEqual({
      from: file,
      to: expect.stringMatching(/^postgres(?:ql)?:\/\//),
      schema: 'durablite',
      copied: {
        workflows: 3,
        operations: before.operations!.length,
        events: before.events!.length,
        streamEntries: before.streams!.length,
        messages: 3,
        controls: before.workflow_controls!.length,
        deletedWorkflows: 1,
      },
      pending: 1,
    });
    const password = new URL(url).password;
    if (password !== '') expect(report.to).not.toContain(password);
    // Every row as it was, ids included: queue order, where events fall among messages, stream positions.
    expect(await postgresRows(url)).toEqual(before);
    expect(sha256(file)).toBe(fileHash);
    // The PENDING workflow is held by no engine: the first on the server claims it.
    expect(await withClient(url, async (client) => (await client.query("SELECT workflow_uuid, executor_id FROM durablite.workflows WHERE status = 'PENDING'")).rows)).toEqual([
      { workflow_uuid: 'w-1', executor_id: null },
    ]);

    const client = await Client.open({ database: url });
    try {
      expect(await listingsOf(client)).toEqual(listings);
    } finally {
      await client.close();
    }
    const engine = await Engine.open({ database: url, onWarning: () => {} });
    try {
      // The same, but for the time the engine's recovery pass took up the PENDING workflow.
      const recovered = await listingsOf(engine);
      const pendingAt = recovered.workflows.find((workflow) => workflow.workflowUUID === 'w-1')!.updatedAt;
      expect(recovered).toEqual({ ...listings, workflows: listings.workflows.map((workflow) => (workflow.workflowUUID === 'w-1' ? { ...workflow, updatedAt: pendingAt } : workflow)) });
      // Idempotency keys still hold, and a new message goes after the copied ones.
      await engine.send('w-1', 'q1 again', 'queued', 'k-1');
      await engine.send('w-1', 'go!', 'go');
      expect(await engine.retrieveWorkflow('w-1').getResult()).toEqual({ go: 'go!', queued: ['q1', 'q2'] });
      expect((await engine.listMessages('w-1')).map(({ message, consumed }) => [message, consumed])).toEqual([['q1', true], ['q2', true], ['go!', true]]);
      // The UUID of a workflow deleted while CANCELLED stays taken.
      await expect(engine.startWorkflow(waiting, { workflowUUID: 'c-1' })).rejects.toBeInstanceOf(WorkflowConflictError);
    } finally {
      await engine.close();
    }
  }, 60_000);

  test('prints the rows copied per table, and that PENDING workflows wait for an engine on the server', async () => {
    const file = tempDatabasePath('migrate-text');
    await buildSource(file);
    const { url } = await createTestDatabase();
    const run = await runCli('migrate', '--from', file, '--to', url, '--schema', 'moved');
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Copied .*migrate-text\.db into the schema "moved" of postgres:\/\/\S+, in one transaction\.$/);
    expect(lines[1]).toMatch(/^Rows: workflows 3, operations \d+, events 3, stream entries \d+, messages 3, controls \d+, deleted workflows 1\.$/);
    expect(lines[2]).toBe('1 PENDING workflow, held by no engine: the first Engine on the schema claims and runs it.');
  }, 60_000);

  test('is refused while an Engine owns the file, writing nothing', async () => {
    const file = tempDatabasePath('migrate-owned');
    const owner = await openTestEngine({ database: file });
    const { url } = await createTestDatabase();
    try {
      await owner.startWorkflow(waiting, { workflowUUID: 'w-1' });
      const run = await runCli('migrate', '--from', file, '--to', url);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^durablite migrate: an Engine owns ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} now \\(process ${process.pid} on .+, since \\d{4}-.+\\)\\. Stop it, and every Client writing to the file, then migrate; nothing was copied\\.\n$`));
      expect(run.stdout).toBe('');
      expect(await hasSchema(url)).toBe(false);
    } finally {
      await owner.close();
    }
    // Once the owner stopped, the same command copies.
    expect((await runCli('migrate', '--from', file, '--to', url)).code).toBe(0);
  }, 60_000);

  test('is refused into a schema that holds rows already, so a second run doubles nothing', async () => {
    const file = tempDatabasePath('migrate-twice');
    await buildSource(file);
    const { url } = await createTestDatabase();
    expect((await runCli('migrate', '--from', file, '--to', url)).code).toBe(0);
    const copied = await postgresRows(url);
    const again = await runCli('migrate', '--from', file, '--to', url);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^durablite migrate: The schema "durablite" of postgres:\/\/\S+ already holds rows \(workflows 3, operations \d+, .*deleted_workflows 1\)\. migrate copies into an empty schema only, so that running it twice cannot double anything; nothing was copied\./);
    expect(await postgresRows(url)).toEqual(copied);
  }, 60_000);

  test('refuses a file of a newer schema, and a file that is not durablite\'s, before connecting', async () => {
    const file = tempDatabasePath('migrate-newer');
    await (await openTestEngine({ database: file })).close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const { url } = await createTestDatabase();
    const newer = await runCli('migrate', '--from', file, '--to', url);
    expect(newer.code).toBe(1);
    expect(newer.stderr).toContain(`has schema version ${SCHEMA_VERSION + 1}, but this durablite supports up to ${SCHEMA_VERSION}. Upgrade durablite to open it; it was not modified.`);

    const other = tempDatabasePath('not-durablite');
    new Database(other).exec('CREATE TABLE notes (text TEXT)');
    const foreign = await runCli('migrate', '--from', other, '--to', url);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain('not a durablite database');
    expect(await hasSchema(url)).toBe(false);
  }, 60_000);

  test('a row the server refuses mid-copy rolls back the whole copy: the schema stays empty', async () => {
    const file = tempDatabasePath('migrate-nul');
    await buildSource(file);
    // Streams are copied after workflows, operations, events and messages: those are written, then undone.
    const db = new Database(file);
    db.exec("UPDATE streams SET value = '\"a' || char(0) || 'b\"' WHERE entry_id = (SELECT max(entry_id) FROM streams)");
    db.close();
    const { url } = await createTestDatabase();
    const run = await runCli('migrate', '--from', file, '--to', url);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^durablite migrate: Migrating into the schema "durablite" of postgres:\/\/\S+ failed while copying streams \(rows 1 to \d+\): .*0x00.*\. Nothing was copied: the transaction rolled back, and the schema is as it was\.\n$/);
    const rows = await postgresRows(url);
    expect(Object.fromEntries(Object.entries(rows).map(([table, tableRows]) => [table, tableRows.length]))).toEqual(
      Object.fromEntries(COPIED_TABLES.map((table) => [table.name, 0])),
    );
  }, 60_000);

  test('bad usage is exit 2, with the usage', async () => {
    for (const [args, message] of [
      [['--to', 'postgres://x@h/d'], /--from FILE is required/],
      [['--from', 'a.db', '--to', 'b.db'], /--to must be a postgres:\/\/ or postgresql:\/\/ URL, got "b\.db"/],
      [['--from', 'a.db', '--to', 'postgres://x@h/d', '--schema', 'Bad-Name'], /Expected `schema` to be a plain lowercase identifier/],
      [['--from', 'a.db', '--to', 'postgres://x@h/d', '--verbose'], /unknown option "--verbose"\. It takes --from, --to, --schema, --json, --help\./],
    ] as const) {
      const run = await runCli('migrate', ...args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
    const help = await runCli('migrate', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: durablite migrate --from FILE --to postgres://... [--schema S] [--json]');
  }, 60_000);
});
