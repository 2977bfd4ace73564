import fs from 'node:fs';
import {
  Engine,
  registerStep,
  registerWorkflow,
  RegistrationError,
  Step,
  Workflow,
  WorkflowConflictError,
  WorkflowNotFoundError,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, openTestKit, tempDatabasePath, testDatabase, testOnSqlite } from './helpers';
import { blockedInRecv, countRows } from './wait-helpers';

class PaymentDeclined extends Error {
  override name = 'PaymentDeclined';
  readonly code = 'CARD_DECLINED';
}

/** How often each piece of workflow code really ran, reset before each test. */
const runs = { place: 0, quote: 0, decline: 0, approval: 0, greetStep: 0, child: 0 };
beforeEach(() => {
  for (const key of Object.keys(runs) as (keyof typeof runs)[]) runs[key] = 0;
});

class Orders {
  @Workflow() static async place(ctxt: WorkflowContext, item: string): Promise<string> {
    runs.place++;
    const price = await ctxt.invoke(Orders).quote(item);
    return `${item}@${price}`;
  }

  @Step() static async quote(_ctxt: StepContext, item: string): Promise<number> {
    runs.quote++;
    return item.length * 10;
  }

  @Workflow() static async decline(_ctxt: WorkflowContext, reason: string): Promise<string> {
    runs.decline++;
    throw new PaymentDeclined(reason);
  }

  @Workflow() static async awaitApproval(ctxt: WorkflowContext, documentName: string): Promise<string> {
    runs.approval++;
    const verdict = await ctxt.recv<string>('approval', 60);
    return `${documentName}:${verdict}`;
  }
}

const formatGreeting = registerStep('start.formatGreeting', async (_ctxt: StepContext, name: string) => {
  runs.greetStep++;
  return `hello ${name}`;
});

async function greetFunction(ctxt: WorkflowContext, name: string): Promise<string> {
  return ctxt.runStep(formatGreeting, name);
}
const greet = registerWorkflow('start.greet', greetFunction);

/** Runs the registered step, then waits for a message: lets a test close the engine in between. */
const greetThenWait = registerWorkflow('start.greetThenWait', async (ctxt: WorkflowContext, name: string) => {
  const greeting = await ctxt.runStep(formatGreeting, name);
  const punctuation = await ctxt.recv<string>('punctuation', 60);
  return `${greeting}${punctuation}`;
});

const double = registerWorkflow('start.double', async (_ctxt: WorkflowContext, value: number) => {
  runs.child++;
  return value * 2;
});

const identity = registerStep('start.identity', async (_ctxt: StepContext, value: number) => value);

class Family {
  @Workflow() static async grandchild(_ctxt: WorkflowContext, value: number): Promise<string> {
    return `grandchild of ${value}`;
  }
}

/** Starts children three ways, with a step in between so the child ids show the operation index. */
const fanOut = registerWorkflow('start.fanOut', async (ctxt: WorkflowContext, value: number) => {
  const first = await ctxt.startChildWorkflow(double, value); // operation 0
  await ctxt.runStep(identity, 1); // operation 1
  const second = await ctxt.childWorkflow(double, value + 1); // operation 2
  const third = await ctxt.invoke(Family).grandchild(value); // operation 3
  return { firstUUID: first.getWorkflowUUID(), first: await first.getResult(), second, third };
});

/** Starts one child, waits for it, then waits for a message: a test closes and reopens in between. */
const parentThenWait = registerWorkflow('start.parentThenWait', async (ctxt: WorkflowContext) => {
  const child = await ctxt.startChildWorkflow(double, 21);
  const value = await child.getResult();
  await ctxt.recv('go', 60);
  return { childUUID: child.getWorkflowUUID(), value };
});

describe('starting a workflow with a UUID that exists', () => {
  test('a second start with the same UUID runs nothing and its handle gives the recorded result', async () => {
    const engine = await openTestEngine();
    const first = await engine.invoke(Orders, 'order-1').place('book');
    expect(await first.getResult()).toBe('book@40');

    const second = await engine.invoke(Orders, 'order-1').place('pencil');
    expect(second.getWorkflowUUID()).toBe('order-1');
    expect(await second.getResult()).toBe('book@40');
    const viaStart = await engine.startWorkflow(Orders.place, { workflowUUID: 'order-1' }, 'eraser');
    expect(await viaStart.getResult()).toBe('book@40');
    expect(runs).toMatchObject({ place: 1, quote: 1 });
    await engine.close();
  });

  test('a second start while the workflow is still running joins it instead of running it again', async () => {
    const engine = await openTestEngine();
    const first = await engine.invoke(Orders, 'approval-1').awaitApproval('contract');
    await blockedInRecv(engine, 'approval-1', 'approval');
    const second = await engine.invoke(Orders, 'approval-1').awaitApproval('other');

    await engine.send('approval-1', 'approved', 'approval');
    expect(await first.getResult()).toBe('contract:approved');
    expect(await second.getResult()).toBe('contract:approved');
    expect(runs.approval).toBe(1);
    await engine.close();
  });

  test('a start with the UUID of a workflow finished before the database was reopened runs nothing', async () => {
    const database = await testDatabase();
    const before = await openTestEngine({ database });
    expect(await (await before.invoke(Orders, 'order-durable').place('book')).getResult()).toBe('book@40');
    await before.close();

    const after = await openTestEngine({ database });
    const handle = await after.invoke(Orders, 'order-durable').place('lamp');
    expect(await handle.getResult()).toBe('book@40');
    expect(runs).toMatchObject({ place: 1, quote: 1 });
    await after.close();
  });

  test('a second start of a workflow that threw rejects with the recorded error, name, message and fields preserved', async () => {
    const engine = await openTestEngine();
    const first = await engine.invoke(Orders, 'declined-1').decline('insufficient funds');
    const firstError = await first.getResult().then(() => undefined, (error: unknown) => error);
    expect(firstError).toBeInstanceOf(Error);
    expect(firstError).toMatchObject({ name: 'PaymentDeclined', message: 'insufficient funds', code: 'CARD_DECLINED' });

    const second = await engine.invoke(Orders, 'declined-1').decline('another reason');
    const secondError = await second.getResult().then(() => undefined, (error: unknown) => error);
    expect(secondError).toBeInstanceOf(Error);
    expect(secondError).toMatchObject({ name: 'PaymentDeclined', message: 'insufficient funds', code: 'CARD_DECLINED' });
    expect(runs.decline).toBe(1);
    await engine.close();
  });

  test('a UUID reused for a workflow of another name is refused with WorkflowConflictError and nothing runs', async () => {
    const engine = await openTestEngine();
    await (await engine.invoke(Orders, 'shared-1').place('book')).getResult();

    const conflict = engine.startWorkflow(Orders.decline, { workflowUUID: 'shared-1' }, 'nope');
    await expect(conflict).rejects.toBeInstanceOf(WorkflowConflictError);
    await expect(conflict).rejects.toMatchObject({
      code: 'WORKFLOW_CONFLICT',
      workflowUUID: 'shared-1',
      existingName: 'Orders.place',
      requestedName: 'Orders.decline',
    });
    expect(runs.decline).toBe(0);
    expect(await engine.retrieveWorkflow('shared-1').getStatus()).toMatchObject({ workflowName: 'Orders.place', status: 'SUCCESS' });
    await engine.close();
  });
});

describe('getStatus and getResult', () => {
  test('getStatus of a finished workflow reports SUCCESS, its name, UUID, inputs and epoch-millisecond times', async () => {
    const engine = await openTestEngine();
    const before = Date.now();
    const handle = await engine.invoke(Orders, 'status-ok').place('book');
    await handle.getResult();
    const after = Date.now();

    const status = await engine.retrieveWorkflow('status-ok').getStatus();
    expect(status).toMatchObject({
      status: 'SUCCESS',
      workflowName: 'Orders.place',
      workflowUUID: 'status-ok',
      inputs: ['book'],
      parentUUID: null,
    });
    expect(typeof status!.createdAt).toBe('number');
    expect(typeof status!.updatedAt).toBe('number');
    expect(status!.createdAt).toBeGreaterThanOrEqual(before);
    expect(status!.updatedAt).toBeGreaterThanOrEqual(status!.createdAt);
    expect(status!.updatedAt).toBeLessThanOrEqual(after);
    await engine.close();
  });

  test('getStatus reports PENDING while the workflow waits and ERROR once it threw', async () => {
    const engine = await openTestEngine();
    const waiting = await engine.invoke(Orders, 'status-pending').awaitApproval('memo');
    await blockedInRecv(engine, 'status-pending');
    expect(await waiting.getStatus()).toMatchObject({ status: 'PENDING', workflowName: 'Orders.awaitApproval', workflowUUID: 'status-pending' });

    const failing = await engine.invoke(Orders, 'status-error').decline('expired card');
    await expect(failing.getResult()).rejects.toMatchObject({ name: 'PaymentDeclined', message: 'expired card' });
    const status = await failing.getStatus();
    expect(status).toMatchObject({ status: 'ERROR', workflowName: 'Orders.decline', workflowUUID: 'status-error' });
    expect(typeof status!.createdAt).toBe('number');
    expect(status!.updatedAt).toBeGreaterThanOrEqual(status!.createdAt);

    await engine.send('status-pending', 'ok', 'approval');
    await waiting.getResult();
    await engine.close();
  });

  test('getStatus of an unknown UUID resolves to null', async () => {
    const engine = await openTestEngine();
    expect(await engine.retrieveWorkflow('no-such-workflow').getStatus()).toBeNull();
    await engine.close();
  });

  test('getResult of an unknown UUID rejects with WorkflowNotFoundError', async () => {
    const engine = await openTestEngine();
    const result = engine.retrieveWorkflow('no-such-workflow').getResult();
    await expect(result).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(result).rejects.toMatchObject({ code: 'WORKFLOW_NOT_FOUND', workflowUUID: 'no-such-workflow' });
    await engine.close();
  });

  test('retrieveWorkflow returns a handle synchronously that waits for a running workflow', async () => {
    const engine = await openTestEngine();
    await engine.invoke(Orders, 'retrieve-1').awaitApproval('plan');
    const handle = engine.retrieveWorkflow<string>('retrieve-1');
    expect(handle.getWorkflowUUID()).toBe('retrieve-1');
    const result = handle.getResult();
    await blockedInRecv(engine, 'retrieve-1');
    await engine.send('retrieve-1', 'signed', 'approval');
    expect(await result).toBe('plan:signed');
    await engine.close();
  });
});

describe('the function API', () => {
  test('registerWorkflow and registerStep return references that startWorkflow and ctxt.runStep run', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(greet, { workflowUUID: 'greet-ada' }, 'Ada');
    expect(handle.getWorkflowUUID()).toBe('greet-ada');
    expect(await handle.getResult()).toBe('hello Ada');
    expect(await handle.getStatus()).toMatchObject({ workflowName: 'start.greet', status: 'SUCCESS', inputs: ['Ada'] });
    await engine.close();
  });

  test('startWorkflow without options, or without workflowUUID, starts the workflow under a new unique UUID', async () => {
    const engine = await openTestEngine();
    const withoutOptions = await engine.startWorkflow(greet, undefined, 'Bo');
    const withEmptyOptions = await engine.startWorkflow(greet, {}, 'Cy');
    expect(withoutOptions.getWorkflowUUID()).toEqual(expect.any(String));
    expect(withoutOptions.getWorkflowUUID().length).toBeGreaterThan(0);
    expect(withEmptyOptions.getWorkflowUUID()).not.toBe(withoutOptions.getWorkflowUUID());
    expect(await withoutOptions.getResult()).toBe('hello Bo');
    expect(await withEmptyOptions.getResult()).toBe('hello Cy');
    await engine.close();
  });

  test('a step run with ctxt.runStep is recorded: after reopening it is not run again', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(greetThenWait, { workflowUUID: 'greet-durable' }, 'Ada');
    await blockedInRecv(first, 'greet-durable', 'punctuation');
    expect(runs.greetStep).toBe(1);
    await first.close();

    const second = await openTestEngine({ database });
    await blockedInRecv(second, 'greet-durable', 'punctuation');
    await second.send('greet-durable', '!', 'punctuation');
    expect(await second.retrieveWorkflow('greet-durable').getResult()).toBe('hello Ada!');
    expect(runs.greetStep).toBe(1);
    await second.close();
  });

  test('registering the same function under the same name again returns the existing reference', () => {
    expect(registerWorkflow('start.greet', greetFunction)).toBe(greet);
  });

  test('registering a different function under a taken name throws RegistrationError DUPLICATE_REGISTRATION', async () => {
    const attempts = [
      () => registerWorkflow('start.greet', async () => 'impostor'),
      () => registerStep('start.greet', async () => 'impostor'),
      () => registerStep('start.formatGreeting', async () => 'impostor'),
      () => registerWorkflow('Orders.place', async () => 'impostor'),
    ];
    for (const attempt of attempts) {
      let thrown: unknown;
      try {
        attempt();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RegistrationError);
      expect(thrown).toMatchObject({ code: 'DUPLICATE_REGISTRATION' });
    }
    expect(() => registerWorkflow('Orders.place', async () => 'impostor')).toThrow(/already registered as "Orders\.place"/);

    // The first registrations are untouched.
    const engine = await openTestEngine();
    expect(await (await engine.startWorkflow(greet, {}, 'Di')).getResult()).toBe('hello Di');
    expect(await (await engine.invoke(Orders).place('pen')).getResult()).toBe('pen@30');
    await engine.close();
  });

  test('a decorated class whose name and method clash with another class throws RegistrationError when defined', () => {
    const defineClash = () => {
      class Orders {
        @Workflow() static async place(_ctxt: WorkflowContext): Promise<string> {
          return 'impostor';
        }
      }
      return Orders;
    };
    expect(defineClash).toThrow(RegistrationError);
  });

  test('starting or running something that is not registered is refused with RegistrationError NOT_REGISTERED', async () => {
    const engine = await openTestEngine();
    const unregistered = async (_ctxt: WorkflowContext) => 'never';
    await expect(engine.startWorkflow(unregistered)).rejects.toMatchObject({ code: 'NOT_REGISTERED' });
    await expect(engine.startWorkflow(unregistered)).rejects.toBeInstanceOf(RegistrationError);
    expect(await countRows(engine, 'workflows')).toBe(0);

    const callsUnregisteredStep = registerWorkflow('start.callsUnregisteredStep', async (ctxt: WorkflowContext) => {
      const error = await ctxt.runStep(async () => 'never').then(() => null, (caught: unknown) => caught);
      return (error as RegistrationError).code;
    });
    expect(await (await engine.startWorkflow(callsUnregisteredStep)).getResult()).toBe('NOT_REGISTERED');
    await engine.close();
  });
});

describe('child workflows', () => {
  test('children get the ids `${parent}-${operationIndex}` and report their parent in getStatus', async () => {
    const engine = await openTestEngine();
    const parent = await engine.startWorkflow(fanOut, { workflowUUID: 'family' }, 5);
    expect(await parent.getResult()).toEqual({ firstUUID: 'family-0', first: 10, second: 12, third: 'grandchild of 5' });

    expect(await engine.retrieveWorkflow('family-0').getStatus()).toMatchObject({
      workflowUUID: 'family-0',
      workflowName: 'start.double',
      status: 'SUCCESS',
      parentUUID: 'family',
      inputs: [5],
    });
    expect(await engine.retrieveWorkflow('family-1').getStatus()).toBeNull(); // operation 1 is a step
    expect(await engine.retrieveWorkflow('family-2').getStatus()).toMatchObject({ workflowName: 'start.double', parentUUID: 'family', inputs: [6] });
    expect(await engine.retrieveWorkflow('family-3').getStatus()).toMatchObject({ workflowName: 'Family.grandchild', parentUUID: 'family' });
    expect(await engine.retrieveWorkflow('family-2').getResult()).toBe(12);
    expect(await parent.getStatus()).toMatchObject({ parentUUID: null });
    expect(await countRows(engine, 'workflows')).toBe(4);
    await engine.close();
  });

  test('a recovered parent finds the child it started before instead of starting another', async () => {
    const database = await testDatabase();
    const first = await openTestEngine({ database });
    await first.startWorkflow(parentThenWait, { workflowUUID: 'parent-r' });
    await blockedInRecv(first, 'parent-r', 'go');
    expect(runs.child).toBe(1);
    await first.close();

    const second = await openTestEngine({ database });
    await blockedInRecv(second, 'parent-r', 'go');
    await second.send('parent-r', 'now', 'go');
    expect(await second.retrieveWorkflow('parent-r').getResult()).toEqual({ childUUID: 'parent-r-0', value: 42 });
    expect(runs.child).toBe(1);
    expect(await countRows(second, 'workflows')).toBe(2);
    await second.close();
  });
});

describe('invalid arguments', () => {
  test('startWorkflow and invoke reject a bad workflowUUID or options with TypeError and write nothing', async () => {
    const engine = await openTestEngine();
    await expect(engine.startWorkflow(greet, { workflowUUID: '' }, 'Ada')).rejects.toThrow(
      new TypeError('Expected `workflowUUID` to be a non-empty string, got `""` (string)'),
    );
    await expect(engine.startWorkflow(greet, { workflowUUID: 42 as unknown as string }, 'Ada')).rejects.toBeInstanceOf(TypeError);
    await expect(engine.startWorkflow(greet, 'greet-1' as unknown as { workflowUUID: string }, 'Ada')).rejects.toBeInstanceOf(TypeError);
    await expect(engine.invoke(Orders, '').place('book')).rejects.toBeInstanceOf(TypeError);
    await expect(engine.invoke(Orders).quote('book')).rejects.toBeInstanceOf(TypeError);
    expect(() => engine.invoke(null as unknown as object)).toThrow(TypeError);
    expect(() => engine.retrieveWorkflow('')).toThrow(TypeError);

    expect(await countRows(engine, 'workflows')).toBe(0);
    expect(runs).toMatchObject({ place: 0, quote: 0, greetStep: 0 });
    await engine.close();
  });

  testOnSqlite('checks that no SQLite file was created (the options are checked before the store is chosen, so the same on PostgreSQL)', 'Engine.open rejects bad options with TypeError or RangeError before creating the file', async () => {
    const database = tempDatabasePath();
    await expect(Engine.open({ database: '' })).rejects.toBeInstanceOf(TypeError);
    await expect(Engine.open({ database, synchronous: 'OFF' as 'FULL' })).rejects.toBeInstanceOf(TypeError);
    await expect(Engine.open({ database, maxRecoveryAttempts: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(Engine.open({ database, maxPayloadBytes: 1.5 })).rejects.toBeInstanceOf(RangeError);
    await expect(Engine.open({ database, onWarning: 'loud' as unknown as () => void })).rejects.toBeInstanceOf(TypeError);
    expect(fs.existsSync(database)).toBe(false);
  });

  test('a workflow operation called with bad arguments throws before recording anything', async () => {
    const operationIndex = registerStep('start.operationIndex', (ctxt: StepContext) => ctxt.operationIndex);
    const misuses = registerWorkflow('start.misuses', async (ctxt: WorkflowContext) => {
      const calls: (() => Promise<unknown>)[] = [
        () => ctxt.sleep(-1),
        () => ctxt.sleep(Number.NaN),
        () => ctxt.sleep(undefined as unknown as number),
        () => ctxt.recv('', 1),
        () => ctxt.recv('topic', -5),
        () => ctxt.setEvent('', 'value'),
        () => ctxt.getEvent('', 'key', 1),
        () => ctxt.getEvent('someone', '', 1),
        () => ctxt.send('', 'message'),
      ];
      const errors: string[] = [];
      for (const call of calls) errors.push(await call().then(() => 'no error', (error: Error) => error.constructor.name));
      // No operation index was taken: the next operation is the first.
      return { errors, nextIndex: await ctxt.runStep(operationIndex) };
    });
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(misuses, { workflowUUID: 'misuses' });
    expect(await handle.getResult()).toEqual({
      errors: ['RangeError', 'RangeError', 'TypeError', 'TypeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'],
      nextIndex: 0,
    });
    expect(await countRows(engine, 'operations')).toBe(1);
    expect(await countRows(engine, 'events')).toBe(0);
    expect(await countRows(engine, 'messages')).toBe(0);
    await engine.close();
  });
});

describe('child workflow identity', () => {
  const squatter = registerWorkflow('child-collision.squatter', async () => 'squatter result');
  const child = registerWorkflow('child-collision.child', async (ctxt: WorkflowContext) => `child ${ctxt.workflowUUID}`);
  const parent = registerWorkflow('child-collision.parent', async (ctxt: WorkflowContext) => {
    const handle = await ctxt.startChildWorkflow(child);
    return { childUUID: handle.getWorkflowUUID(), result: await handle.getResult() };
  });

  test('a child whose derived UUID a user already took gets a UUID of its own, recorded, and the user\'s workflow is untouched', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(squatter, { workflowUUID: 'collide-0' })).getResult();
    const handle = await engine.startWorkflow(parent, { workflowUUID: 'collide' });
    const { childUUID, result } = await handle.getResult();
    expect(childUUID).toMatch(/^collide-0-[A-Za-z0-9_-]{12}$/);
    expect(result).toBe(`child ${childUUID}`);
    const [operation] = await engine.listOperations('collide');
    expect(operation).toMatchObject({ kind: 'child', output: childUUID });
    expect((await engine.retrieveWorkflow(childUUID).getStatus())?.parentUUID).toBe('collide');
    expect(await engine.retrieveWorkflow('collide-0').getResult()).toBe('squatter result');
    expect((await engine.retrieveWorkflow('collide-0').getStatus())?.parentUUID).toBeNull();
    await engine.close();
  });

  test('a replayed parent finds the child UUID it recorded, even one that was not derived', async () => {
    const t = await openTestKit({ onWarning: () => {} });
    await (await t.engine.startWorkflow(squatter, { workflowUUID: 'replayed-0' })).getResult();
    const gate = registerWorkflow('child-collision.gated-parent', async (ctxt: WorkflowContext) => {
      const handle = await ctxt.startChildWorkflow(child);
      await ctxt.recv('go');
      return handle.getWorkflowUUID();
    });
    await t.engine.startWorkflow(gate, { workflowUUID: 'replayed' });
    await t.waitUntilBlocked('replayed', { kind: 'recv' });
    const [started] = await t.engine.listOperations('replayed');
    await t.crash();
    await t.engine.send('replayed', 'now', 'go');
    expect(await t.engine.retrieveWorkflow('replayed').getResult()).toBe(started!.output);
    expect((await t.engine.listWorkflows({ workflowName: 'child-collision.child' })).map((w) => w.workflowUUID)).toEqual([started!.output]);
    await t.close();
  });

  test('starting a UUID that a child owns names the child\'s parent in the conflict', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(parent, { workflowUUID: 'owner' });
    await handle.getResult();
    const attempt = engine.startWorkflow(squatter, { workflowUUID: 'owner-0' });
    await expect(attempt).rejects.toThrow(WorkflowConflictError);
    await expect(attempt).rejects.toThrow('already belongs to a child-collision.child workflow that is a child of workflow "owner"');
    await engine.close();
  });
});
