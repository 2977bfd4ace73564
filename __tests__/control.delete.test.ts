// deleteWorkflow and pruneWorkflows remove a workflow and every row that is its own, and nothing else;
// a PENDING workflow goes only with force; ids stay monotonic, so another process's change feed still
// sees every row inserted after a delete.
import { Client, registerStep, registerWorkflow, WorkflowConflictError, WorkflowNotFoundError, WorkflowPendingError, type Engine, type WorkflowContext } from '../lib';
import { openTestEngine, queryDatabase, spawnFixture, tempDatabasePath, testDatabase, testOnSqlite } from './helpers';
import { blockedInRecv } from './wait-helpers';

const chatty = registerWorkflow('control.delete.chatty', async (ctxt: WorkflowContext, name: string) => {
  await ctxt.setEvent('greeting', `hello ${name}`);
  await ctxt.writeStream('log', 1);
  await ctxt.closeStream('log');
  const reply = await ctxt.recv<string>('reply', 3600);
  return `${name}: ${reply}`;
});
const parent = registerWorkflow('control.delete.parent', async (ctxt: WorkflowContext) => {
  const handle = await ctxt.startChildWorkflow(chatty, 'child');
  return handle.getResult();
});

/** Every row, of every table, that belongs to the workflow (read behind the engine's back, on either store). */
async function rowsOf(database: string, workflowUUID: string): Promise<Record<string, unknown[]>> {
  const of = (sql: string): Promise<unknown[]> => queryDatabase(database, sql, [workflowUUID]);
  return {
    workflows: await of('SELECT * FROM workflows WHERE workflow_uuid = ?'),
    operations: await of('SELECT * FROM operations WHERE workflow_uuid = ?'),
    events: await of('SELECT * FROM events WHERE workflow_uuid = ?'),
    streams: await of('SELECT * FROM streams WHERE workflow_uuid = ?'),
    messages: await of('SELECT * FROM messages WHERE destination_uuid = ?'),
    workflow_controls: await of('SELECT * FROM workflow_controls WHERE workflow_uuid = ?'),
  };
}

const NONE = { workflows: [], operations: [], events: [], streams: [], messages: [], workflow_controls: [] };

async function finishChatty(engine: Engine, uuid: string): Promise<void> {
  await engine.startWorkflow(chatty, { workflowUUID: uuid }, uuid);
  await engine.send(uuid, 'hi', 'reply');
  await engine.send(uuid, 'unread', 'other');
  await engine.retrieveWorkflow(uuid).getResult();
}

let releaseCharge: (value: string) => void = () => {};
let charges: string[] = [];
const charge = registerStep('control.delete.charge', async (_ctxt, customer: string) => {
  charges.push(customer);
  return new Promise<string>((resolve) => (releaseCharge = resolve));
});
const quick = registerWorkflow('control.delete.quick', async (_ctxt: WorkflowContext, value: string) => value);
const charging = registerWorkflow('control.delete.charging', async (ctxt: WorkflowContext, customer: string) => ctxt.runStep(charge, customer));

describe('the UUID of a deleted workflow', () => {
  test('a workflow deleted while cancelled keeps its UUID taken: its step in flight can never write into a new workflow of that UUID', async () => {
    const engine = await openTestEngine();
    charges = [];
    await engine.startWorkflow(charging, { workflowUUID: 'charged' }, 'alice');
    while (charges.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await engine.deleteWorkflow('charged', { force: true });
    await expect(engine.startWorkflow(charging, { workflowUUID: 'charged' }, 'bob')).rejects.toBeInstanceOf(WorkflowConflictError);
    releaseCharge('charged alice');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await engine.listOperations('charged')).toEqual([]);
    expect(await engine.retrieveWorkflow('charged').getStatus()).toBeNull();
    expect(charges).toEqual(['alice']);
    await engine.close();
  });

  test('a workflow deleted after it finished frees its UUID: starting it again starts a new workflow', async () => {
    const engine = await openTestEngine();
    expect(await (await engine.startWorkflow(quick, { workflowUUID: 'again' }, 'first')).getResult()).toBe('first');
    await engine.deleteWorkflow('again');
    expect(await (await engine.startWorkflow(quick, { workflowUUID: 'again' }, 'second')).getResult()).toBe('second');
    await engine.close();
  });
});

describe('deleteWorkflow', () => {
  test('removes the workflow and every row of it, in every table, and leaves other workflows untouched', async () => {
    const database = await testDatabase();
    const engine = await openTestEngine({ database });
    await finishChatty(engine, 'gone');
    await finishChatty(engine, 'kept');
    const keptBefore = await rowsOf(database, 'kept');
    const goneBefore = await rowsOf(database, 'gone');
    expect(goneBefore.events).toHaveLength(1);
    expect(goneBefore.streams).toHaveLength(2);
    expect(goneBefore.messages).toHaveLength(2);

    const result = await engine.deleteWorkflow('gone');
    expect(result).toEqual({
      deleted: ['gone'],
      cancelled: [],
      rows: { workflows: 1, operations: goneBefore.operations.length, events: 1, streamEntries: 2, messages: 2, controls: 0 },
    });
    expect(await rowsOf(database, 'gone')).toEqual(NONE);
    expect(await rowsOf(database, 'kept')).toEqual(keptBefore);
    expect(await engine.retrieveWorkflow('gone').getStatus()).toBeNull();
    await expect(engine.deleteWorkflow('gone')).rejects.toBeInstanceOf(WorkflowNotFoundError);
    // The UUID is free again.
    await finishChatty(engine, 'gone');
    expect(await engine.retrieveWorkflow('gone').getResult()).toBe('gone: hi');
    await engine.close();
  });

  test('refuses a PENDING workflow with WorkflowPendingError, deleting nothing; force cancels it, then deletes it', async () => {
    const database = await testDatabase();
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(chatty, { workflowUUID: 'running' }, 'running');
    await blockedInRecv(engine, 'running', 'reply');
    const before = await rowsOf(database, 'running');
    const refusal = await engine.deleteWorkflow('running').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(WorkflowPendingError);
    expect(refusal).toMatchObject({ code: 'WORKFLOW_PENDING', workflowUUID: 'running', pendingUUIDs: ['running'] });
    expect((refusal as Error).message).toContain('{ force: true }');
    expect(await rowsOf(database, 'running')).toEqual(before);

    const handle = engine.retrieveWorkflow('running');
    const outcome = handle.getResult().catch((error: unknown) => error);
    const result = await engine.deleteWorkflow('running', { force: true });
    expect(result.deleted).toEqual(['running']);
    expect(result.cancelled).toEqual(['running']);
    await outcome;
    // The forced cancel's record stays for processes that have not read it yet; a prune removes it.
    const left = await rowsOf(database, 'running');
    expect({ ...left, workflow_controls: [] }).toEqual(NONE);
    expect(left.workflow_controls).toHaveLength(1);
    const pruned = await engine.pruneWorkflows({ finishedBefore: Date.now() + 1 });
    expect(pruned.rows.controls).toBe(1);
    expect(await rowsOf(database, 'running')).toEqual(NONE);
    await engine.close();
  });

  test('deleteChildren deletes the descendants too; without it they stay', async () => {
    const database = await testDatabase();
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(parent, { workflowUUID: 'p1' });
    await engine.startWorkflow(parent, { workflowUUID: 'p2' });
    await blockedInRecv(engine, 'p1-0', 'reply');
    await blockedInRecv(engine, 'p2-0', 'reply');
    await expect(engine.deleteWorkflow('p1', { deleteChildren: true, force: false })).rejects.toMatchObject({ pendingUUIDs: ['p1', 'p1-0'] });
    await engine.send('p1-0', 'ok', 'reply');
    await engine.send('p2-0', 'ok', 'reply');
    await engine.retrieveWorkflow('p1').getResult();
    await engine.retrieveWorkflow('p2').getResult();

    expect((await engine.deleteWorkflow('p1', { deleteChildren: true })).deleted).toEqual(['p1', 'p1-0']);
    expect(await rowsOf(database, 'p1')).toEqual(NONE);
    expect(await rowsOf(database, 'p1-0')).toEqual(NONE);
    expect((await engine.deleteWorkflow('p2')).deleted).toEqual(['p2']);
    expect((await rowsOf(database, 'p2-0')).workflows).toHaveLength(1);
    await engine.close();
  });

  test('force with deleteChildren cancels and deletes a running family', async () => {
    const database = await testDatabase();
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(parent, { workflowUUID: 'fam' });
    await blockedInRecv(engine, 'fam-0', 'reply');
    const result = await engine.deleteWorkflow('fam', { deleteChildren: true, force: true });
    expect(result.deleted).toEqual(['fam', 'fam-0']);
    expect(result.cancelled).toEqual(['fam', 'fam-0']);
    expect({ ...(await rowsOf(database, 'fam')), workflow_controls: [] }).toEqual(NONE);
    expect({ ...(await rowsOf(database, 'fam-0')), workflow_controls: [] }).toEqual(NONE);
    await engine.close();
  });

  test('hostile arguments are refused with TypeError/RangeError before anything is written', async () => {
    const engine = await openTestEngine();
    for (const uuid of [undefined, '', 42, null, {}]) await expect(engine.deleteWorkflow(uuid as never)).rejects.toBeInstanceOf(TypeError);
    await expect(engine.deleteWorkflow('x', null as never)).rejects.toBeInstanceOf(TypeError);
    await expect(engine.deleteWorkflow('x', { force: 'yes' as never })).rejects.toBeInstanceOf(TypeError);
    await expect(engine.deleteWorkflow('x', { deleteChildren: 1 as never })).rejects.toBeInstanceOf(TypeError);
    await expect(engine.deleteWorkflow("x'; DROP TABLE workflows; --")).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(engine.pruneWorkflows(undefined as never)).rejects.toBeInstanceOf(TypeError);
    await expect(engine.pruneWorkflows({ finishedBefore: '2024-01-01' as never })).rejects.toBeInstanceOf(TypeError);
    await expect(engine.pruneWorkflows({ finishedBefore: new Date('nope') })).rejects.toBeInstanceOf(RangeError);
    await expect(engine.pruneWorkflows({ finishedBefore: Number.NaN })).rejects.toBeInstanceOf(RangeError);
    await expect(engine.pruneWorkflows({ finishedBefore: 0, statuses: ['PENDING'] })).rejects.toBeInstanceOf(RangeError);
    await expect(engine.pruneWorkflows({ finishedBefore: 0, statuses: [] })).rejects.toBeInstanceOf(TypeError);
    await expect(engine.pruneWorkflows({ finishedBefore: 0, batchSize: 0 })).rejects.toBeInstanceOf(RangeError);
    await engine.close();
  });
});

describe('pruneWorkflows', () => {
  test('deletes, in batches, the finished workflows of the given statuses before the time, and nothing else', async () => {
    const database = await testDatabase();
    const engine = await openTestEngine({ database });
    for (let i = 0; i < 7; i++) await finishChatty(engine, `old-${i}`);
    await engine.startWorkflow(chatty, { workflowUUID: 'pending' }, 'pending');
    await blockedInRecv(engine, 'pending', 'reply');
    const pendingBefore = await rowsOf(database, 'pending');
    await engine.cancelWorkflow('old-0');
    // old-0 is SUCCESS already (the cancel left it), so every old one is SUCCESS.
    const none = await engine.pruneWorkflows({ finishedBefore: Date.now() + 1000, statuses: ['ERROR'] });
    expect(none).toEqual({ deleted: 0, batches: 0, rows: { workflows: 0, operations: 0, events: 0, streamEntries: 0, messages: 0, controls: 0 } });
    const result = await engine.pruneWorkflows({ finishedBefore: new Date(Date.now() + 1000), batchSize: 3 });
    expect(result.deleted).toBe(7);
    expect(result.batches).toBe(3);
    expect(result.rows.events).toBe(7);
    for (let i = 0; i < 7; i++) expect(await rowsOf(database, `old-${i}`)).toEqual(NONE);
    expect(await rowsOf(database, 'pending')).toEqual(pendingBefore);
    const early = await engine.pruneWorkflows({ finishedBefore: 0 });
    expect(early.deleted).toBe(0);
    await engine.close();
  });
});

describe('ids are never reused after a delete', () => {
  test('event and stream ids keep growing after the newest rows are deleted', async () => {
    const database = await testDatabase();
    const engine = await openTestEngine({ database });
    await finishChatty(engine, 'a');
    const maxIds = async (): Promise<{ event: number; entry: number; workflow: number }> => {
      const [ids] = await queryDatabase(database, 'SELECT (SELECT max(event_id) FROM events) AS event, (SELECT max(entry_id) FROM streams) AS entry, (SELECT max(workflow_id) FROM workflows) AS workflow');
      // PostgreSQL's bigint ids come back as strings.
      return { event: Number(ids!.event), entry: Number(ids!.entry), workflow: Number(ids!.workflow) };
    };
    const before = await maxIds();
    await engine.deleteWorkflow('a');
    await finishChatty(engine, 'b');
    const after = await maxIds();
    expect(after.event).toBeGreaterThan(before.event);
    expect(after.entry).toBeGreaterThan(before.entry);
    expect(after.workflow).toBeGreaterThan(before.workflow);
    await engine.close();
  });

  testOnSqlite('the change feed of a SQLite file shared by an owner process and a Client, past the ids a delete removed (PostgreSQL\'s engines hear commits through NOTIFY, with no feed)', 'a Client deletes the newest workflow; the workflow it starts next still runs in the owner process, and its event wakes the Client at once', async () => {
    const database = tempDatabasePath();
    const owner = spawnFixture('owner', [database, 'stay']);
    try {
      await owner.waitForLine('ready');
      const client = await Client.open({ database });
      try {
        expect(await (await client.startWorkflow<string>('Approvals.echo', { workflowUUID: 'echo-1' }, 'one')).getResult()).toBe('ONE');
        // The owner's feed has passed echo-2's id once it ran it; the delete removes the newest row.
        expect(await (await client.startWorkflow<string>('Approvals.echo', { workflowUUID: 'echo-2' }, 'two')).getResult()).toBe('TWO');
        await client.deleteWorkflow('echo-2');
        const third = await client.startWorkflow<string>('Approvals.echo', { workflowUUID: 'echo-3' }, 'three');
        expect(await Promise.race([third.getResult(), new Promise((resolve) => setTimeout(() => resolve('never ran'), 10_000))])).toBe('THREE');

        // Events: the client's feed passes the newest event ids, which the delete then removes.
        await client.startWorkflow('Approvals.waitForApproval', { workflowUUID: 'ap-1' }, 'first');
        expect(await client.getEvent('ap-1', 'requested', 10)).toBe('first');
        await client.send('ap-1', { by: 'ada' }, 'approval');
        expect(await client.getEvent('ap-1', 'decision', 10)).toBe('approved by ada');
        await client.retrieveWorkflow('ap-1').getResult();
        await client.deleteWorkflow('ap-1');
        await client.startWorkflow('Approvals.waitForApproval', { workflowUUID: 'ap-2' }, 'second');
        const startedMs = performance.now();
        expect(await client.getEvent('ap-2', 'requested', 10)).toBe('second');
        expect(performance.now() - startedMs).toBeLessThan(3000);
        await client.deleteWorkflow('ap-2', { force: true });
      } finally {
        await client.close();
      }
      // Printed before the commits the client saw, but read here only when the pipe delivers them.
      await owner.waitForLine('echo ran three');
      expect(owner.lines.filter((line) => line.startsWith('echo ran'))).toEqual(['echo ran one', 'echo ran two', 'echo ran three']);
    } finally {
      await owner.kill();
    }
  }, 60_000);
});
