// Hostile input to the stream calls: each gets a typed error (TypeError / RangeError for a bad
// argument, SerializationError / PayloadTooLargeError for a value) and writes nothing.
import Database from 'better-sqlite3';
import {
  registerStep,
  registerWorkflow,
  type Engine,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, tempDatabasePath } from './helpers';

/** The stored rows of the stream and operation tables, read through a connection of the test's own. */
function storedRows(database: string): unknown {
  const db = new Database(database, { readonly: true });
  try {
    return {
      streams: db.prepare('SELECT * FROM streams ORDER BY entry_id').all(),
      operations: db.prepare('SELECT * FROM operations ORDER BY workflow_uuid, operation_index').all(),
    };
  } finally {
    db.close();
  }
}

/** What `attempt` failed with, as `Name`; it must fail (synchronously or by rejecting). */
async function failure(attempt: () => unknown): Promise<string> {
  try {
    await attempt();
  } catch (error) {
    return (error as Error).name;
  }
  throw new Error(`Expected the call to fail: ${attempt.toString()}`);
}

const cyclic: Record<string, unknown> = {};
cyclic.self = cyclic;

/** Stream calls with bad arguments, from a workflow and from a step; reports how each failed. */
const badCalls = registerStep('streamsInput.badCalls', async (ctxt: StepContext) => {
  const write = ctxt.writeStream.bind(ctxt) as (key: unknown, value: unknown) => Promise<void>;
  return [
    await failure(() => write(42, 'x')),
    await failure(() => write('', 'x')),
    await failure(() => write(null, 'x')),
    await failure(() => write('k', () => 'a function')),
    await failure(() => write('k', 'x'.repeat(2048))),
  ];
});

const hostile = registerWorkflow('streamsInput.hostile', async (ctxt: WorkflowContext) => {
  const write = ctxt.writeStream.bind(ctxt) as (key: unknown, value: unknown) => Promise<void>;
  const close = ctxt.closeStream.bind(ctxt) as (key: unknown) => Promise<void>;
  const read = ctxt.readStream.bind(ctxt) as (uuid: unknown, key: unknown, options?: unknown) => AsyncIterableIterator<unknown>;
  const inWorkflow = [
    await failure(() => write(42, 'x')),
    await failure(() => write({ key: 'k' }, 'x')),
    await failure(() => write('', 'x')),
    await failure(() => write('k', Symbol('no'))),
    await failure(() => write('k', cyclic)),
    await failure(() => write('k', 'x'.repeat(2048))),
    await failure(() => close(7)),
    await failure(() => close(undefined)),
    await failure(() => read('other', 3)),
    await failure(() => read(null, 'k')),
    await failure(() => read('other', 'k', { fromOffset: -1 })),
    await failure(() => read('other', 'k', { fromOffset: 0.5 })),
    await failure(() => read('other', 'k', { timeoutSeconds: -1 })),
    await failure(() => read('other', 'k', 'soon')),
  ];
  const inStep = await ctxt.runStep(badCalls);
  return { inWorkflow, inStep };
});

describe('stream calls with bad input write nothing', () => {
  test('from a workflow and a step: typed errors, and no stream row or operation for any of them', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database, maxPayloadBytes: 1024 });
    const handle = await engine.startWorkflow(hostile, { workflowUUID: 'hostile-1' });
    expect(await handle.getResult()).toEqual({
      inWorkflow: [
        'TypeError', 'TypeError', 'TypeError', 'SerializationError', 'SerializationError', 'PayloadTooLargeError',
        'TypeError', 'TypeError', 'TypeError', 'TypeError', 'RangeError', 'RangeError', 'RangeError', 'TypeError',
      ],
      inStep: ['TypeError', 'TypeError', 'TypeError', 'SerializationError', 'PayloadTooLargeError'],
    });
    // Only the step itself was recorded; no stream has a row.
    const rows = storedRows(database) as { streams: unknown[]; operations: { kind: string }[] };
    expect(rows.streams).toEqual([]);
    expect(rows.operations.map((operation) => operation.kind)).toEqual(['step']);
    await engine.close();
  });

  test('on the engine: readStream and listStreams refuse bad uuids, keys, offsets and timeouts at the call', async () => {
    const database = tempDatabasePath();
    const engine: Engine = await openTestEngine({ database });
    const before = storedRows(database);
    const read = engine.readStream.bind(engine) as (uuid: unknown, key: unknown, options?: unknown) => AsyncIterableIterator<unknown>;
    const list = engine.listStreams.bind(engine) as (uuid: unknown) => Promise<unknown>;
    const messages: string[] = [];
    for (const attempt of [
      () => read(42, 'k'),
      () => read('', 'k'),
      () => read('u', 42),
      () => read('u', ['k']),
      () => read('u', 'k', { fromOffset: -1 }),
      () => read('u', 'k', { fromOffset: '1' }),
      () => read('u', 'k', { fromOffset: Infinity }),
      () => read('u', 'k', { timeoutSeconds: NaN }),
      () => read('u', 'k', { timeoutSeconds: '5' }),
      () => read('u', 'k', null),
    ]) {
      // Thrown at the call, before any iteration: nothing waits and nothing is read.
      expect(attempt).toThrow();
      try {
        attempt();
      } catch (error) {
        messages.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
    }
    expect(messages).toEqual([
      'TypeError: Expected `workflowUUID` to be a non-empty string, got `42` (number)',
      'TypeError: Expected `workflowUUID` to be a non-empty string, got `""` (string)',
      'TypeError: Expected `key` to be a non-empty string, got `42` (number)',
      'TypeError: Expected `key` to be a non-empty string, got `k` (array)',
      'RangeError: Expected `fromOffset` to be an integer >= 0, got `-1` (number)',
      'TypeError: Expected `fromOffset` to be an integer >= 0, got `"1"` (string)',
      'RangeError: Expected `fromOffset` to be an integer >= 0, got `Infinity` (number)',
      'RangeError: Expected `timeoutSeconds` to be a finite number >= 0, got `NaN` (number)',
      'TypeError: Expected `timeoutSeconds` to be a finite number >= 0, got `"5"` (string)',
      'TypeError: Expected `options` to be an object like { fromOffset, timeoutSeconds } or undefined, got `null` (null)',
    ]);
    await expect(list('')).rejects.toBeInstanceOf(TypeError);
    await expect(list(undefined)).rejects.toBeInstanceOf(TypeError);
    expect(storedRows(database)).toEqual(before);
    await engine.close();
  });
});
