// A stored record that cannot be decoded (damaged, or written by an incompatible version) never stops
// Engine.open, the listings, the CLI or the owner: the workflow it belongs to is marked ERROR with an
// UnreadableRecordError naming the record, a warning is reported, and every other workflow runs.
import Database from 'better-sqlite3';
import {
  Engine,
  registerStep,
  registerWorkflow,
  UnreadableRecordError,
  type EngineWarning,
  type WorkflowContext,
} from '../lib';
import { runCli } from './cli-runner';
import { tempDatabasePath } from './helpers';

const remember = registerStep('unreadable.remember', (_ctxt, value: string) => `remembered ${value}`);

const waiter = registerWorkflow('unreadable.waiter', async (ctxt: WorkflowContext, label: string) => {
  const remembered = await ctxt.runStep(remember, label);
  const message = await ctxt.recv<string>('go', 600);
  return `${remembered}, then ${message}`;
});

const quick = registerWorkflow('unreadable.quick', async (_ctxt: WorkflowContext, label: string) => `done ${label}`);

/** A value nested deeper than any decoder's stack: what an older, unlimited encoder could store. */
const tooDeep = `${'['.repeat(200_000)}{"$type":"Date","value":"2026-01-01T00:00:00.000Z"}${']'.repeat(200_000)}`;

describe('unreadable records', () => {
  let database: string;

  beforeEach(() => {
    database = tempDatabasePath('unreadable');
  });

  test('damaged inputs, operation results, outcomes and messages mark their workflows ERROR; the open, the listings, the CLI and every other workflow go on', async () => {
    const first = await Engine.open({ database, onWarning: () => {} });
    for (const label of ['inputs', 'step', 'message', 'healthy']) await first.startWorkflow(waiter, { workflowUUID: `w-${label}` }, label);
    await (await first.startWorkflow(quick, { workflowUUID: 'w-outcome' }, 'outcome')).getResult();
    await first.send('w-message', 'ignored', 'other');
    await first.close();

    const raw = new Database(database);
    raw.prepare(`UPDATE workflows SET inputs = '{"$type":"FromTheFuture"}' WHERE workflow_uuid = 'w-inputs'`).run();
    raw.prepare(`UPDATE operations SET output = '{"truncated' WHERE workflow_uuid = 'w-step' AND operation_index = 0`).run();
    raw.prepare(`UPDATE workflows SET output = ? WHERE workflow_uuid = 'w-outcome'`).run(tooDeep);
    raw.prepare(`INSERT INTO messages (destination_uuid, topic, message, created_at) VALUES ('w-message', 'go', ?, 0)`).run(tooDeep);
    raw.close();

    const warnings: EngineWarning[] = [];
    const engine = await Engine.open({ database, onWarning: (warning) => warnings.push(warning) });
    try {
      expect(engine.recovery.failed).toEqual(['w-inputs']);
      expect(engine.recovery.resumed.sort()).toEqual(['w-healthy', 'w-message', 'w-step']);
      expect(warnings).toContainEqual(expect.objectContaining({ code: 'UNREADABLE_RECORD', workflowUUID: 'w-inputs' }));

      // Damaged inputs: ERROR at open, with the error naming the record.
      const inputsError = await engine.retrieveWorkflow('w-inputs').getResult().catch((error: unknown) => error);
      expect(inputsError).toBeInstanceOf(UnreadableRecordError);
      expect(inputsError).toMatchObject({ code: 'UNREADABLE_RECORD', workflowUUID: 'w-inputs', record: 'inputs' });

      // A damaged step record: the replay meets it, and the workflow ends in ERROR (not a value).
      const stepError = await engine.retrieveWorkflow('w-step').getResult().catch((error: unknown) => error);
      expect(stepError).toMatchObject({ name: 'UnreadableRecordError', record: 'result of operation #0 (step)' });
      expect(warnings.filter((warning) => warning.workflowUUID === 'w-step').map((warning) => warning.code)).toEqual(['UNREADABLE_RECORD']);

      // A message nobody can decode: consuming it ends that workflow in ERROR; the others run.
      await engine.send('w-healthy', 'go!', 'go');
      expect(await engine.retrieveWorkflow('w-healthy').getResult()).toBe('remembered healthy, then go!');
      const messageError = await engine.retrieveWorkflow('w-message').getResult().catch((error: unknown) => error);
      expect(messageError).toMatchObject({ name: 'UnreadableRecordError', record: 'result of operation #1 (recv)' });

      // A damaged outcome: getResult rejects with the typed error; the listings show it in place.
      await expect(engine.retrieveWorkflow('w-outcome').getResult()).rejects.toThrow(UnreadableRecordError);
      const listed = await engine.listWorkflows();
      expect(Object.fromEntries(listed.map((workflow) => [workflow.workflowUUID, workflow.status]))).toEqual({
        'w-inputs': 'ERROR', 'w-step': 'ERROR', 'w-message': 'ERROR', 'w-healthy': 'SUCCESS', 'w-outcome': 'SUCCESS',
      });
      expect(listed.find((workflow) => workflow.workflowUUID === 'w-inputs')!.inputs).toBeInstanceOf(UnreadableRecordError);
      const messages = await engine.listMessages('w-message');
      expect(messages.map((message) => message.message instanceof UnreadableRecordError || message.message)).toEqual(['ignored', true]);
      const operations = await engine.listOperations('w-step');
      expect(operations[0]!.output).toBeInstanceOf(UnreadableRecordError);
    } finally {
      await engine.close();
    }

    // The CLI reads the file, damaged rows and all.
    const listing = await runCli('workflows', '--db', database);
    expect({ code: listing.code, stderr: listing.stderr }).toEqual({ code: 0, stderr: '' });
    expect(listing.stdout).toContain('w-outcome');
    const shown = await runCli('show', 'w-step', '--db', database);
    expect(shown.code).toBe(0);

    // And it reopens, with nothing left to recover.
    const reopened = await Engine.open({ database, onWarning: () => {} });
    expect(reopened.recovery).toEqual({ resumed: [], unregistered: [], givenUp: [], failed: [] });
    await reopened.close();
  }, 60_000);

  test('a workflow another process started with inputs nobody can decode is marked ERROR, and the owner goes on', async () => {
    const warnings: EngineWarning[] = [];
    let warned!: () => void;
    const reported = new Promise<void>((resolve) => (warned = resolve));
    const engine = await Engine.open({
      database,
      onWarning: (warning) => {
        warnings.push(warning);
        if (warning.code === 'UNREADABLE_RECORD') warned();
      },
    });
    try {
      // What a client of an incompatible version (or a damaged write) could leave.
      const raw = new Database(database);
      raw.pragma('busy_timeout = 5000');
      raw.prepare(`INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('poison', 'unreadable.quick', 'PENDING', ?, 0, 0)`).run(tooDeep);
      raw.close();
      await reported;
      await expect(engine.retrieveWorkflow('poison').getResult()).rejects.toThrow(UnreadableRecordError);
      expect(warnings.map((warning) => warning.code)).toEqual(['UNREADABLE_RECORD']);
      // The owner is up and runs everything else.
      expect(await (await engine.startWorkflow(quick, { workflowUUID: 'after' }, 'after')).getResult()).toBe('done after');
    } finally {
      await engine.close();
    }
  }, 30_000);
});
