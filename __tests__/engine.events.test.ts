// engine.events: typed events of what the engine does, for logs, metrics and progress displays.
// Each event is checked against what happened: the workflow's life, its operations as they are
// recorded, its steps and waits, the commits, a storage error, and the recovery report.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Engine, registerStep, registerWorkflow, type EngineEvents, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';
import { tempDatabasePath } from './helpers';

const shout = registerStep('events.shout', async (_ctxt, text: string) => text.toUpperCase());
const greeter = registerWorkflow('events.greeter', async (ctxt: WorkflowContext, name: string) => {
  const loud = await ctxt.runStep(shout, name);
  await ctxt.setEvent('greeting', loud);
  const reply = await ctxt.recv<string>('reply', 60);
  return `${loud} said ${reply}`;
});

/** Every event of `engine`, as [name, payload] in the order they came. */
function record(events: Engine['events']): [keyof EngineEvents, unknown][] {
  const seen: [keyof EngineEvents, unknown][] = [];
  const names: (keyof EngineEvents)[] = ['workflowStarted', 'workflowFinished', 'operationRecorded', 'stepStarted', 'stepEnded', 'waitStarted', 'waitEnded', 'commit', 'storageError', 'recovery'];
  for (const name of names) events.on(name, (payload: unknown, outcome?: unknown) => seen.push([name, outcome === undefined ? payload : { ...(payload as object), outcome }]));
  return seen;
}

describe('engine.events', () => {
  test('a workflow\'s life: started, its step, its operations as they are recorded, its wait, its commits, finished', async () => {
    const t = await TestEngine.open();
    const seen = record(t.engine.events);
    const handle = await t.engine.startWorkflow(greeter, { workflowUUID: 'g' }, 'ada');
    await t.waitUntilBlocked('g', { kind: 'recv' });
    await t.engine.send('g', 'hi', 'reply');
    expect(await handle.getResult()).toBe('ADA said hi');
    await t.runUntilIdle();

    // The workflow's own events (the caller's getResult wait and the open's recovery report aside).
    const ofWorkflow = seen.filter(([name, payload]) => name !== 'commit' && (payload as { workflowUUID?: unknown }).workflowUUID === 'g');
    const lifecycle = ofWorkflow.map(([name, payload]) => {
      const { workflowUUID, operationIndex, kind, status, cause, outcome, name: operationName } = payload as Record<string, unknown>;
      return [name, JSON.parse(JSON.stringify({ workflowUUID, operationIndex, kind, status, cause, outcome, operationName }))];
    });
    expect(lifecycle).toEqual([
      ['workflowStarted', { workflowUUID: 'g', cause: 'started' }],
      ['stepStarted', { workflowUUID: 'g', operationIndex: 0, operationName: 'events.shout' }],
      ['stepEnded', { workflowUUID: 'g', operationIndex: 0, operationName: 'events.shout' }],
      ['operationRecorded', { workflowUUID: 'g', operationIndex: 0, kind: 'step', operationName: 'events.shout' }],
      ['operationRecorded', { workflowUUID: 'g', operationIndex: 1, kind: 'setEvent', operationName: 'setEvent' }],
      ['waitStarted', { workflowUUID: 'g', kind: 'recv' }],
      ['waitEnded', { workflowUUID: 'g', kind: 'recv', outcome: 'satisfied' }],
      ['operationRecorded', { workflowUUID: 'g', operationIndex: 2, kind: 'recv', operationName: 'recv' }],
      ['workflowFinished', { workflowUUID: 'g', status: 'SUCCESS' }],
    ]);
    const commits = seen.filter(([name]) => name === 'commit').map(([, payload]) => payload as { commitNumber: number; writes: number; durationMs: number });
    expect(commits.length).toBeGreaterThanOrEqual(5);
    for (const commit of commits) {
      expect(commit.writes).toBeGreaterThanOrEqual(1);
      expect(commit.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(commits.map((commit) => commit.commitNumber)).toEqual([...commits.map((commit) => commit.commitNumber)].sort((a, b) => a - b));
    await t.close();
  });

  test('a wait that times out ends with outcome timeout; a failed commit is a storageError and the run starts again as resumed', async () => {
    const t = await TestEngine.open();
    const seen = record(t.engine.events);
    const handle = await t.engine.startWorkflow(greeter, { workflowUUID: 'quiet' }, 'bob');
    await t.waitUntilBlocked('quiet', { kind: 'recv' });
    t.injectFault({ at: 'commit', code: 'SQLITE_FULL' });
    await t.advance(60);
    await t.runUntilIdle();
    const names = seen.map(([name, payload]) => (name === 'waitEnded' ? `waitEnded ${(payload as { outcome: string }).outcome}` : name));
    expect(names).toContain('waitEnded timeout');
    expect(seen.find(([name]) => name === 'storageError')?.[1]).toMatchObject({ error: { code: 'STORAGE_FULL', storageCode: 'SQLITE_FULL' } });
    expect(seen.filter(([name]) => name === 'workflowStarted').map(([, payload]) => (payload as { cause: string }).cause)).toEqual(['started', 'resumed']);
    await t.advance(60);
    expect(await handle.getResult()).toBe('BOB said null');
    await t.close();
  });

  test('the recovery report is emitted once, at the first turn after Engine.open, and a client tells of its own commits', async () => {
    const database = tempDatabasePath('events');
    try {
      const first = await Engine.open({ database, onWarning: () => {} });
      await first.startWorkflow(greeter, { workflowUUID: 'left' }, 'cy');
      await first.close();

      const engine = await Engine.open({ database, onWarning: () => {} });
      const reports: unknown[] = [];
      engine.events.on('recovery', (report) => reports.push(report));
      await new Promise((resolve) => setImmediate(resolve));
      expect(reports).toEqual([{ resumed: ['left'], unregistered: [], givenUp: [], failed: [] }]);

      const client = await Client.open({ database });
      const commits: number[] = [];
      client.events.on('commit', ({ writes }) => commits.push(writes));
      await client.send('left', 'hello', 'reply');
      expect(commits).toEqual([1]);
      expect(await engine.retrieveWorkflow('left').getResult()).toBe('CY said hello');
      await client.close();
      await engine.close();
    } finally {
      fs.rmSync(path.dirname(database), { recursive: true, force: true });
    }
  });
});
