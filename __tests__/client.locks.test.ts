// A client never blocks its event loop on the owner's write lock: each of its writes commits at once,
// and a write that finds the lock held waits for it asynchronously (up to the busy timeout), keeping
// call order. So a client and an owner can share one process, and a client's UI stays responsive.
import Database from 'better-sqlite3';
import { Client, Engine, registerWorkflow, StorageError, type WorkflowContext } from '../lib';
import { tempDatabasePath } from './helpers';

const collector = registerWorkflow('locks.collector', async (ctxt: WorkflowContext, count: number) => {
  const got: unknown[] = [];
  for (let index = 0; index < count; index++) got.push(await ctxt.recv('in', 60));
  return got;
});

describe('a client and the write lock', () => {
  let database: string;

  beforeEach(() => {
    database = tempDatabasePath('locks');
  });

  test('a client and the owner in one process write in the same turns, and every write lands in call order', async () => {
    const engine = await Engine.open({ database, onWarning: () => {} });
    const client = await Client.open({ database });
    try {
      const handle = await engine.startWorkflow(collector, { workflowUUID: 'collector' }, 40);
      const sends: Promise<void>[] = [];
      for (let round = 0; round < 10; round++) {
        // The owner's send holds the lock until its turn ends; the client's must wait for it, not deadlock.
        sends.push(engine.send('collector', `owner ${round}`, 'in'), client.send('collector', `client ${round}a`, 'in'));
        sends.push(client.send('collector', `client ${round}b`, 'in'), engine.send('collector', `owner ${round}'`, 'in'));
      }
      await Promise.all(sends);
      const got = (await handle.getResult()) as string[];
      expect(got).toHaveLength(40);
      const ofClient = got.filter((message) => message.startsWith('client'));
      const ofOwner = got.filter((message) => message.startsWith('owner'));
      expect(ofClient).toEqual([...Array(10).keys()].flatMap((round) => [`client ${round}a`, `client ${round}b`]));
      expect(ofOwner).toEqual([...Array(10).keys()].flatMap((round) => [`owner ${round}`, `owner ${round}'`]));
      const started = await client.startWorkflow<string[]>('locks.collector', { workflowUUID: 'second' }, 1);
      await engine.send('second', 'last', 'in');
      expect(await started.getResult()).toEqual(['last']);
    } finally {
      await client.close();
      await engine.close();
    }
  }, 30_000);

  /** An owner, a client and a third connection, in one process; closes all three after `body`. */
  async function withLockHolder(body: (engine: Engine, client: Client, holder: Database.Database) => Promise<void>): Promise<void> {
    const engine = await Engine.open({ database, onWarning: () => {} });
    const client = await Client.open({ database });
    const holder = new Database(database);
    try {
      await body(engine, client, holder);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
      await client.close();
      await engine.close();
    }
  }

  test('a client write meeting a lock held by another connection waits without blocking its event loop, then lands', () =>
    withLockHolder(async (engine, client, holder) => {
      const handle = await engine.startWorkflow(collector, { workflowUUID: 'held' }, 1);
      holder.exec('BEGIN IMMEDIATE');
      let ticks = 0;
      const ticking = setInterval(() => ticks++, 5);
      const sending = client.send('held', 'after the lock', 'in');
      await new Promise((resolve) => setTimeout(resolve, 300));
      clearInterval(ticking);
      expect(ticks).toBeGreaterThan(10); // the event loop ran while the write waited
      expect(await client.listMessages('held')).toEqual([]);
      holder.exec('COMMIT');
      await sending;
      expect(await handle.getResult()).toEqual(['after the lock']);
    }), 30_000);

  test('a client write rejects with StorageError (SQLITE_BUSY) once the lock stays held past the busy timeout, storing nothing', () =>
    withLockHolder(async (engine, client, holder) => {
      await engine.startWorkflow(collector, { workflowUUID: 'stuck' }, 1);
      holder.exec('BEGIN IMMEDIATE');
      const error = await client.send('stuck', 'never', 'in').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ storageCode: 'SQLITE_BUSY' });
      holder.exec('ROLLBACK');
      expect(await client.listMessages('stuck')).toEqual([]);
    }), 30_000);
});
