// listWaits: every recorded wait under way of a PENDING workflow, read from the database, so a Client
// (or the CLI) sees the owner's waits with their deadlines. A damaged record shows as unreadable
// without hiding the others; waits outside workflows are not recorded and not listed.
import { Client, registerWorkflow, UnreadableRecordError, type WaitInfo, type WorkflowContext } from '../lib';
import { TestEngine, type WaitDescription } from '../lib/testing';
import { openTestKit, queryDatabase, testDatabase } from './helpers';

const START_MS = Date.UTC(2026, 0, 1);

const approver = registerWorkflow('waits.approver', async (ctxt: WorkflowContext) => {
  return ctxt.recv<string>('approval', 30);
});

const watcher = registerWorkflow('waits.watcher', async (ctxt: WorkflowContext, target: string) => {
  await ctxt.setEvent('watching', target);
  return ctxt.getEvent<string>(target, 'done', 120);
});

const napper = registerWorkflow('waits.napper', async (ctxt: WorkflowContext) => {
  await ctxt.sleep(3600);
  return 'rested';
});

/** Waits on two things at once: two waits under way in one workflow. */
const juggler = registerWorkflow('waits.juggler', async (ctxt: WorkflowContext) => {
  return Promise.all([ctxt.recv(null, 10), ctxt.sleep(20)]);
});

/** Returns once the race is won: the losing recv is left behind in a finished workflow. */
const racer = registerWorkflow('waits.racer', async (ctxt: WorkflowContext) => {
  return Promise.race([ctxt.recv('never', 100), ctxt.sleep(1).then(() => 'slept')]);
});

const at = (seconds: number) => START_MS + seconds * 1000;

/** An owner on a database of its own under a virtual clock, with its workflows blocked in their waits, and a Client on the same database. */
async function ownerWithWaits(): Promise<{ t: TestEngine; client: Client; database: string }> {
  const database = await testDatabase('waits');
  const t = await openTestKit({ database });
  await t.engine.startWorkflow(approver, { workflowUUID: 'approve-1' });
  await t.engine.startWorkflow(watcher, { workflowUUID: 'watch-1' }, 'approve-1');
  await t.engine.startWorkflow(napper, { workflowUUID: 'nap-1' });
  await t.engine.startWorkflow(juggler, { workflowUUID: 'juggle-1' });
  for (const uuid of ['approve-1', 'watch-1', 'nap-1', 'juggle-1']) await t.waitUntilBlocked(uuid);
  await t.runUntilIdle();
  return { t, client: await Client.open({ database }), database };
}

describe('listWaits', () => {
  test('a Client sees the owner\'s recv, getEvent and sleep waits with their deadlines, soonest first', async () => {
    const { t, client } = await ownerWithWaits();
    try {
      const expected: WaitInfo[] = [
        { workflowUUID: 'juggle-1', workflowName: 'waits.juggler', operationIndex: 0, kind: 'recv', topic: null, deadlineMs: at(10), startedAt: START_MS },
        { workflowUUID: 'juggle-1', workflowName: 'waits.juggler', operationIndex: 1, kind: 'sleep', deadlineMs: at(20), startedAt: START_MS },
        { workflowUUID: 'approve-1', workflowName: 'waits.approver', operationIndex: 0, kind: 'recv', topic: 'approval', deadlineMs: at(30), startedAt: START_MS },
        { workflowUUID: 'watch-1', workflowName: 'waits.watcher', operationIndex: 1, kind: 'getEvent', targetUUID: 'approve-1', key: 'done', deadlineMs: at(120), startedAt: START_MS },
        { workflowUUID: 'nap-1', workflowName: 'waits.napper', operationIndex: 0, kind: 'sleep', deadlineMs: at(3600), startedAt: START_MS },
      ];
      expect(await client.listWaits()).toEqual(expected);
      // The owner reads the same from its own connection.
      expect(await t.engine.listWaits()).toEqual(expected);
      expect(await client.listWaits({ workflowUUID: 'juggle-1' })).toEqual(expected.slice(0, 2));
      expect(await client.listWaits({ workflowUUID: 'no-such-workflow' })).toEqual([]);
    } finally {
      await client.close();
      await t.close();
    }
  });

  test('a wait leaves the listing once it ends, whether woken or at its deadline', async () => {
    const { t, client } = await ownerWithWaits();
    try {
      await client.send('approve-1', 'yes', 'approval');
      await t.runUntilIdle();
      expect(await t.engine.retrieveWorkflow('approve-1').getResult()).toBe('yes');
      await t.advance(15); // juggle-1's recv times out; its sleep goes on
      const left = (await client.listWaits()).map((wait) => `${wait.workflowUUID}#${wait.operationIndex} ${wait.kind}`);
      expect(left).toEqual(['juggle-1#1 sleep', 'watch-1#1 getEvent', 'nap-1#0 sleep']);
    } finally {
      await client.close();
      await t.close();
    }
  });

  test('recorded waits survive a crash: the recovered engine lists the same waits with the same deadlines', async () => {
    const { t, client } = await ownerWithWaits();
    try {
      const before = await t.engine.listWaits();
      await t.crash();
      await t.runUntilIdle();
      expect(await t.engine.listWaits()).toEqual(before);
    } finally {
      await client.close();
      await t.close();
    }
  });

  test('a finished workflow\'s leftover wait and a handler\'s getEvent are not listed', async () => {
    const t = await openTestKit();
    try {
      const racing = await t.engine.startWorkflow(racer, { workflowUUID: 'race-1' });
      await t.waitUntilBlocked('race-1', { kind: 'sleep' });
      await t.advance(1);
      expect(await racing.getResult()).toBe('slept');
      // A wait is under way once its first check came back empty: at once on SQLite, a read later on PostgreSQL.
      const handlerWaiting = new Promise<void>((resolve) => {
        const started = (wait: WaitDescription): void => {
          if (wait.workflowUUID !== null) return;
          t.engine.events.off('waitStarted', started);
          resolve();
        };
        t.engine.events.on('waitStarted', started);
      });
      const outside = t.engine.getEvent('race-1', 'never', 50);
      await handlerWaiting;
      expect(t.waits()).toEqual([expect.objectContaining({ workflowUUID: null, kind: 'getEvent', key: 'never' })]);
      expect(await t.engine.listWaits()).toEqual([]);
      await t.advance(50);
      expect(await outside).toBeNull();
    } finally {
      await t.close();
    }
  });

  test('an unreadable wait record is flagged with its UnreadableRecordError, and the other waits are still listed', async () => {
    const { t, client, database } = await ownerWithWaits();
    try {
      await queryDatabase(database, "UPDATE operations SET wait_detail = '{not json' WHERE workflow_uuid = 'approve-1' AND operation_index = 0");
      const waits = await client.listWaits();
      expect(waits).toHaveLength(5);
      const damaged = waits.find((wait) => wait.workflowUUID === 'approve-1')!;
      expect(damaged).toMatchObject({ kind: 'recv', deadlineMs: at(30) });
      expect(damaged.topic).toBeUndefined();
      expect(damaged.unreadable).toBeInstanceOf(UnreadableRecordError);
      expect(damaged.unreadable).toMatchObject({ code: 'UNREADABLE_RECORD', workflowUUID: 'approve-1' });
      expect(waits.filter((wait) => wait.unreadable !== undefined)).toHaveLength(1);
    } finally {
      await client.close();
      await t.close();
    }
  });

  test('a wait on several things at once shows its branches as recorded', async () => {
    const { t, client, database } = await ownerWithWaits();
    try {
      // The shape a select records: what each branch waits on.
      const branches = [{ recv: 'approval' }, { recv: null }, { getEvent: { workflowUUID: 'approve-1', key: 'done' } }];
      await queryDatabase(
        database,
        "INSERT INTO operations (workflow_uuid, operation_index, kind, name, deadline_ms, wait_detail, started_at) VALUES ('nap-1', 7, 'select', 'select', ?, ?, ?)",
        [at(5), JSON.stringify({ branches }), START_MS],
      );
      expect((await client.listWaits({ workflowUUID: 'nap-1' }))[0]).toEqual({
        workflowUUID: 'nap-1', workflowName: 'waits.napper', operationIndex: 7, kind: 'select', branches, deadlineMs: at(5), startedAt: START_MS,
      });
    } finally {
      await client.close();
      await t.close();
    }
  });

  test('bad options are a TypeError', async () => {
    const t = await openTestKit();
    try {
      await expect(t.engine.listWaits(null as never)).rejects.toThrow(new TypeError('Expected `options` to be an object like { workflowUUID } or undefined, got `null` (null)'));
      await expect(t.engine.listWaits({ workflowUUID: '' })).rejects.toThrow(new TypeError('Expected `workflowUUID` to be a non-empty string, got `""` (string)'));
    } finally {
      await t.close();
    }
  });
});
