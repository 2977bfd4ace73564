// A Client's cancel and resume reach the owner in another process through the change feed: the
// owner's wait ends long before its deadline (an hour away), and a resume runs the workflow again
// from its records in the owner, each earlier step run once.
import { Client, WorkflowCancelledError } from '../lib';
import { spawnFixture, tempDatabasePath } from './helpers';

describe('cancel and resume across processes', () => {
  test('a cancel from a Client wakes the owner at once, and a resume from a Client is run by the owner', async () => {
    const database = tempDatabasePath();
    const owner = spawnFixture('owner-control', [database]);
    try {
      await owner.waitForLine('ready');
      const client = await Client.open({ database });
      try {
        const handle = await client.startWorkflow('control.mp.wait', { workflowUUID: 'mp-1' });
        await owner.waitForLine('wait-started mp-1 recv');

        expect(await client.cancelWorkflow('mp-1')).toEqual({ previousStatus: 'PENDING', cancelled: ['mp-1'] });
        // The owner's recv (deadline in an hour) ends now: it heard of the cancel through the feed.
        await owner.waitForLine('wait-ended mp-1 recv failed');
        await owner.waitForLine('finished mp-1 CANCELLED');
        await expect(handle.getResult()).rejects.toBeInstanceOf(WorkflowCancelledError);
        await expect(client.send('mp-1', 'late', 'go')).rejects.toBeInstanceOf(WorkflowCancelledError);

        expect(await client.resumeWorkflow('mp-1')).toEqual({ previousStatus: 'CANCELLED', resumed: true });
        await owner.waitForLine('started mp-1 resumed');
        await client.send('mp-1', 'now', 'go');
        expect(await handle.getResult()).toBe('went now');
        await owner.waitForLine('finished mp-1 SUCCESS');
        expect(owner.lines.filter((line) => line.startsWith('step '))).toEqual(['step before', 'step after']);
      } finally {
        await client.close();
      }
    } finally {
      await owner.kill();
    }
  });
});
