// Hostile payloads: values nested from 10 to 100,000 levels, through every way a value gets stored
// (handler and client sends, workflow inputs from an engine and from a client, step results, event
// values). Each is refused at the call with SerializationError, writing nothing, or read back intact;
// and the file always reopens, lists and is readable by the CLI.
import {
  Engine,
  registerStep,
  registerWorkflow,
  SerializationError,
  type WorkflowContext,
} from '../lib';
import { MAX_NESTING_DEPTH } from '../lib/store/codec';
import { nested } from './fixtures/nesting-values';
import { runCli } from './cli-runner';
import { spawnFixture, tempDatabasePath } from './helpers';

// As stored, the leaf object adds a level, its Map three more (the tag, its entries, the entry pair).
const STORED_LEVELS_BEYOND_ARRAYS = 4;
const accepted = (levels: number): boolean => levels + STORED_LEVELS_BEYOND_ARRAYS <= MAX_NESTING_DEPTH;
// Workflow inputs are stored as the array of arguments: one level more.
const acceptedAsInput = (levels: number): boolean => accepted(levels + 1);
const deepestStored = MAX_NESTING_DEPTH - STORED_LEVELS_BEYOND_ARRAYS;
const depths = [10, 100, deepestStored - 1, deepestStored, deepestStored + 1, 5_000, 100_000];

const deepStep = registerStep('nesting.deep', (_ctxt, levels: number) => nested(levels));

/** Receives one value, then stores values of the depth it was asked for in every other way. */
const holder = registerWorkflow('nesting.holder', async (ctxt: WorkflowContext, levels: number) => {
  // Kept as an event, not returned inside the result: a wrapper would add a level of its own.
  await ctxt.setEvent('received', await ctxt.recv<unknown>('value', 30));
  const outcomes: Record<string, string> = {};
  const attempt = async (what: string, action: () => Promise<unknown>): Promise<void> => {
    try {
      await action();
      outcomes[what] = 'stored';
    } catch (error) {
      outcomes[what] = error instanceof SerializationError ? 'refused' : `unexpected ${String(error)}`;
    }
  };
  await attempt('step result', () => ctxt.runStep(deepStep, levels));
  await attempt('event value', () => ctxt.setEvent('deep', nested(levels)));
  await attempt('workflow send', () => ctxt.send(ctxt.workflowUUID, nested(levels), 'self'));
  return outcomes;
});

const echo = registerWorkflow('nesting.echo', async (_ctxt: WorkflowContext, value: unknown) => value);

describe('values nested from 10 to 100,000 levels', () => {
  let database: string;

  beforeAll(() => {
    database = tempDatabasePath('nesting');
  });

  test.each(depths.map((levels) => [levels, accepted(levels)] as const))(
    '%i levels (stored: %s) are refused at the call with nothing written, or read back intact',
    async (levels, storable) => {
      const engine = await Engine.open({ database, onWarning: () => {} });
      try {
        const uuid = `holder-${levels}`;
        const handle = await engine.startWorkflow(holder, { workflowUUID: uuid }, levels);
        const messagesBefore = (await engine.listMessages(uuid)).length;

        // A client in another process sends one and starts a workflow with one as input: the owner
        // runs what it stored, and survives whatever it sent.
        const client = spawnFixture('nesting-client', [database, uuid, String(levels)]);
        const clientOutcome = JSON.parse((await client.waitForLine(/^outcome /)).slice('outcome '.length));
        expect(clientOutcome).toEqual({
          send: storable ? 'stored' : 'SerializationError',
          start: acceptedAsInput(levels) ? 'stored' : 'SerializationError',
        });
        expect((await client.exited).code).toBe(0);

        // The handler's send.
        if (storable) {
          await engine.send(uuid, nested(levels), 'value');
        } else {
          await expect(engine.send(uuid, nested(levels), 'value')).rejects.toThrow(SerializationError);
          expect(await engine.listMessages(uuid)).toHaveLength(messagesBefore);
          await engine.send(uuid, 'shallow', 'value');
        }

        // Workflow inputs from the engine; the client's, run by this owner.
        if (acceptedAsInput(levels)) {
          const handle = await engine.startWorkflow(echo, { workflowUUID: `echo-engine-${levels}` }, nested(levels));
          expect(await handle.getResult()).toEqual(nested(levels));
          expect(await engine.retrieveWorkflow(`echo-client-${levels}`).getResult()).toEqual(nested(levels));
        } else {
          await expect(engine.startWorkflow(echo, { workflowUUID: `echo-engine-${levels}` }, nested(levels))).rejects.toThrow(SerializationError);
          expect(await engine.retrieveWorkflow(`echo-engine-${levels}`).getStatus()).toBeNull();
          expect(await engine.retrieveWorkflow(`echo-client-${levels}`).getStatus()).toBeNull();
        }

        // Step results, event values and workflow sends, from inside the workflow.
        const outcomes = await handle.getResult();
        const expected = storable ? 'stored' : 'refused';
        expect(outcomes).toEqual({ 'step result': expected, 'event value': expected, 'workflow send': expected });
        const events = await engine.listEvents(uuid);
        expect(events.received).toEqual(storable ? nested(levels) : 'shallow');
        if (storable) expect(events.deep).toEqual(nested(levels));
        else expect(events).toEqual({ received: 'shallow' });
        const operations = await engine.listOperations(uuid);
        const step = operations.find((operation) => operation.kind === 'step')!;
        if (storable) expect(step.output).toEqual(nested(levels));
        else expect(step.error).toBeInstanceOf(SerializationError); // recorded as the step's failure
      } finally {
        await engine.close();
      }

      // The file always reopens, lists every workflow, and the CLI reads it.
      const reopened = await Engine.open({ database, onWarning: () => {} });
      try {
        expect(reopened.recovery.failed).toEqual([]);
        const listed = await reopened.listWorkflows();
        expect(listed.every((workflow) => workflow.status === 'SUCCESS')).toBe(true);
      } finally {
        await reopened.close();
      }
    },
    60_000,
  );

  test('the CLI lists and shows the file after all of it', async () => {
    const listing = await runCli('workflows', '--db', database, '--json');
    expect(listing.stderr).toBe('');
    expect(listing.code).toBe(0);
    const deepest = depths.filter(accepted).at(-1)!;
    const shown = await runCli('show', `holder-${deepest}`, '--db', database, '--json');
    expect(shown.code).toBe(0);
  }, 60_000);
});
