// Hostile and bad input: every call gets a typed error (a DurabliteError subclass, or TypeError /
// RangeError for a bad argument) and leaves what was committed before exactly as it was.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  Client,
  DatabaseOpenError,
  DurabliteError,
  EngineClosedError,
  PayloadTooLargeError,
  registerStep,
  registerWorkflow,
  SchemaVersionError,
  SerializationError,
  StorageError,
  StorageFullError,
  Workflow,
  WorkflowContextError,
  type Engine,
  type EngineWarning,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { SCHEMA_VERSION } from '../lib/store/migrations';
import { openTestEngine as openTrackedEngine, tempDatabasePath, tsxLoader, watchOpenedConnections } from './helpers';
import { blockedInRecv } from './wait-helpers';

let badInputsTried = 0;

afterAll(() => {
  console.log(`input.hostile: ${badInputsTried} bad inputs tried, each refused with a typed error, committed data left intact`);
});

/** What a call failed with (it must fail), counted as one bad input tried. */
async function refusal(attempt: () => unknown): Promise<Error> {
  badInputsTried++;
  try {
    await attempt();
  } catch (error) {
    return error as Error;
  }
  throw new Error(`Expected the call to fail, but it succeeded: ${attempt.toString()}`);
}

/** Expects `attempt` to fail with an instance of `expected` (and `code`, when given). */
async function expectRefused(attempt: () => unknown, expected: new (...args: any[]) => Error, code?: string): Promise<Error> {
  const error = await refusal(attempt);
  expect(error).toBeInstanceOf(expected);
  if (code !== undefined) expect(error).toMatchObject({ code });
  return error;
}

/** The file of each engine these tests opened: its rows are read through a connection of the test's own. */
const databaseOf = new WeakMap<Engine, string>();

/** Opens a tracked engine (see helpers.ts) on `database`, by default a new temporary file. */
async function openTestEngine(options: Parameters<typeof openTrackedEngine>[0] = {}): Promise<Engine> {
  const database = options.database ?? tempDatabasePath();
  const engine = await openTrackedEngine({ ...options, database });
  databaseOf.set(engine, database);
  return engine;
}

/** Every committed row of the engine's tables, as stored. */
function storedRows(engine: Engine): Record<string, unknown[]> {
  const db = new Database(databaseOf.get(engine)!, { readonly: true });
  try {
    const rows = (sql: string): unknown[] => db.prepare(sql).all();
    return {
      workflows: rows('SELECT * FROM workflows ORDER BY workflow_uuid'),
      operations: rows('SELECT * FROM operations ORDER BY workflow_uuid, operation_index'),
      events: rows('SELECT * FROM events ORDER BY event_id'),
      messages: rows('SELECT * FROM messages ORDER BY message_id'),
    };
  } finally {
    db.close();
  }
}

/** The rows of `rows` that belong to workflow `workflowUUID` (its own, its events, its messages). */
function rowsOfWorkflow(rows: Record<string, unknown[]>, workflowUUID: string): Record<string, unknown[]> {
  const mine = (row: unknown) => {
    const record = row as { workflow_uuid?: string; destination_uuid?: string };
    return record.workflow_uuid === workflowUUID || record.destination_uuid === workflowUUID;
  };
  return Object.fromEntries(Object.entries(rows).map(([table, list]) => [table, list.filter(mine)]));
}

function rowsOf(engine: Engine, workflowUUID: string): Record<string, unknown[]> {
  return rowsOfWorkflow(storedRows(engine), workflowUUID);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// --- committed data every test starts from ---------------------------------------------------------

/** Publishes an event, then waits on 'inbox'; a message on 'other' stays queued beside it. */
const keeper = registerWorkflow('hostile.keeper', async (ctxt: WorkflowContext, greeting: string) => {
  await ctxt.setEvent('greeting', greeting);
  return ctxt.recv<string>('inbox', 600);
});

/** Starts `kept`, waits until it is blocked and its queue holds one message; returns the rows. */
async function seed(engine: Engine): Promise<Record<string, unknown[]>> {
  await engine.startWorkflow(keeper, { workflowUUID: 'kept' }, 'hello');
  await blockedInRecv(engine, 'kept', 'inbox');
  await engine.send('kept', 'queued, not consumed', 'other', 'seed-key');
  return storedRows(engine);
}

// --- bad values ------------------------------------------------------------------------------------

function cycle(): unknown {
  const node: Record<string, unknown> = { name: 'loop' };
  node.self = node;
  return node;
}

const unserializable: [string, () => unknown][] = [
  ['a function', () => () => 'behaviour'],
  ['a symbol', () => Symbol('token')],
  ['a cycle', cycle],
  ['a function nested in data', () => ({ order: { id: 7, callback() {} } })],
  ['a symbol in an array', () => ['fine', Symbol.iterator]],
  ['a WeakMap', () => new WeakMap()],
  ['a Promise', () => Promise.resolve(1)],
];

/** What workflows and steps return is awaited: a returned Promise is unwrapped, not refused. */
const unserializableResults = unserializable.filter(([label]) => label !== 'a Promise');

const badStrings: [string, unknown][] = [
  ['an empty string', ''],
  ['a number', 42],
  ['an object', { id: 'x' }],
  ['an array', ['x']],
  ['a boolean', true],
  ['a symbol', Symbol('x')],
  // No store keeps these in a name, key or topic (PostgreSQL's text): refused on every store alike.
  ['a string with a NUL', 'a\u0000b'],
  ['an unpaired surrogate', 'x\uD800'],
];

/** Topics and keys: undefined and null mean "none" and are fine; these are not. */
const badTopics = badStrings;
/** UUIDs and event keys may not be left out either. */
const badRequiredStrings: [string, unknown][] = [...badStrings, ['null', null], ['undefined', undefined]];

const badTimeouts: [string, unknown, new (...args: any[]) => Error][] = [
  ['negative', -1, RangeError],
  ['NaN', NaN, RangeError],
  ['Infinity', Infinity, RangeError],
  ['-Infinity', -Infinity, RangeError],
  ['a string', '5', TypeError],
  ['null', null, TypeError],
  ['an object', { seconds: 5 }, TypeError],
  ['a bigint', 5n, TypeError],
];

// --- workflow-side attempts --------------------------------------------------------------------------

/** What a workflow-side attempt failed with: error class name and code. */
interface Failure {
  attempt: string;
  name: string;
  code: string | null;
}

/** Attempts a workflow makes, by name, since bad values cannot travel as workflow inputs. */
const attempts = new Map<string, (ctxt: WorkflowContext) => Promise<unknown>>();

const child = registerWorkflow('hostile.child', async (_ctxt: WorkflowContext, input: unknown) => input);
const returnValue = registerStep('hostile.returnValue', (_ctxt: StepContext, id: number) => valuesForSteps[id]!());
const valuesForSteps: (() => unknown)[] = [];

/** How each attempter workflow's attempts failed (kept here: it may be larger than maxPayloadBytes). */
const failuresOf = new Map<string, Failure[]>();

/** Runs the named attempts one after the other, each expected to fail; notes how each failed. */
const attempter = registerWorkflow('hostile.attempter', async (ctxt: WorkflowContext, names: string[]) => {
  const failures: Failure[] = [];
  failuresOf.set(ctxt.workflowUUID, failures);
  for (const name of names) {
    try {
      await attempts.get(name)!(ctxt);
      failures.push({ attempt: name, name: 'none: it succeeded', code: null });
    } catch (error) {
      failures.push({ attempt: name, name: (error as Error).name, code: error instanceof DurabliteError ? error.code : null });
    }
  }
  // One good operation after the bad ones: it gets the index the bad ones never took.
  await ctxt.setEvent('survived', names.length);
  return failures.length;
});

/** Registers `run` under a unique name and returns the name. */
function attempt(name: string, run: (ctxt: WorkflowContext) => Promise<unknown>): string {
  attempts.set(name, run);
  return name;
}

/** Runs `names` in a fresh attempter workflow; each counts as one bad input. */
async function runAttempts(engine: Engine, workflowUUID: string, names: string[]): Promise<Failure[]> {
  badInputsTried += names.length;
  await (await engine.startWorkflow(attempter, { workflowUUID }, names)).getResult();
  return failuresOf.get(workflowUUID)!;
}

// --- the tests -----------------------------------------------------------------------------------------

describe('unserializable payloads are refused with SerializationError', () => {
  test.each(unserializable)('a handler send of %s stores nothing', async (_label, value) => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    await expectRefused(() => engine.send('kept', value(), 'inbox'), SerializationError, 'SERIALIZATION_FAILED');
    await expectRefused(() => engine.send('kept', value(), 'inbox', 'with-a-key'), SerializationError);
    expect(storedRows(engine)).toEqual(before);
    // The key of the refused send was not spent.
    await engine.send('kept', 'now serializable', 'inbox', 'with-a-key');
    expect(await engine.retrieveWorkflow('kept').getResult()).toBe('now serializable');
    await engine.close();
  });

  test.each(unserializable)('workflow inputs of %s start nothing', async (_label, value) => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    await expectRefused(() => engine.startWorkflow(child, { workflowUUID: 'never-started' }, value()), SerializationError);
    expect(storedRows(engine)).toEqual(before);
    expect(await engine.retrieveWorkflow('never-started').getStatus()).toBeNull();
    await engine.close();
  });

  test('inside a workflow, send, setEvent, child inputs and workflow results refuse them and record nothing', async () => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    const names = unserializable.flatMap(([label, value]) => [
      attempt(`send ${label}`, (ctxt) => ctxt.send('kept', value(), 'inbox')),
      attempt(`setEvent ${label}`, (ctxt) => ctxt.setEvent('bad', value())),
      attempt(`child input ${label}`, (ctxt) => ctxt.startChildWorkflow(child, value())),
    ]);
    const failures = await runAttempts(engine, 'attempts-serialization', names);
    expect(failures).toEqual(names.map((name) => ({ attempt: name, name: 'SerializationError', code: 'SERIALIZATION_FAILED' })));
    // None of them took an operation index: the one good setEvent is operation #0.
    expect(rowsOf(engine, 'attempts-serialization').operations).toEqual([
      expect.objectContaining({ operation_index: 0, kind: 'setEvent', error: null }),
    ]);
    expect(await engine.listEvents('attempts-serialization')).toEqual({ survived: names.length });
    expect(storedRows(engine).messages).toEqual(before.messages);

    // A workflow whose result cannot be stored ends in ERROR with SerializationError.
    for (const [label, value] of unserializableResults) {
      const returning = registerWorkflow(`hostile.returns ${label}`, async () => value());
      const handle = await engine.startWorkflow(returning, { workflowUUID: `returns ${label}` });
      await expectRefused(() => handle.getResult(), SerializationError);
      expect((await handle.getStatus())?.status).toBe('ERROR');
    }
    expect(rowsOf(engine, 'kept')).toEqual(rowsOfWorkflow(before, 'kept'));
    await engine.close();
  });

  test('a step result that cannot be stored is recorded as the step failing with SerializationError', async () => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    const names = unserializableResults.map(([label, value]) => {
      valuesForSteps.push(value);
      const id = valuesForSteps.length - 1;
      return attempt(`step returns ${label}`, (ctxt) => ctxt.runStep(returnValue, id));
    });
    const failures = await runAttempts(engine, 'attempts-step-results', names);
    expect(failures).toEqual(names.map((name) => ({ attempt: name, name: 'SerializationError', code: 'SERIALIZATION_FAILED' })));
    const operations = await engine.listOperations('attempts-step-results');
    expect(operations.map((operation) => [operation.kind, operation.error?.name ?? null])).toEqual([
      ...names.map(() => ['step', 'SerializationError']),
      ['setEvent', null],
    ]);
    expect(storedRows(engine).messages).toEqual(before.messages);
    await engine.close();
  });
});

describe('payloads over maxPayloadBytes are refused with PayloadTooLargeError', () => {
  const limitBytes = 1024;
  // 400 characters but 1,200 bytes in UTF-8: the limit counts bytes.
  const oversized: [string, () => unknown][] = [
    ['an ASCII string of 2,000 bytes', () => 'x'.repeat(2000)],
    ['400 euro signs (1,200 bytes)', () => '€'.repeat(400)],
    ['an object of many small fields', () => Object.fromEntries(Array.from({ length: 200 }, (_, index) => [`field${index}`, index]))],
    ['a Buffer of 1,000 bytes (base64 grows it)', () => Buffer.alloc(1000, 7)],
  ];

  test.each(oversized)('%s: handler send and workflow inputs store nothing', async (_label, value) => {
    const engine = await openTestEngine({ maxPayloadBytes: limitBytes });
    const before = await seed(engine);
    const error = await expectRefused(() => engine.send('kept', value(), 'inbox', 'big-key'), PayloadTooLargeError, 'PAYLOAD_TOO_LARGE');
    expect(error).toMatchObject({ limitBytes });
    expect((error as PayloadTooLargeError).sizeBytes).toBeGreaterThan(limitBytes);
    await expectRefused(() => engine.startWorkflow(child, { workflowUUID: 'too-big' }, value()), PayloadTooLargeError);
    expect(storedRows(engine)).toEqual(before);
    await engine.close();
  });

  test('inside a workflow, send, setEvent, child inputs and step results over the limit are refused', async () => {
    const engine = await openTestEngine({ maxPayloadBytes: limitBytes });
    const before = await seed(engine);
    const names = oversized.flatMap(([label, value]) => {
      valuesForSteps.push(value);
      const id = valuesForSteps.length - 1;
      return [
        attempt(`big send ${label}`, (ctxt) => ctxt.send('kept', value(), 'inbox')),
        attempt(`big setEvent ${label}`, (ctxt) => ctxt.setEvent('big', value())),
        attempt(`big child input ${label}`, (ctxt) => ctxt.startChildWorkflow(child, value())),
        attempt(`big step result ${label}`, (ctxt) => ctxt.runStep(returnValue, id)),
      ];
    });
    const failures = await runAttempts(engine, 'attempts-size', names);
    expect(failures.map((failure) => failure.name)).toEqual(names.map(() => 'PayloadTooLargeError'));
    // Only the steps left records (their failure); sends, events and children left none.
    expect((await engine.listOperations('attempts-size')).map((operation) => operation.kind)).toEqual([
      ...oversized.map(() => 'step'),
      'setEvent',
    ]);
    expect(await engine.listEvents('attempts-size')).toEqual({ survived: names.length });
    expect(storedRows(engine).messages).toEqual(before.messages);
    expect(await engine.listWorkflows()).toHaveLength(2);
    await engine.close();
  });

  test.each([0, -1, 1.5, '1024', NaN])('maxPayloadBytes of %p is refused when opening', async (value) => {
    const error = await refusal(() => openTestEngine({ maxPayloadBytes: value as number }));
    expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
    expect(error.message).toMatch(/^Expected `maxPayloadBytes` to be an integer >= 1, got /);
  });
});

describe('keys, topics and uuids of the wrong type or empty are refused with TypeError', () => {
  test('on the engine: send, getEvent, handles, listings and start options', async () => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    for (const [, bad] of badRequiredStrings) {
      await expectRefused(() => engine.send(bad as string, 'm', 'inbox'), TypeError);
      await expectRefused(() => engine.getEvent(bad as string, 'greeting', 0), TypeError);
      await expectRefused(() => engine.getEvent('kept', bad as string, 0), TypeError);
      await expectRefused(() => engine.retrieveWorkflow(bad as string), TypeError);
      await expectRefused(() => engine.listEvents(bad as string), TypeError);
      await expectRefused(() => engine.listMessages(bad as string), TypeError);
      await expectRefused(() => engine.listOperations(bad as string), TypeError);
    }
    for (const [, bad] of badStrings) {
      await expectRefused(() => engine.startWorkflow(child, { workflowUUID: bad as string }, 1), TypeError);
    }
    for (const [, bad] of badTopics) {
      await expectRefused(() => engine.send('kept', 'm', bad as string), TypeError);
      await expectRefused(() => engine.send('kept', 'm', 'inbox', bad as string), TypeError); // idempotency key
      await expectRefused(() => engine.listMessages('kept', bad as string), TypeError);
    }
    for (const options of ['kept', 42, true]) {
      await expectRefused(() => engine.startWorkflow(child, options as never, 1), TypeError);
    }
    // Phrased in the house style, naming the argument and what it got.
    const error = await refusal(() => engine.send('kept', 'm', ''));
    expect(error.message).toBe('Expected `topic` to be a non-empty string, or undefined/null for no topic, got `""` (string)');
    expect(storedRows(engine)).toEqual(before);
    await engine.close();
  });

  test('inside a workflow: send, recv, setEvent and getEvent, with no operation recorded', async () => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    const names = [
      ...badRequiredStrings.flatMap(([label, bad]) => [
        attempt(`send to ${label}`, (ctxt) => ctxt.send(bad as string, 'm')),
        attempt(`setEvent key ${label}`, (ctxt) => ctxt.setEvent(bad as string, 'v')),
        attempt(`getEvent of workflow ${label}`, (ctxt) => ctxt.getEvent(bad as string, 'greeting', 0)),
        attempt(`getEvent key ${label}`, (ctxt) => ctxt.getEvent('kept', bad as string, 0)),
      ]),
      ...badTopics.flatMap(([label, bad]) => [
        attempt(`send on topic ${label}`, (ctxt) => ctxt.send('kept', 'm', bad as string)),
        attempt(`recv on topic ${label}`, (ctxt) => ctxt.recv(bad as string, 0)),
      ]),
    ];
    const failures = await runAttempts(engine, 'attempts-arguments', names);
    expect(failures).toEqual(names.map((name) => ({ attempt: name, name: 'TypeError', code: null })));
    expect((await engine.listOperations('attempts-arguments')).map((operation) => operation.kind)).toEqual(['setEvent']);
    expect(storedRows(engine).messages).toEqual(before.messages);
    await engine.close();
  });
});

describe('invalid timeouts are refused with RangeError or TypeError', () => {
  test.each(badTimeouts)('%s, for getEvent, recv and sleep, records nothing', async (label, bad, expected) => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    const error = await expectRefused(() => engine.getEvent('kept', 'greeting', bad as number), expected);
    expect(error.message).toMatch(/^Expected `timeoutSeconds` to be a finite number >= 0, got /);
    expect(storedRows(engine)).toEqual(before);
    const names = [
      attempt(`recv timeout ${label}`, (ctxt) => ctxt.recv('inbox', bad as number)),
      attempt(`getEvent timeout ${label}`, (ctxt) => ctxt.getEvent('kept', 'greeting', bad as number)),
      attempt(`sleep ${label}`, (ctxt) => ctxt.sleep(bad as number)),
    ];
    const failures = await runAttempts(engine, `attempts-timeout-${label}`, names);
    expect(failures.map((failure) => failure.name)).toEqual(names.map(() => expected.name));
    expect((await engine.listOperations(`attempts-timeout-${label}`)).map((operation) => operation.kind)).toEqual(['setEvent']);
    await engine.close();
  });

  test('sleep() with no duration is refused (it has no default)', async () => {
    const engine = await openTestEngine();
    const failures = await runAttempts(engine, 'attempts-sleep-undefined', [
      attempt('sleep without seconds', (ctxt) => (ctxt.sleep as (seconds?: number) => Promise<void>)()),
    ]);
    expect(failures).toEqual([{ attempt: 'sleep without seconds', name: 'TypeError', code: null }]);
    await engine.close();
  });
});

describe('workflow-only calls where there is no workflow are refused with WorkflowContextError', () => {
  const workflowOperations = ['recv', 'setEvent', 'send', 'getEvent', 'sleep', 'runStep', 'startChildWorkflow', 'childWorkflow'] as const;

  /** Calls each workflow operation on its StepContext (as plain JavaScript could) and reports how each failed. */
  const callsOperationsOnItsContext = registerStep('hostile.callsOperations', async (ctxt: StepContext) => {
    const loose = ctxt as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const outcomes: Record<string, string> = {};
    for (const operation of workflowOperations) {
      try {
        await loose[operation]!('kept', 'value');
        outcomes[operation] = 'succeeded';
      } catch (error) {
        outcomes[operation] = `${(error as Error).name} ${(error as DurabliteError).code}`;
      }
    }
    try {
      (ctxt as unknown as { invoke(target: object): unknown }).invoke(Object);
      outcomes.invoke = 'succeeded';
    } catch (error) {
      outcomes.invoke = `${(error as Error).name} ${(error as DurabliteError).code}`;
    }
    outcomes.recvIsAbsent = String(!('recv' in ctxt) && !Object.keys(ctxt).includes('recv'));
    return outcomes;
  });
  const setsEventFromStep = registerStep('hostile.setsEventFromStep', async (ctxt: StepContext) => {
    await (ctxt as unknown as WorkflowContext).setEvent('from-step', 1);
    return 'unreachable';
  });
  const stepCaller = registerWorkflow('hostile.stepCaller', async (ctxt: WorkflowContext) => {
    const outcomes = await ctxt.runStep(callsOperationsOnItsContext);
    let uncaught = 'none';
    try {
      await ctxt.runStep(setsEventFromStep);
    } catch (error) {
      uncaught = `${(error as Error).name} ${(error as DurabliteError).code} ${(error as Error).message}`;
    }
    return { outcomes, uncaught };
  });

  test('from a step: every workflow operation on a StepContext fails clearly, and nothing is recorded by it', async () => {
    const engine = await openTestEngine();
    const before = await seed(engine);
    badInputsTried += workflowOperations.length + 2;
    const { outcomes, uncaught } = await (await engine.startWorkflow(stepCaller, { workflowUUID: 'step-caller' })).getResult();
    expect(outcomes).toEqual({
      ...Object.fromEntries(workflowOperations.map((operation) => [operation, 'WorkflowContextError NOT_IN_WORKFLOW'])),
      invoke: 'WorkflowContextError NOT_IN_WORKFLOW',
      recvIsAbsent: 'true',
    });
    expect(uncaught).toBe(
      'WorkflowContextError NOT_IN_WORKFLOW `setEvent` can only be called from a workflow, not from a step (durable operations belong to the workflow that calls the step). Move the call into the workflow function.',
    );
    expect(await engine.listEvents('step-caller')).toEqual({});
    expect(storedRows(engine).messages).toEqual(before.messages);
    await engine.close();
  });

  test('from outside workflows: recv, setEvent, sleep... on an Engine or a Client fail clearly', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database });
    const before = await seed(engine);
    const client = await Client.open({ database });
    try {
      for (const handle of [engine, client]) {
        const loose = handle as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        for (const operation of ['recv', 'setEvent', 'sleep', 'runStep', 'startChildWorkflow', 'childWorkflow']) {
          const error = await expectRefused(() => loose[operation]!('inbox', 1), WorkflowContextError, 'NOT_IN_WORKFLOW');
          expect(error.message).toContain(`\`${operation}\` can only be called from a workflow, not from code outside workflows`);
          expect(operation in handle).toBe(false);
        }
      }
    } finally {
      await client.close();
    }
    expect(storedRows(engine)).toEqual(before);
    await engine.close();
  });

  test('from outside workflows: a WorkflowContext kept after its workflow returned refuses every operation', async () => {
    let kept: WorkflowContext | undefined;
    const leaky = registerWorkflow('hostile.leaky', async (ctxt: WorkflowContext) => {
      kept = ctxt;
      return 'returned';
    });
    const engine = await openTestEngine();
    await seed(engine);
    expect(await (await engine.startWorkflow(leaky, { workflowUUID: 'leaky' })).getResult()).toBe('returned');
    await engine.send('leaky', 'for nobody', 'inbox');
    const before = storedRows(engine);
    const context = kept!;
    const calls: [string, () => Promise<unknown>][] = [
      ['recv', () => context.recv('inbox', 0)],
      ['setEvent', () => context.setEvent('late', 1)],
      ['send', () => context.send('kept', 'late', 'inbox')],
      ['getEvent', () => context.getEvent('kept', 'greeting', 0)],
      ['sleep', () => context.sleep(0)],
      ['runStep', () => context.runStep(returnValue, 0)],
      ['startChildWorkflow', () => context.startChildWorkflow(child, 1)],
    ];
    for (const [operation, call] of calls) {
      const error = await expectRefused(call, WorkflowContextError, 'NOT_IN_WORKFLOW');
      expect(error.message).toContain(`\`${operation}\` can only be called from a workflow, not from code running after workflow "leaky" returned`);
    }
    // The message stays queued for the finished workflow; nothing was recorded for it.
    expect(storedRows(engine)).toEqual(before);
    expect((await engine.listMessages('leaky')).map((message) => message.consumed)).toEqual([false]);
    await engine.close();
  });
});

describe('a closed engine refuses every call with EngineClosedError', () => {
  class HostileShop {
    @Workflow() static async order(_ctxt: WorkflowContext, item: string): Promise<string> {
      return item;
    }
  }

  test('starts, sends, reads and handles fail; the file keeps what was committed', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database });
    const before = await seed(engine);
    const handle = engine.retrieveWorkflow('kept');
    await engine.close();
    const calls: (() => unknown)[] = [
      () => engine.startWorkflow(child, { workflowUUID: 'late' }, 1),
      () => engine.invoke(HostileShop).order('pen'),
      () => engine.send('kept', 'late', 'inbox'),
      () => engine.send('kept', 'late', 'inbox', 'late-key'),
      () => engine.getEvent('kept', 'greeting', 0),
      () => engine.getEvent('kept', 'greeting', 10),
      () => engine.listEvents('kept'),
      () => engine.listMessages('kept'),
      () => engine.listWorkflows(),
      () => engine.listOperations('kept'),
      () => handle.getStatus(),
      () => handle.getResult(),
      () => engine.retrieveWorkflow('kept').getResult(),
    ];
    for (const call of calls) await expectRefused(call, EngineClosedError, 'ENGINE_CLOSED');
    await engine.close(); // idempotent

    const reopened = await openTestEngine({ database, recover: false });
    expect(storedRows(reopened)).toEqual(before);
    await reopened.close();
  });
});

describe('database files that cannot be used are refused before anything is written', () => {
  test('a path in a missing folder fails with DatabaseOpenError and creates no folder', async () => {
    const folder = path.join(path.dirname(tempDatabasePath()), 'missing', 'deeper');
    const error = await expectRefused(() => openTestEngine({ database: path.join(folder, 'app.db') }), DatabaseOpenError, 'DATABASE_OPEN_FAILED');
    expect(error.message).toContain('does not exist');
    expect(fs.existsSync(path.dirname(folder))).toBe(false);
    await expectRefused(() => Client.open({ database: path.join(folder, 'app.db') }), DatabaseOpenError);
  });

  test.each([
    ['a text file', Buffer.from('these are my notes, not a database\n'.repeat(200))],
    ['random bytes', crypto.randomBytes(8192)],
    ['a truncated SQLite header', Buffer.from('SQLite format 3\u0000')],
  ])('%s fails with DatabaseOpenError and is left byte for byte as it was', async (_label, content) => {
    const database = tempDatabasePath();
    fs.writeFileSync(database, content);
    const error = await expectRefused(() => openTestEngine({ database }), DatabaseOpenError, 'DATABASE_OPEN_FAILED');
    expect(error.message).toMatch(/not a SQLite database|file is not a database|malformed/);
    await expectRefused(() => Client.open({ database }), DatabaseOpenError);
    expect(fs.readFileSync(database).equals(content)).toBe(true);
  });

  test('a folder given as the database fails with DatabaseOpenError', async () => {
    const folder = path.dirname(tempDatabasePath());
    await expectRefused(() => openTestEngine({ database: folder }), DatabaseOpenError);
  });

  test('a database of a newer schema fails with SchemaVersionError and is left unmodified', async () => {
    const database = tempDatabasePath();
    const engine = await openTestEngine({ database });
    const before = await seed(engine);
    await engine.close();
    const raw = new Database(database);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const fingerprint = sha256(database);

    const error = await expectRefused(() => openTestEngine({ database }), SchemaVersionError, 'SCHEMA_TOO_NEW');
    expect(error).toMatchObject({ foundVersion: SCHEMA_VERSION + 1, supportedVersion: SCHEMA_VERSION });
    await expectRefused(() => Client.open({ database }), SchemaVersionError);
    expect(sha256(database)).toBe(fingerprint);

    // Once a durablite that knows the schema opens it (simulated by restoring the version), it is all there.
    const restore = new Database(database);
    restore.pragma(`user_version = ${SCHEMA_VERSION}`);
    restore.close();
    const reopened = await openTestEngine({ database, recover: false });
    expect(storedRows(reopened)).toEqual(before);
    await reopened.close();
  });
});

describe('a read-only database is refused with DatabaseOpenError and left as it was', () => {
  // Tests run as root, whom file modes do not stop: the engine then runs in a child process that
  // loads its code as root and then becomes the unprivileged user "nobody", exactly as a service
  // account without write permission would (nobody may not read this checkout, in a 0700 folder).
  // Run as any other user, the child simply runs as that user, whom chmod does stop.
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const NOBODY = 65534;
  const publicFolders: string[] = [];
  afterAll(() => {
    for (const folder of publicFolders) fs.rmSync(folder, { recursive: true, force: true });
  });

  function openInChild(database: string): Promise<{ opened: boolean; name?: string; code?: string; message?: string; send?: unknown }> {
    return new Promise((resolve, reject) => {
      const args = [database, ...(asRoot ? [String(NOBODY)] : [])];
      const child = spawn(process.execPath, ['--import', tsxLoader, path.join(__dirname, 'fixtures', 'open-readonly.ts'), ...args], {
        cwd: path.join(__dirname, '..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', () => {
        const line = stdout.split('\n').find((text) => text.startsWith('outcome '));
        if (line === undefined) reject(new Error(`open-readonly printed no outcome.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        else resolve(JSON.parse(line.slice('outcome '.length)));
      });
    });
  }

  /** Whether every folder from the root down to `folder` lets other users through. */
  function traversableByOthers(folder: string): boolean {
    for (let at = path.resolve(folder); ; at = path.dirname(at)) {
      if ((fs.statSync(at).mode & 0o001) === 0) return false;
      if (path.dirname(at) === at) return true;
    }
  }

  /**
   * A database with committed data, closed. As root, it must be reachable by "nobody": under the
   * temporary folder when that is open to others, else under /tmp (a private TMPDIR).
   */
  async function committedDatabase(): Promise<{ database: string; before: Record<string, unknown[]> }> {
    let database = tempDatabasePath();
    if (asRoot && !traversableByOthers(path.dirname(path.dirname(database)))) {
      const folder = fs.mkdtempSync(path.join('/tmp', 'durablite-test-readonly-'));
      publicFolders.push(folder);
      database = path.join(folder, 'test.db');
    }
    const engine = await openTestEngine({ database });
    const before = await seed(engine);
    await engine.close();
    // Leave only the main file, as a cleanly closed database is (the -wal was checkpointed away).
    for (const side of ['-owner.lock', '-wal', '-shm']) fs.rmSync(`${database}${side}`, { force: true });
    return { database, before };
  }

  test.each([
    ['the file and its folder are read-only (0444, 0555)', 0o555],
    ['the file is read-only (0444) in a writable folder', 0o777],
  ])('%s', async (_label, folderMode) => {
    const { database, before } = await committedDatabase();
    const folder = path.dirname(database);
    fs.chmodSync(database, 0o444);
    fs.chmodSync(folder, folderMode);
    const fingerprint = sha256(database);
    badInputsTried++;
    const outcome = await openInChild(database);
    fs.chmodSync(folder, 0o755);
    fs.chmodSync(database, 0o644);

    expect(outcome).toMatchObject({ opened: false, name: 'DatabaseOpenError', code: 'DATABASE_OPEN_FAILED' });
    expect(outcome.message).toContain('read-only; durablite needs to write to it');
    expect(sha256(database)).toBe(fingerprint);
    const reopened = await openTestEngine({ database, recover: false });
    expect(storedRows(reopened)).toEqual(before);
    await reopened.close();
  }, 30_000);
});

describe('the disk filling up mid-run (PRAGMA max_page_count)', () => {
  const big = (bytes: number): string => 'x'.repeat(bytes);

  /** Waits for `size`, then publishes an event that large. */
  const writer = registerWorkflow('hostile.writer', async (ctxt: WorkflowContext) => {
    const size = await ctxt.recv<number>('size', 600);
    await ctxt.setEvent('blob', big(size ?? 0));
    return 'written';
  });

  test('the failing operations reject with StorageFullError, nothing committed is lost, and it all works again once there is room', async () => {
    const database = tempDatabasePath();
    let writerWarning!: (warning: EngineWarning) => void;
    const writerWarned = new Promise<EngineWarning>((resolve) => (writerWarning = resolve));
    // max_page_count is a setting of one connection: the disk fills for the engine's own.
    const connections = watchOpenedConnections();
    const engine = await openTestEngine({ database, onWarning: (warning) => warning.workflowUUID === 'writer' && writerWarning(warning) });
    const before = await seed(engine);
    await engine.startWorkflow(writer, { workflowUUID: 'writer' });
    await blockedInRecv(engine, 'writer', 'size');
    const db = connections[0]!;
    const keptRows = rowsOf(engine, 'kept');

    // The disk is full: the file may not grow past a few more pages.
    const pages = db.pragma('page_count', { simple: true }) as number;
    const unlimited = db.pragma('max_page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 4}`);

    const full = await expectRefused(() => engine.send('kept', big(200_000), 'inbox'), StorageFullError, 'STORAGE_FULL');
    expect(full).toBeInstanceOf(StorageError);
    expect(full).toBeInstanceOf(DurabliteError);
    expect(full).toMatchObject({ storageCode: 'SQLITE_FULL' });
    expect((full as StorageFullError).sqliteCode).toBe('SQLITE_FULL'); // the deprecated alias reads the same
    expect(full.message).toContain('everything committed before is intact');
    await expectRefused(() => engine.startWorkflow(child, { workflowUUID: 'big-input' }, big(200_000)), StorageFullError);
    await expectRefused(() => engine.send('kept', big(200_000), 'inbox', 'big-key'), StorageFullError);

    // Writes that share a turn (and a transaction) with a failing one: each call that resolves is
    // stored, each call that rejects is not, whatever SQLite rolled back.
    badInputsTried++;
    const calls = [
      { payload: 'small before', call: engine.send('kept', 'small before', 'batch') },
      { payload: 'huge', call: engine.send('kept', big(300_000), 'batch') },
      { payload: 'small after', call: engine.send('kept', 'small after', 'batch') },
    ];
    const settled = await Promise.allSettled(calls.map(({ call }) => call));
    const label = (message: unknown): unknown => (typeof message === 'string' && message.length > 1000 ? 'huge' : message);
    const stored = (await engine.listMessages('kept', 'batch')).map((message) => label(message.message));
    expect(settled[1]!.status).toBe('rejected');
    calls.forEach(({ payload }, index) => {
      const result = settled[index]!;
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(StorageError);
      expect({ payload, stored: stored.includes(payload) }).toEqual({ payload, stored: result.status === 'fulfilled' });
    });

    // A workflow whose operation meets the full disk: the operation is not recorded and the
    // workflow is not failed for it; it stays PENDING, and the engine keeps resuming it.
    badInputsTried++;
    await engine.send('writer', 200_000, 'size');
    const warning = await writerWarned;
    expect(warning).toMatchObject({ code: 'STORAGE_FAILED' });
    expect(warning.message).toContain('The database is full');
    expect((await engine.retrieveWorkflow('writer').getStatus())?.status).toBe('PENDING');
    expect((await engine.listOperations('writer')).map((operation) => operation.kind)).toEqual(['recv']);
    expect(await engine.listEvents('writer')).toEqual({});

    // Nothing committed was lost.
    expect(rowsOf(engine, 'kept').workflows).toEqual(keptRows.workflows);
    expect(rowsOf(engine, 'kept').events).toEqual(keptRows.events);
    expect(before.messages.every((row) => storedRows(engine).messages.some((stored) => JSON.stringify(stored) === JSON.stringify(row)))).toBe(true);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');

    // Room again: the same calls succeed, and the waiting workflow carries on.
    db.pragma(`max_page_count = ${unlimited}`);
    await engine.send('kept', big(200_000), 'bulk', 'big-key');
    const handle = await engine.startWorkflow(child, { workflowUUID: 'big-input' }, big(200_000));
    expect(await handle.getResult()).toHaveLength(200_000);
    await engine.send('kept', 'finally', 'inbox');
    expect(await engine.retrieveWorkflow('kept').getResult()).toBe('finally');
    // The workflow that met the full disk resumed in this process, from its records, and completed.
    expect(await engine.retrieveWorkflow('writer').getResult()).toBe('written');
    expect((await engine.listOperations('writer')).map((operation) => operation.kind)).toEqual(['recv', 'setEvent']);
    await engine.close();

    // After a restart everything is there.
    const reopened = await openTestEngine({ database });
    expect(reopened.recovery.resumed).not.toContain('writer');
    expect(await reopened.retrieveWorkflow('writer').getResult()).toBe('written');
    expect(((await reopened.listEvents('writer')).blob as string).length).toBe(200_000);
    expect(await reopened.getEvent('kept', 'greeting', 0)).toBe('hello');
    expect((await reopened.listMessages('kept', 'other')).map((message) => [message.message, message.consumed])).toEqual([['queued, not consumed', false]]);
    await reopened.close();
  }, 30_000);
});
