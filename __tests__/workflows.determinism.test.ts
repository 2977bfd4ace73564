import { DeterminismError, DurabliteError, Step, Workflow, type StepContext, type WorkflowContext } from '../lib';
import { openTestEngine, testDatabase } from './helpers';
import { blockedInRecv } from './wait-helpers';

/**
 * The workflow code "deployed" in this process. The test flips it between closing and reopening
 * the database, as a new release of an application would.
 */
let release: 'v1' | 'v2-other-step' | 'v2-sleep-first' | 'v2-catches' = 'v1';
const runs = { reserve: 0, charge: 0 };
let caughtInWorkflow: unknown[] = [];

beforeEach(() => {
  release = 'v1';
  runs.reserve = 0;
  runs.charge = 0;
  caughtInWorkflow = [];
});

class Checkout {
  @Workflow() static async order(ctxt: WorkflowContext, orderId: string): Promise<string> {
    switch (release) {
      case 'v1':
        await ctxt.invoke(Checkout).reserve(orderId);
        break;
      case 'v2-other-step':
        await ctxt.invoke(Checkout).charge(orderId);
        break;
      case 'v2-sleep-first':
        await ctxt.sleep(0);
        break;
      case 'v2-catches':
        // Code that swallows every error must not hide the divergence.
        try {
          await ctxt.invoke(Checkout).charge(orderId);
        } catch (error) {
          caughtInWorkflow.push(error);
        }
        try {
          await ctxt.recv('confirm', 1);
        } catch (error) {
          caughtInWorkflow.push(error);
        }
        return 'carried on regardless';
    }
    const confirmation = await ctxt.recv<string>('confirm', 60);
    return `${orderId}:${confirmation}`;
  }

  @Step() static async reserve(_ctxt: StepContext, orderId: string): Promise<string> {
    runs.reserve++;
    return `reserved ${orderId}`;
  }

  @Step() static async charge(_ctxt: StepContext, orderId: string): Promise<string> {
    runs.charge++;
    return `charged ${orderId}`;
  }
}

/** Runs release v1 until it waits for confirmation (after recording its step), then closes. */
async function startUnderV1(database: string, workflowUUID: string): Promise<void> {
  const engine = await openTestEngine({ database });
  await engine.invoke(Checkout, workflowUUID).order('o-1');
  await blockedInRecv(engine, workflowUUID, 'confirm');
  await engine.close();
  expect(runs.reserve).toBe(1);
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`Expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('a workflow whose code changed between runs', () => {
  test('fails with DeterminismError naming the recorded and the attempted operation', async () => {
    const database = await testDatabase();
    await startUnderV1(database, 'order-changed');

    release = 'v2-other-step';
    const engine = await openTestEngine({ database });
    const error = await failureOf(engine.retrieveWorkflow('order-changed').getResult());

    expect(error).toBeInstanceOf(DeterminismError);
    expect(error).toBeInstanceOf(DurabliteError);
    expect(error).toMatchObject({
      code: 'NONDETERMINISTIC_WORKFLOW',
      workflowUUID: 'order-changed',
      operationIndex: 0,
      recorded: 'step "Checkout.reserve"',
      attempted: 'step "Checkout.charge"',
    });
    expect((error as Error).message).toContain('Checkout.reserve');
    expect((error as Error).message).toContain('Checkout.charge');
    expect(await engine.retrieveWorkflow('order-changed').getStatus()).toMatchObject({ status: 'ERROR' });
    // The diverging step did not run: the replay stopped at the mismatch.
    expect(runs.charge).toBe(0);
    await engine.close();
  });

  test('names both operation kinds when a different kind of operation is met', async () => {
    const database = await testDatabase();
    await startUnderV1(database, 'order-sleep');

    release = 'v2-sleep-first';
    const engine = await openTestEngine({ database });
    const error = await failureOf(engine.retrieveWorkflow('order-sleep').getResult());
    expect(error).toBeInstanceOf(DeterminismError);
    expect(error).toMatchObject({ code: 'NONDETERMINISTIC_WORKFLOW', recorded: 'step "Checkout.reserve"', attempted: 'sleep "sleep"' });
    expect((error as Error).message).toMatch(/step "Checkout\.reserve".*sleep "sleep"/);
    await engine.close();
  });

  test('fails with DeterminismError even when the workflow code catches the error and tries to go on', async () => {
    const database = await testDatabase();
    await startUnderV1(database, 'order-caught');

    release = 'v2-catches';
    const engine = await openTestEngine({ database });
    const error = await failureOf(engine.retrieveWorkflow('order-caught').getResult());
    expect(error).toBeInstanceOf(DeterminismError);
    expect(error).toMatchObject({ code: 'NONDETERMINISTIC_WORKFLOW', operationIndex: 0 });
    // The code met the error once; its next operation never settled (the diverged run's code stops
    // there, recording nothing), and the outcome was recorded without waiting for the code.
    expect(caughtInWorkflow).toHaveLength(1);
    expect(caughtInWorkflow[0]).toBeInstanceOf(DeterminismError);
    expect(runs.charge).toBe(0);
    await engine.close();
  });

  test('the determinism failure is recorded: after another reopen the workflow stays ERROR with the same error', async () => {
    const database = await testDatabase();
    await startUnderV1(database, 'order-recorded');

    release = 'v2-other-step';
    const failing = await openTestEngine({ database });
    await failureOf(failing.retrieveWorkflow('order-recorded').getResult());
    await failing.close();

    release = 'v1';
    const reopened = await openTestEngine({ database });
    expect(reopened.recovery.resumed).toEqual([]);
    const error = await failureOf(reopened.retrieveWorkflow('order-recorded').getResult());
    expect(error).toBeInstanceOf(DeterminismError);
    expect(error).toMatchObject({ recorded: 'step "Checkout.reserve"', attempted: 'step "Checkout.charge"' });
    expect(runs.reserve).toBe(1);
    await reopened.close();
  });

  test('an unchanged workflow replays its recorded step and completes', async () => {
    const database = await testDatabase();
    await startUnderV1(database, 'order-same');

    const engine = await openTestEngine({ database });
    await blockedInRecv(engine, 'order-same', 'confirm');
    await engine.send('order-same', 'confirmed', 'confirm');
    expect(await engine.retrieveWorkflow('order-same').getResult()).toBe('o-1:confirmed');
    expect(runs.reserve).toBe(1);
    await engine.close();
  });
});
