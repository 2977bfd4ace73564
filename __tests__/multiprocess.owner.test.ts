import { Client, DatabaseOwnedError, Engine } from '../lib';
import { spawnFixture, tempDatabasePath } from './helpers';

describe('one owner per database file', () => {
  test('a second Engine.open on a file owned by a live process fails at once, naming the owner', async () => {
    const database = tempDatabasePath();
    const owner = spawnFixture('owner', [database, 'stay']);
    try {
      const line = await owner.waitForLine(/^owner \d+/);
      const ownerPid = Number(line.split(' ')[1]);
      await owner.waitForLine('ready');
      const started = performance.now();
      const failure = await Engine.open({ database }).then(
        (engine) => engine.close().then(() => null),
        (error: unknown) => error,
      );
      expect(performance.now() - started).toBeLessThan(2000);
      expect(failure).toBeInstanceOf(DatabaseOwnedError);
      expect((failure as DatabaseOwnedError).code).toBe('DATABASE_OWNED');
      expect((failure as DatabaseOwnedError).ownerPid).toBe(ownerPid);
      expect((failure as Error).message).toContain(`process ${ownerPid}`);
    } finally {
      await owner.kill();
    }
  }, 30_000);

  test('two engines in one process on one file: the second is refused', async () => {
    const database = tempDatabasePath();
    const first = await Engine.open({ database });
    try {
      await expect(Engine.open({ database })).rejects.toBeInstanceOf(DatabaseOwnedError);
    } finally {
      await first.close();
    }
    const second = await Engine.open({ database });
    await second.close();
  });

  test('after the owner is killed with SIGKILL the next Engine.open takes over and recovers its workflows', async () => {
    const database = tempDatabasePath();
    const first = spawnFixture('owner', [database, 'start-approval', 'deploy-1']);
    await first.waitForLine('started deploy-1');
    await first.kill();

    const second = spawnFixture('owner', [database]);
    try {
      expect(await second.waitForLine(/^owner /)).toContain('"deploy-1"');
      const client = await Client.open({ database });
      try {
        expect(await client.getEvent('deploy-1', 'requested', 10)).toBe('deploy v1');
        await client.send('deploy-1', { by: 'ada' }, 'approval');
        expect(await client.getEvent('deploy-1', 'decision', 10)).toBe('approved by ada');
        expect(await client.retrieveWorkflow('deploy-1').getResult()).toBe('approved by ada');
      } finally {
        await client.close();
      }
      // Printed before the commit the client saw, but read here only when the pipe delivers it.
      await second.waitForLine('received {"by":"ada"}');
      expect(second.lines.filter((line) => line.startsWith('received'))).toEqual(['received {"by":"ada"}']);
    } finally {
      await second.kill();
    }
  }, 30_000);

  test('a client starts a workflow by name and the owner in another process runs it', async () => {
    const database = tempDatabasePath();
    const owner = spawnFixture('owner', [database, 'stay']);
    try {
      await owner.waitForLine('ready');
      const client = await Client.open({ database });
      try {
        const handle = await client.startWorkflow<string>('Approvals.echo', { workflowUUID: 'echo-1' }, 'hi');
        expect(await handle.getResult()).toBe('HI');
        const again = await client.startWorkflow<string>('Approvals.echo', { workflowUUID: 'echo-1' }, 'ignored');
        expect(await again.getResult()).toBe('HI');
      } finally {
        await client.close();
      }
      // The owner prints before it commits the result, but its line may reach this process after the
      // client saw the commit: wait for the line, then check it came once.
      await owner.waitForLine('echo ran hi');
      expect(owner.lines.filter((line) => line.startsWith('echo ran'))).toEqual(['echo ran hi']);
    } finally {
      await owner.kill();
    }
  }, 30_000);

  test('a client refuses an in-memory database, which no other process could share', async () => {
    await expect(Client.open({ database: ':memory:' })).rejects.toThrow(TypeError);
  });

  test('a client refuses a database file that does not exist unless asked to create it', async () => {
    const database = tempDatabasePath('missing');
    await expect(Client.open({ database })).rejects.toMatchObject({ code: 'DATABASE_OPEN_FAILED' });
    const client = await Client.open({ database, create: true });
    expect(await client.listWorkflows()).toEqual([]);
    await client.close();
  });

  test('a client process awaiting a result another process produces stays alive until it arrives', async () => {
    const database = tempDatabasePath();
    const owner = spawnFixture('owner', [database, 'start-approval', 'deploy-2']);
    await owner.waitForLine('started deploy-2');
    const waiter = spawnFixture('client-await-result', [database, 'deploy-2']);
    try {
      await waiter.waitForLine('waiting');
      const client = await Client.open({ database });
      try {
        await client.send('deploy-2', { by: 'lin' }, 'approval');
      } finally {
        await client.close();
      }
      expect(await waiter.waitForLine(/^result /)).toBe('result "approved by lin"');
      expect((await waiter.exited).code).toBe(0);
    } finally {
      await waiter.kill();
      await owner.kill();
    }
  }, 30_000);
});
