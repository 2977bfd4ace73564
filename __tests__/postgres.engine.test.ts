// The engine on PostgreSQL, end to end: the same workflows and API as on SQLite (steps, events,
// messages, select, streams, recovery at open), one owning Engine per schema, and Clients whose waits
// wake from the NOTIFY the engine's transactions send at commit, with no polling.
import path from 'node:path';
import pg from 'pg';
import {
  Client, DatabaseOpenError, Engine, ExecutorInUseError, MaxRecoveryAttemptsExceededError, registerStep, registerWorkflow, StorageError, WorkflowNotFoundError,
  type EngineWarning, type WorkflowContext,
} from '../lib';
import { collect } from './fixtures/postgres-workflows';
import { runCli } from './cli-runner';
import { readLog, spawnFixture, tempFolder } from './helpers';
import { createTestDatabase, withClient } from './postgres-helpers';

const double = registerStep('pg.double', async (_ctxt, n: number) => n * 2);

const conversation = registerWorkflow('pg.conversation', async (ctxt: WorkflowContext, start: number) => {
  const doubled = await ctxt.runStep(double, start);
  await ctxt.setEvent('doubled', doubled);
  await ctxt.writeStream('progress', 'half');
  const greeting = await ctxt.recv<string>('greeting', 60);
  const chosen = await ctxt.select([{ recv: 'left' }, { recv: 'right' }], 60);
  await ctxt.writeStream('progress', 'done');
  return { doubled, greeting, chosen };
});

const waiter = registerWorkflow('pg.waiter', async (ctxt: WorkflowContext) => ctxt.recv<string>('wake', 600));

/** Resolves once `read()` gives `expected` (compared as JSON), looking every 10 ms for up to 5 s. */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<void> {
  let seen: T | undefined;
  for (let tries = 0; tries < 500; tries++) {
    seen = await read();
    if (JSON.stringify(seen) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(seen).toEqual(expected);
}

/** An engine on a fresh database of this test; closed by the test. */
async function openEngine(url: string): Promise<Engine> {
  return Engine.open({ database: url, onWarning: () => {} });
}

describe('an Engine on PostgreSQL', () => {
  test('runs steps, events, messages, select and streams as on SQLite, and its records say so', async () => {
    const { url } = await createTestDatabase();
    const engine = await openEngine(url);
    try {
      const handle = await engine.startWorkflow(conversation, { workflowUUID: 'c-1' }, 21);
      expect(await engine.getEvent('c-1', 'doubled', 5)).toBe(42);
      await engine.send('c-1', 'hello', 'greeting');
      await engine.send('c-1', 'R', 'right');
      await engine.send('c-1', 'L', 'left');
      expect(await handle.getResult()).toEqual({ doubled: 42, greeting: 'hello', chosen: { index: 1, value: 'R' } });
      const progress: unknown[] = [];
      for await (const value of engine.readStream('c-1', 'progress')) progress.push(value);
      expect(progress).toEqual(['half', 'done']);
      // The loser's message stays, unconsumed.
      expect((await engine.listMessages('c-1', 'left')).map(({ message, consumed }) => ({ message, consumed }))).toEqual([{ message: 'L', consumed: false }]);
      expect((await engine.listOperations('c-1')).map((operation) => operation.kind)).toEqual(['step', 'setEvent', 'writeStream', 'recv', 'select', 'writeStream']);
    } finally {
      await engine.close();
    }
  });

  test('a workflow waiting when its engine closed resumes at the next open, and finishes', async () => {
    const { url } = await createTestDatabase();
    const first = await openEngine(url);
    await first.startWorkflow(waiter, { workflowUUID: 'w-1' });
    await eventually(async () => (await first.listWaits()).length, 1);
    await first.close();
    const second = await openEngine(url);
    try {
      expect(second.recovery.resumed).toEqual(['w-1']);
      await second.send('w-1', 'up', 'wake');
      expect(await second.retrieveWorkflow('w-1').getResult()).toBe('up');
      // Recorded once: the recv of the first run's wait, completed by the second.
      expect((await second.listOperations('w-1')).map((operation) => operation.kind)).toEqual(['recv']);
    } finally {
      await second.close();
    }
  });

  test('a Client sends and starts, the engine hears it at once, and the client\'s result wait wakes from the engine\'s commit', async () => {
    const { url } = await createTestDatabase();
    const engine = await openEngine(url);
    const client = await Client.open({ database: url });
    try {
      const started = await client.startWorkflow<string>('pg.waiter', { workflowUUID: 'from-client' });
      // The engine picks up the client's start from its announcement and reaches the recv.
      await eventually(async () => (await client.listWaits()).map((wait) => wait.workflowUUID), ['from-client']);
      const sentAt = performance.now();
      await client.send('from-client', 'over the wire', 'wake');
      expect(await started.getResult()).toBe('over the wire');
      // Two commits and two announcements, well under the 5 s safety re-check.
      expect(performance.now() - sentAt).toBeLessThan(2000);
    } finally {
      await client.close();
      await engine.close();
    }
  });

  test('closing leaves no connection of the engine or the client open on the server', async () => {
    const { url, name } = await createTestDatabase();
    const engine = await openEngine(url);
    const client = await Client.open({ database: url });
    await client.close();
    await engine.close();
    const left = await withClient(url, async (raw) => (await raw.query<{ application_name: string }>(
      "SELECT application_name FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'durablite%' AND application_name <> 'durablite tests'", [name],
    )).rows.map((row) => row.application_name));
    expect(left).toEqual([]);
  });
});

/** Which executor holds each workflow, read from the server. */
async function holders(url: string): Promise<Record<string, string | null>> {
  return withClient(url, async (raw) => Object.fromEntries((await raw.query<{ workflow_uuid: string; executor_id: string | null }>(
    'SELECT workflow_uuid, executor_id FROM durablite.workflows ORDER BY workflow_uuid',
  )).rows.map((row) => [row.workflow_uuid, row.executor_id])));
}

describe('a read-only Client on PostgreSQL', () => {
  /** The schemas of the database other than PostgreSQL's own. */
  const schemasOf = (url: string): Promise<string[]> => withClient(url, async (raw) => (await raw.query<{ name: string }>(
    "SELECT nspname AS name FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public') ORDER BY 1",
  )).rows.map((row) => row.name));

  test('creates nothing: a database without durablite\'s schema is refused, by the Client and by a reading CLI command, and left as it was', async () => {
    const { url } = await createTestDatabase();
    const refused = await Client.open({ database: url, readOnly: true }).then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(DatabaseOpenError);
    expect((refused as Error).message).toMatch(/holds no durablite tables/);
    const listed = await runCli('workflows', '--db', url);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toMatch(/holds no durablite tables/);
    // A writing command checks first too: it does not create the schema either.
    expect((await runCli('send', '--db', url, 'nobody', 'hello')).code).toBe(1);
    expect(await schemasOf(url)).toEqual([]);
  }, 30_000);

  test('reads and waits as any client, and refuses every write before it is sent', async () => {
    const { url } = await createTestDatabase();
    const engine = await openEngine(url);
    const reader = await Client.open({ database: url, readOnly: true });
    try {
      await engine.startWorkflow(conversation, { workflowUUID: 'watched' }, 21);
      // A wait of the read-only client wakes from the engine's commit.
      expect(await reader.getEvent('watched', 'doubled', 10)).toBe(42);
      expect((await reader.listWorkflows()).map((workflow) => workflow.workflowUUID)).toEqual(['watched']);
      const refused = await reader.send('watched', 'hello', 'greeting').then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(StorageError);
      expect(refused).toMatchObject({ storageCode: 'PG_READ_ONLY' });
      expect(await reader.startWorkflow(conversation, { workflowUUID: 'not-started' }, 1).then(() => null, (error: unknown) => error)).toBeInstanceOf(StorageError);
      expect(await engine.listMessages('watched')).toEqual([]);
      expect(await engine.retrieveWorkflow('not-started').getStatus()).toBeNull();
      // The reading CLI commands work on the schema the engine made.
      const listed = await runCli('workflows', '--db', url, '--json');
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout).map((workflow: { workflowUUID: string }) => workflow.workflowUUID)).toEqual(['watched']);
    } finally {
      await reader.close();
      await engine.close();
    }
  }, 30_000);
});

describe('many engines on one PostgreSQL schema', () => {
  test('workflows a Client starts at once are each run by exactly one of the live engines, none left unrun', async () => {
    const { url } = await createTestDatabase();
    const engines = [
      await Engine.open({ database: url, postgres: { executorId: 'engine-1' }, onWarning: () => {} }),
      await Engine.open({ database: url, postgres: { executorId: 'engine-2' }, onWarning: () => {} }),
      await Engine.open({ database: url, postgres: { executorId: 'engine-3' }, onWarning: () => {} }),
    ];
    const finished: string[] = [];
    for (const engine of engines) engine.events.on('workflowFinished', ({ workflowUUID }) => finished.push(workflowUUID));
    const client = await Client.open({ database: url });
    try {
      // Many at once: each engine's beat and the announcement race to claim them (one such race left
      // a workflow held by an engine that never ran it).
      const uuids = Array.from({ length: 150 }, (_, index) => `job-${String(index).padStart(3, '0')}`);
      const log = path.join(tempFolder(), 'steps.log');
      const handles = await Promise.all(uuids.map((uuid) => client.startWorkflow(collect, { workflowUUID: uuid }, 1, log)));
      await eventually(async () => (await client.listWaits()).length, uuids.length);
      for (const uuid of uuids) await client.send(uuid, `for ${uuid}`, 'in');
      expect(await Promise.all(handles.map((handle) => handle.getResult()))).toEqual(uuids.map((uuid) => [`for ${uuid}`]));
      await eventually(async () => finished.length, uuids.length);
      expect([...finished].sort()).toEqual(uuids);
      const held = Object.values(await holders(url));
      console.log(`150 client starts on three engines: ${['engine-1', 'engine-2', 'engine-3'].map((id) => `${id} ran ${held.filter((holder) => holder === id).length}`).join(', ')}`);
      expect(held.every((id) => id === 'engine-1' || id === 'engine-2' || id === 'engine-3')).toBe(true);
    } finally {
      await client.close();
      for (const engine of engines) await engine.close();
    }
  }, 30_000);

  test('an engine SIGKILLed mid-wait: the others leave its workflow alone while its lease holds, then one takes it over and finishes it', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const doomed = spawnFixture('postgres-engine', [url, 'doomed', log, 'k-1:2']);
    try {
      await doomed.waitForLine('ready');
      await doomed.waitForLine('waiting k-1');
      const survivor = await Engine.open({ database: url, postgres: { executorId: 'survivor', leaseSeconds: 2 }, onWarning: () => {} });
      try {
        // The doomed engine is alive: recovery at open claims none of its workflows.
        expect(survivor.recovery.resumed).toEqual([]);
        await survivor.send('k-1', 'one', 'in');
        await eventually(async () => doomed.lines.filter((line) => line === 'waiting k-1').length, 2);
        await doomed.kill();
        const killedAt = performance.now();
        await survivor.send('k-1', 'two', 'in');
        expect(await survivor.retrieveWorkflow('k-1').getResult()).toEqual(['one', 'two']);
        const takeoverMs = performance.now() - killedAt;
        console.log(`takeover after SIGKILL: the workflow finished ${Math.round(takeoverMs)} ms after the kill (lease 2 s, beat 1 s)`);
        expect((await holders(url))['k-1']).toBe('survivor');
        // Each message consumed once, by the recv that recorded it.
        expect((await survivor.listOperations('k-1')).map((operation) => [operation.kind, operation.output])).toEqual([
          ['step', undefined], ['recv', 'one'], ['recv', 'two'], ['step', undefined],
        ]);
        // The step before the waits ran once, in the killed engine; the one after, once, in the survivor.
        expect(readLog(log)).toEqual(['k-1 before', 'k-1 after']);
        expect((await survivor.listMessages('k-1')).every((message) => message.consumed)).toBe(true);
      } finally {
        await survivor.close();
      }
    } finally {
      await doomed.kill();
    }
  }, 30_000);

  test('three engine processes, workflows from a Client and from each engine, one engine SIGKILLed mid-wait: every workflow finishes exactly once, nothing lost or doubled', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const names = ['a', 'b', 'c'];
    const engines = names.map((name) => spawnFixture('postgres-engine', [url, `engine-${name}`, log, ...[0, 1, 2].map((index) => `${name}-${index}:2`)]));
    const client = await Client.open({ database: url });
    try {
      for (const engine of engines) await engine.waitForLine('ready');
      const fromClient = Array.from({ length: 9 }, (_, index) => `client-${index}`);
      for (const uuid of fromClient) await client.startWorkflow(collect, { workflowUUID: uuid }, 2, log);
      const all = [...names.flatMap((name) => [0, 1, 2].map((index) => `${name}-${index}`)), ...fromClient].sort();
      await eventually(async () => (await client.listWaits()).length, all.length);
      // Half way: every workflow has one message, and records it, before the kill.
      for (const uuid of all) await client.send(uuid, `${uuid}:1`, 'in');
      await eventually(async () => (await client.listWaits()).filter((wait) => wait.operationIndex === 2).length, all.length);
      const killed = engines[2]!;
      const heldByKilled = Object.entries(await holders(url)).filter(([, executor]) => executor === 'engine-c').map(([uuid]) => uuid);
      expect(heldByKilled.length).toBeGreaterThanOrEqual(3);
      await killed.kill();
      for (const uuid of all) await client.send(uuid, `${uuid}:2`, 'in');
      for (const uuid of all) {
        expect(await client.retrieveWorkflow(uuid).getResult()).toEqual([`${uuid}:1`, `${uuid}:2`]);
      }
      // Each workflow finished exactly once, in one of the engines; the killed one's were taken over.
      // ('ran' is printed after the commit the client saw: wait for the pipes to deliver every line.)
      const ranLines = (): string[] => engines.flatMap((engine) => engine.lines.filter((line) => line.startsWith('ran ')).map((line) => line.slice(4)));
      await eventually(async () => ranLines().length >= all.length, true);
      const ran = ranLines();
      expect([...ran].sort()).toEqual(all);
      const after = await holders(url);
      for (const uuid of heldByKilled) expect(['engine-a', 'engine-b']).toContain(after[uuid]);
      // Each step ran exactly once: none of them was running when the engine died.
      expect(readLog(log).sort()).toEqual(all.flatMap((uuid) => [`${uuid} after`, `${uuid} before`]).sort());
      for (const uuid of all) {
        const messages = await client.listMessages(uuid);
        expect(messages.map(({ message, consumed }) => [message, consumed])).toEqual([[`${uuid}:1`, true], [`${uuid}:2`, true]]);
      }
      console.log(`three engines, 18 workflows, engine-c SIGKILLed holding ${heldByKilled.length}: all finished once (by engine-a ${ran.filter((uuid) => after[uuid] === 'engine-a').length}, engine-b ${ran.filter((uuid) => after[uuid] === 'engine-b').length}, engine-c before the kill ${ran.filter((uuid) => after[uuid] === 'engine-c').length})`);
    } finally {
      await client.close();
      for (const engine of engines) await engine.kill();
    }
  }, 60_000);

  test('a workflow taken over too often with no progress between is given up, as recovery at open gives it up', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const first = await Engine.open({ database: url, postgres: { executorId: 'first' }, onWarning: () => {} });
    const warnings: EngineWarning[] = [];
    const second = await Engine.open({ database: url, maxRecoveryAttempts: 3, postgres: { executorId: 'second' }, onWarning: (warning) => warnings.push(warning) });
    try {
      await first.startWorkflow(collect, { workflowUUID: 'poison' }, 1, log);
      await eventually(async () => (await second.listWaits()).length, 1);
      // As if three engines had already died running it.
      await withClient(url, (raw) => raw.query("UPDATE durablite.workflows SET recovery_attempts = 3 WHERE workflow_uuid = 'poison'"));
      await first.close();
      await expect(second.retrieveWorkflow('poison').getResult()).rejects.toThrow(MaxRecoveryAttemptsExceededError);
      expect(warnings.map((warning) => [warning.code, warning.workflowUUID])).toEqual([['MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'poison']]);
      expect((await second.retrieveWorkflow('poison').getStatus())?.status).toBe('MAX_RECOVERY_ATTEMPTS_EXCEEDED');
    } finally {
      await first.close();
      await second.close();
    }
  }, 30_000);

  test('a workflow another live engine holds is fenced: this engine records nothing more of it, and claims it back once that engine is gone', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const warnings: EngineWarning[] = [];
    const engine = await Engine.open({ database: url, postgres: { executorId: 'mine', leaseSeconds: 2 }, onWarning: (warning) => warnings.push(warning) });
    try {
      await engine.startWorkflow(collect, { workflowUUID: 'fenced' }, 1, log);
      await eventually(async () => (await engine.listWaits()).length, 1);
      // As if another engine, alive, had taken it over while this one stalled.
      await withClient(url, async (raw) => {
        await raw.query(`INSERT INTO durablite.executors VALUES ('other', 'elsewhere', 1, 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 3600000)`);
        await raw.query("UPDATE durablite.workflows SET executor_id = 'other' WHERE workflow_uuid = 'fenced'");
      });
      await engine.send('fenced', 'held back', 'in');
      await eventually(async () => warnings.some((warning) => warning.workflowUUID === 'fenced' && /took it over/.test(warning.message)), true);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // Refused: the message is still there, the recv still waits, the last step never ran.
      expect((await engine.listMessages('fenced')).map((message) => message.consumed)).toEqual([false]);
      expect((await engine.listOperations('fenced')).map((operation) => [operation.kind, operation.completedAt === null])).toEqual([['step', false], ['recv', true]]);
      expect(readLog(log)).toEqual(['fenced before']);
      // The other engine goes away: this one's beat claims the workflow back and finishes it.
      await withClient(url, (raw) => raw.query("UPDATE durablite.executors SET heartbeat_at = 0 WHERE executor_id = 'other'"));
      expect(await engine.retrieveWorkflow('fenced').getResult()).toEqual(['held back']);
      expect(readLog(log)).toEqual(['fenced before', 'fenced after']);
    } finally {
      await engine.close();
    }
  }, 30_000);

  test('a second live engine of the same executorId is refused (at once in this process, once the first beats again from another); a restart after SIGKILL takes the id over once its lease lapsed', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const first = spawnFixture('postgres-engine', [url, 'slot-1', log, 'r-1:1']);
    let restarted: ReturnType<typeof spawnFixture> | null = null;
    try {
      await first.waitForLine('waiting r-1');
      const startedAt = performance.now();
      const refusal = await Engine.open({ database: url, postgres: { executorId: 'slot-1', leaseSeconds: 2 }, onWarning: () => {} }).then(
        async (engine) => {
          await engine.close();
          return null;
        },
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(ExecutorInUseError);
      expect(refusal).toMatchObject({ code: 'EXECUTOR_IN_USE', executorId: 'slot-1', holderPid: first.process.pid });
      // Refused as soon as the other engine beat again: within its 1 s beat, not after its 2 s lease.
      expect(performance.now() - startedAt).toBeLessThan(1_900);
      // Nothing of the first engine changed: it still runs its workflow.
      expect((await holders(url))['r-1']).toBe('slot-1');

      await first.kill();
      const killedAt = performance.now();
      restarted = spawnFixture('postgres-engine', [url, 'slot-1', log]);
      await restarted.waitForLine('ready');
      console.log(`a restart under the same executorId opened ${Math.round(performance.now() - killedAt)} ms after the SIGKILL (lease 2 s)`);
      const client = await Client.open({ database: url });
      try {
        await client.send('r-1', 'after restart', 'in');
        expect(await client.retrieveWorkflow('r-1').getResult()).toEqual(['after restart']);
      } finally {
        await client.close();
      }
      await restarted.waitForLine('ran r-1');
      expect(readLog(log)).toEqual(['r-1 before', 'r-1 after']);
    } finally {
      await first.kill();
      await restarted?.kill();
    }

    // Two engines of one process under one id: refused at once.
    const one = await Engine.open({ database: url, postgres: { executorId: 'twice' }, onWarning: () => {} });
    try {
      await expect(Engine.open({ database: url, postgres: { executorId: 'twice' }, onWarning: () => {} })).rejects.toThrow(ExecutorInUseError);
    } finally {
      await one.close();
    }
    // Once closed, the id is free at once.
    await (await Engine.open({ database: url, postgres: { executorId: 'twice' }, onWarning: () => {} })).close();
  }, 60_000);

  test('an engine whose executorId another process registered since writes nothing more: its records are fenced, its beat stops it', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const warnings: EngineWarning[] = [];
    const engine = await Engine.open({ database: url, postgres: { executorId: 'shared-id', leaseSeconds: 2 }, onWarning: (warning) => warnings.push(warning) });
    try {
      await engine.startWorkflow(collect, { workflowUUID: 'superseded' }, 1, log);
      await eventually(async () => (await engine.listWaits()).length, 1);
      // As if this engine had stalled past its lease and another process had then opened under its id.
      await withClient(url, (raw) => raw.query(
        "UPDATE durablite.executors SET incarnation = 'another process', hostname = 'elsewhere', pid = 1 WHERE executor_id = 'shared-id'",
      ));
      // Before its beat notices: a start of its own is refused too (a row held by its id would be run
      // by neither process), and nothing is inserted.
      const early = await engine.startWorkflow(collect, { workflowUUID: 'early' }, 1, log).then(() => null, (error: unknown) => error);
      expect(early).toBeInstanceOf(StorageError);
      expect(['PG_NOT_HELD', 'PG_SUPERSEDED']).toContain((early as StorageError).storageCode);
      expect(await withClient(url, async (raw) => (await raw.query("SELECT count(*)::int AS n FROM durablite.workflows WHERE workflow_uuid = 'early'")).rows[0].n)).toBe(0);
      await engine.send('superseded', 'held back', 'in');
      await eventually(async () => warnings.map((warning) => warning.code).includes('EXECUTOR_SUPERSEDED'), true);
      // Nothing of the workflow was recorded here: the message waits for the engine that holds the id now.
      expect((await engine.listMessages('superseded')).map((message) => message.consumed)).toEqual([false]);
      expect(readLog(log)).toEqual(['superseded before']);
      // Every write of this engine is refused now, with a StorageError that says why.
      const refused = await engine.startWorkflow(collect, { workflowUUID: 'after' }, 1, log).then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(StorageError);
      expect(refused).toMatchObject({ storageCode: 'PG_SUPERSEDED' });
      // Its executors row is the other process's still: closing this engine does not remove it.
      await engine.close();
      const rows = await withClient(url, async (raw) => (await raw.query("SELECT incarnation FROM durablite.executors WHERE executor_id = 'shared-id'")).rows);
      expect(rows).toEqual([{ incarnation: 'another process' }]);
    } finally {
      await engine.close();
    }
  }, 30_000);

  test('the heartbeat has a connection of its own: it renews the lease while every connection of the pool waits for a lock', async () => {
    const { url } = await createTestDatabase();
    const log = path.join(tempFolder(), 'steps.log');
    const engine = await Engine.open({ database: url, postgres: { executorId: 'busy', maxConnections: 1, leaseSeconds: 2 }, onWarning: () => {} });
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      await engine.startWorkflow(collect, { workflowUUID: 'locked' }, 1, log);
      await eventually(async () => (await engine.listWaits()).length, 1);
      // Another session holds the workflow's row: the engine's send waits for it on the pool's only connection.
      await raw.query('BEGIN');
      await raw.query("SELECT 1 FROM durablite.workflows WHERE workflow_uuid = 'locked' FOR UPDATE");
      const sent = engine.send('locked', 'late', 'in');
      const beatAt = async (): Promise<number> =>
        Number((await withClient(url, (other) => other.query("SELECT heartbeat_at FROM durablite.executors WHERE executor_id = 'busy'"))).rows[0].heartbeat_at);
      const before = await beatAt();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      // Beaten meanwhile: the lease never lapsed, though no write could get a connection.
      expect(await beatAt()).toBeGreaterThan(before);
      await raw.query('ROLLBACK');
      await sent;
      expect(await engine.retrieveWorkflow('locked').getResult()).toEqual(['late']);
    } finally {
      await raw.end();
      await engine.close();
    }
  }, 30_000);

  test('a read about one workflow does not wait behind this engine\'s write to another that waits for a row lock', async () => {
    const { url } = await createTestDatabase();
    const engine = await openEngine(url);
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      await engine.startWorkflow(waiter, { workflowUUID: 'locked' });
      await engine.startWorkflow(waiter, { workflowUUID: 'free' });
      await raw.query('BEGIN');
      await raw.query("SELECT 1 FROM durablite.workflows WHERE workflow_uuid = 'locked' FOR UPDATE");
      let sent = false;
      const sending = engine.send('locked', 'late', 'wake').then(() => {
        sent = true;
      });
      // The listing of the other workflow answers while the send still waits for the lock.
      expect((await engine.retrieveWorkflow('free').getStatus())?.status).toBe('PENDING');
      expect(await engine.listMessages('free')).toEqual([]);
      expect(sent).toBe(false);
      // A read about the locked workflow itself waits for the send, as call order wants.
      let listed = false;
      const listing = engine.listMessages('locked').then((messages) => {
        listed = true;
        return messages;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(listed).toBe(false);
      await raw.query('ROLLBACK');
      await sending;
      expect((await listing).map((message) => message.message)).toEqual(['late']);
    } finally {
      await raw.end();
      await engine.close();
    }
  }, 30_000);

  test('cancelling a tree while a grandchild sends to a child takes the rows in one order: no deadlock', async () => {
    const { url, name } = await createTestDatabase();
    const engine = await openEngine(url);
    const deadlocks = async (): Promise<number> => withClient(url, async (raw) => (await raw.query(
      'SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = $1', [name],
    )).rows[0].n);
    try {
      const before = await deadlocks();
      for (let round = 0; round < 4; round++) {
        const root = `tree-${round}`;
        await engine.startWorkflow(sendingTree, { workflowUUID: root });
        // The grandchild is sending to its uncle in a loop by now.
        await eventually(async () => (await engine.listMessages(`${root}-1`)).length > 3, true);
        await engine.cancelWorkflow(root, { cancelChildren: true });
        for (const uuid of [root, `${root}-0`, `${root}-1`, `${root}-0-0`]) expect((await engine.retrieveWorkflow(uuid).getStatus())?.status).toBe('CANCELLED');
      }
      // pg_stat_database is updated when a backend reports its statistics: give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(await deadlocks()).toBe(before);
    } finally {
      await engine.close();
    }
  }, 60_000);

  test('a registration under an executor id waits for a start of that id under way, and its recovery then runs what the start wrote', async () => {
    const { url } = await createTestDatabase();
    await (await openEngine(url)).close(); // the schema
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    let engine: Engine | null = null;
    try {
      // As a stalled process of id 'slot' whose lease lapsed, in the middle of a start: it checked
      // that it holds the id, and its row is written but not committed yet.
      // durablite's functions work in the schema of the caller's search_path, as its connections set it.
      await raw.query('SET search_path TO durablite');
      await raw.query("INSERT INTO executors VALUES ('slot', 'elsewhere', 1, 0, 0, 'stalled incarnation')");
      await raw.query('BEGIN');
      expect((await raw.query("SELECT durablite.holds_executor('slot', 'stalled incarnation') AS holds")).rows[0].holds).toBe(true);
      await raw.query(
        `INSERT INTO durablite.workflows (workflow_uuid, name, status, inputs, created_at, updated_at, executor_id)
         VALUES ('late-start', 'pg.conversation', 'PENDING', '[5]', 0, 0, 'slot')`,
      );
      let opened = false;
      const opening = Engine.open({ database: url, postgres: { executorId: 'slot', leaseSeconds: 2 }, onWarning: () => {} }).then((open) => {
        opened = true;
        return open;
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The registration waits for the start to commit...
      expect(opened).toBe(false);
      await raw.query('COMMIT');
      engine = await opening;
      // ...so its recovery found the workflow, which is its id's, and runs it.
      expect(engine.recovery.resumed).toEqual(['late-start']);
      await engine.send('late-start', 'hi', 'greeting');
      await engine.send('late-start', 'l', 'left');
      expect(await engine.retrieveWorkflow('late-start').getResult()).toEqual({ doubled: 10, greeting: 'hi', chosen: { index: 0, value: 'l' } });
    } finally {
      await raw.end();
      await engine?.close();
    }
  }, 30_000);

  test('cancelling a tree while a child keeps starting children cancels every one of them', async () => {
    const { url } = await createTestDatabase();
    const engine = await openEngine(url);
    try {
      for (let round = 0; round < 3; round++) {
        const root = `spawning-${round}`;
        await engine.startWorkflow(spawningRoot, { workflowUUID: root });
        await eventually(async () => (await engine.listWorkflows()).filter((workflow) => workflow.workflowUUID.startsWith(`${root}-0-`)).length > 5, true);
        await engine.cancelWorkflow(root, { cancelChildren: true });
        // A moment for a start that raced the cancel to commit, or to be refused.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const tree = (await engine.listWorkflows()).filter((workflow) => workflow.workflowUUID === root || workflow.workflowUUID.startsWith(`${root}-`));
        expect(tree.filter((workflow) => workflow.status !== 'CANCELLED').map((workflow) => workflow.workflowUUID)).toEqual([]);
      }
    } finally {
      await engine.close();
    }
  }, 60_000);
});


const sendingLeaf = registerWorkflow('pg.tree.leaf', async (ctxt: WorkflowContext, peer: string) => {
  for (let index = 0; index < 100_000; index++) {
    try {
      await ctxt.send(peer, index);
    } catch (error) {
      // Its peer, a sibling of its parent, may not be started yet.
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      await ctxt.sleep(0.02);
    }
  }
});
const sink = registerWorkflow('pg.tree.sink', async (ctxt: WorkflowContext) => {
  for (;;) await ctxt.recv(null, 3600);
});
const middle = registerWorkflow('pg.tree.middle', async (ctxt: WorkflowContext, peer: string) => {
  await ctxt.childWorkflow(sendingLeaf, peer);
});
/** root → children `<root>-0` (whose child `<root>-0-0` sends to `<root>-1` in a loop) and `<root>-1` (a sink). */
const sendingTree = registerWorkflow('pg.tree.root', async (ctxt: WorkflowContext) => {
  await ctxt.startChildWorkflow(middle, `${ctxt.workflowUUID}-1`);
  await ctxt.startChildWorkflow(sink);
  await ctxt.recv('never', 3600);
});
const sleeper = registerWorkflow('pg.tree.sleeper', async (ctxt: WorkflowContext) => ctxt.recv('never', 3600));
const spawner = registerWorkflow('pg.tree.spawner', async (ctxt: WorkflowContext) => {
  for (;;) await ctxt.startChildWorkflow(sleeper);
});
/** root → `<root>-0`, which starts children `<root>-0-<n>` in a loop. */
const spawningRoot = registerWorkflow('pg.tree.spawning', async (ctxt: WorkflowContext) => {
  await ctxt.startChildWorkflow(spawner);
  await ctxt.recv('never', 3600);
});
