// Faults found by attacking the engine on purpose, each kept as a test: a refused start that still
// ran code, a change feed that skipped an id a failed commit gave back, a dead run stuck in a child's
// result wait, thrown values that could not be recorded, storage faults eating the crash-loop guard,
// timeouts too long to store, a conflict judged on an uncommitted row, toJSON results mangled.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  Client,
  Engine,
  registerStep,
  registerWorkflow,
  DeterminismError,
  StorageError,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openEngine } from '../lib/engine';
import { resolveOptions } from '../lib/options';
import { decode, encode } from '../lib/store/codec';
import { simulatedSqliteError } from '../lib/store/group-commit';
import { TestEngine } from '../lib/testing';
import { tempDatabasePath } from './helpers';

/** Runs `body` with the unhandled promise rejections of the process collected (it asserts on them). */
async function withUnhandledRejections(body: (rejections: unknown[]) => Promise<void>): Promise<void> {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on('unhandledRejection', onRejection);
  try {
    await body(rejections);
  } finally {
    process.off('unhandledRejection', onRejection);
  }
}

/** A payment call whose overlapping executions are counted. */
const payments = { calls: [] as string[], inFlight: 0, mostAtOnce: 0 };
const charge = registerStep('regression.charge', async (ctxt: StepContext) => {
  payments.inFlight++;
  payments.mostAtOnce = Math.max(payments.mostAtOnce, payments.inFlight);
  await new Promise((resolve) => setImmediate(resolve));
  payments.calls.push(`${ctxt.workflowUUID}/${ctxt.operationIndex}`);
  payments.inFlight--;
  return 'charged';
});
const order = registerWorkflow('regression.order', async (ctxt: WorkflowContext) => ctxt.runStep(charge));
const noop = registerStep('regression.noop', async () => 1);
const payingChild = registerWorkflow('regression.paying-child', async (ctxt: WorkflowContext) => ctxt.runStep(charge));
const payingParent = registerWorkflow('regression.paying-parent', async (ctxt: WorkflowContext) => {
  await ctxt.runStep(noop);
  return ctxt.childWorkflow(payingChild);
});

describe('a start whose commit fails runs nothing', () => {
  beforeEach(() => {
    payments.calls.length = 0;
    payments.mostAtOnce = 0;
  });

  test('a refused start runs no step, and the caller\'s retry runs it once', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
    await expect(t.engine.startWorkflow(order, { workflowUUID: 'o-1' })).rejects.toThrow(StorageError);
    await t.runUntilIdle();
    expect(payments.calls).toEqual([]);
    expect(await t.engine.retrieveWorkflow('o-1').getStatus()).toBeNull();

    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
    await expect(t.engine.startWorkflow(order, { workflowUUID: 'o-2' })).rejects.toThrow(StorageError);
    const handle = await t.engine.startWorkflow(order, { workflowUUID: 'o-2' });
    expect(await handle.getResult()).toBe('charged');
    await t.runUntilIdle();
    expect(payments).toMatchObject({ calls: ['o-2/0'], mostAtOnce: 1 });
    await t.close();
  });

  test('a child start whose commit fails runs the child\'s step once, after the parent resumed', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR', afterCommits: 2 }); // the parent's start, its step, then the child's start
    const handle = await t.engine.startWorkflow(payingParent, { workflowUUID: 'p' });
    expect(await handle.getResult()).toBe('charged');
    await t.runUntilIdle();
    expect(t.pendingFaults).toBe(0);
    expect(payments).toMatchObject({ calls: ['p-1/0'], mostAtOnce: 1 });
    await t.close();
  });

  test('two starts of one UUID in a failed commit both reject with StorageError, not a conflict judged on the rolled-back row', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
    const first = t.engine.startWorkflow(order, { workflowUUID: 'x' });
    const second = t.engine.startWorkflow(payingChild, { workflowUUID: 'x' });
    await expect(first).rejects.toThrow(StorageError);
    await expect(second).rejects.toThrow(StorageError);
    expect(await t.engine.retrieveWorkflow('x').getStatus()).toBeNull();
    await t.close();
  });
});

describe('a dead run', () => {
  const waitingChild = registerWorkflow('regression.waiting-child', async (ctxt: WorkflowContext) => ctxt.recv<string>('go', 3600));
  const signallingParent = registerWorkflow('regression.signalling-parent', async (ctxt: WorkflowContext) => {
    const childUUID = `${ctxt.workflowUUID}-0`;
    const [childResult, signal] = await Promise.allSettled([
      ctxt.childWorkflow(waitingChild),
      (async () => {
        await ctxt.sleep(10);
        await ctxt.send(childUUID, 'go', 'go');
        return 'sent';
      })(),
    ]);
    return { childResult, signal };
  });

  test('awaiting its child\'s result is resumed within the backoff, not when the child ends', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    const handle = await t.engine.startWorkflow(signallingParent, { workflowUUID: 'parent' });
    await t.runUntilIdle();
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' }); // the commit recording the sleep's end
    await t.advance(10);
    await t.advance(5); // at most the longest pause between resumes
    expect(t.pendingFaults).toBe(0);
    expect((await handle.getStatus())?.status).toBe('SUCCESS');
    expect(await handle.getResult()).toEqual({
      childResult: { status: 'fulfilled', value: 'go' },
      signal: { status: 'fulfilled', value: 'sent' },
    });
    await t.close();
  });
});

describe('thrown values that String() refuses', () => {
  const nullPrototype = (): unknown => Object.assign(Object.create(null), { reason: 'declined' });
  let throws = 1;
  const flaky = registerStep('regression.null-prototype-step', async () => {
    if (throws-- > 0) throw nullPrototype();
    return 'approved';
  });
  const payer = registerWorkflow('regression.null-prototype-payer', async (ctxt: WorkflowContext) => {
    try {
      return await ctxt.runStep(flaky);
    } catch {
      await ctxt.recv('ack', 60);
      return 'declined';
    }
  });
  const thrower = registerWorkflow('regression.null-prototype-thrower', async () => {
    throw nullPrototype();
  });

  test('a step\'s failure is recorded, so the replay after a crash takes the same branch', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(payer, { workflowUUID: 'payer' });
    await t.waitUntilBlocked('payer', { kind: 'recv' });
    const [step] = await t.engine.listOperations('payer');
    expect(step).toMatchObject({ kind: 'step', error: expect.objectContaining({ message: '[object Object]' }) });
    const engine = await t.crash();
    await engine.send('payer', 'ok', 'ack');
    expect(await engine.retrieveWorkflow('payer').getResult()).toBe('declined');
    await t.close();
  });

  test('a workflow that throws one ends in ERROR', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    const handle = await t.engine.startWorkflow(thrower, { workflowUUID: 'thrower' });
    await expect(handle.getResult()).rejects.toThrow('[object Object]');
    expect((await handle.getStatus())?.status).toBe('ERROR');
    await t.close();
  });
});

describe('storage faults across restarts', () => {
  const stepper = registerStep('regression.stepper', async (_ctxt: StepContext, index: number) => index);
  const patient = registerWorkflow('regression.progressing', async (ctxt: WorkflowContext) => {
    for (let index = 0; ; index++) {
      await ctxt.runStep(stepper, index);
      if ((await ctxt.recv<string>('next', 3600)) === 'stop') return index;
    }
  });

  test('a workflow that progresses after each fault is never given up, however many restarts', async () => {
    const database = tempDatabasePath('restarts');
    try {
      let engine = await Engine.open({ database, onWarning: () => {}, maxRecoveryAttempts: 3 });
      await engine.startWorkflow(patient, { workflowUUID: 'patient' });
      await engine.close();
      for (let restart = 0; restart < 8; restart++) {
        // One transient I/O error on the first commit after the recovery pass, every time.
        let commits = 0;
        engine = openEngine(resolveOptions({ database, onWarning: () => {}, maxRecoveryAttempts: 3 }), {
          beforeCommit() {
            if (++commits === 2) throw simulatedSqliteError('SQLITE_IOERR', 'a transient I/O error');
          },
        });
        expect(engine.recovery.givenUp).toEqual([]);
        await engine.send('patient', 'again', 'next').catch(() => engine.send('patient', 'again', 'next'));
        await new Promise((resolve) => setTimeout(resolve, 20));
        await engine.close();
      }
      engine = await Engine.open({ database, onWarning: () => {}, maxRecoveryAttempts: 3 });
      expect(engine.recovery.givenUp).toEqual([]);
      await engine.send('patient', 'stop', 'next');
      expect(await engine.retrieveWorkflow('patient').getResult()).toBeGreaterThanOrEqual(8);
      await engine.close();
    } finally {
      fs.rmSync(path.dirname(database), { recursive: true, force: true });
    }
  }, 30_000);
});

describe('what is refused at the call', () => {
  test('a timeout or sleep too long to store as a deadline is a RangeError, not a storage fault', async () => {
    const results: string[] = [];
    const eternal = registerWorkflow('regression.eternal', async (ctxt: WorkflowContext) => {
      for (const wait of [() => ctxt.sleep(1e17), () => ctxt.recv('t', Number.MAX_VALUE), () => ctxt.getEvent('x', 'k', 1e12)]) {
        try {
          await wait();
        } catch (error) {
          results.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
      return 'refused';
    });
    const t = await TestEngine.open();
    expect(await (await t.engine.startWorkflow(eternal, { workflowUUID: 'eternal' })).getResult()).toBe('refused');
    expect(results).toEqual([
      'RangeError: Expected `seconds` to be at most 3153600000 seconds (100 years), got `100000000000000000` (number)',
      expect.stringMatching(/^RangeError: Expected `timeoutSeconds` to be at most 3153600000 seconds/),
      'RangeError: Expected `timeoutSeconds` to be at most 3153600000 seconds (100 years), got `1000000000000` (number)',
    ]);
    expect(await t.engine.listOperations('eternal')).toEqual([]);
    await expect(t.engine.getEvent('eternal', 'k', 4e9)).rejects.toThrow(RangeError);
    await t.close();
  });

  test('what a toJSON() returns is stored as given: Dates, Maps, NaN, Infinity, -0 and undefined are kept', () => {
    const value = {
      at: { toJSON: () => new Date(0) },
      bag: { toJSON: () => new Map([['a', 1]]) },
      scores: [{ toJSON: () => NaN }, { toJSON: () => -Infinity }, { toJSON: () => -0 }],
      gone: { toJSON: () => undefined },
      boxed: new Number(NaN),
    };
    expect(decode(encode(value))).toEqual({ at: new Date(0), bag: new Map([['a', 1]]), scores: [NaN, -Infinity, -0], gone: undefined, boxed: NaN });
    expect(Object.is((decode(encode(value)) as { scores: number[] }).scores[2], -0)).toBe(true);
  });
});

describe('the change feed and a failed commit', () => {
  const leaf = registerWorkflow('regression.leaf', async () => 'leaf');
  registerWorkflow('regression.recovered-parent', async (ctxt: WorkflowContext) => ctxt.childWorkflow(leaf));
  const fromClient = registerWorkflow('regression.from-client', async () => 'client ran');

  test('a workflow a client starts while the owner\'s commits fail is run as soon as they succeed again', async () => {
    const database = tempDatabasePath('feed');
    try {
      (await Engine.open({ database, recover: false })).close();
      const raw = new Database(database);
      raw.prepare(`INSERT INTO workflows (workflow_uuid, name, status, inputs, created_at, updated_at) VALUES ('r1', 'regression.recovered-parent', 'PENDING', '[]', 1, 1)`).run();
      raw.close();
      let failing = true;
      const engine = openEngine(resolveOptions({ database, onWarning: () => {} }), {
        beforeCommit(commitNumber) {
          // The recovery pass commits; the recovered workflow's child start (rowid 2) keeps failing.
          if (failing && commitNumber >= 2) throw simulatedSqliteError('SQLITE_IOERR', 'a simulated I/O error');
        },
      });
      const client = await Client.open({ database });
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        // Its row may take the rowid the owner's failed child start gave back.
        const handle = await client.startWorkflow<string>(fromClient, { workflowUUID: 'c1' });
        await new Promise((resolve) => setTimeout(resolve, 200));
        failing = false;
        expect(await handle.getResult()).toBe('client ran');
        expect(await engine.retrieveWorkflow('r1').getResult()).toBe('leaf');
      } finally {
        await client.close();
        await engine.close();
      }
    } finally {
      fs.rmSync(path.dirname(database), { recursive: true, force: true });
    }
  }, 30_000);
});

describe('the code of a dead run stops', () => {
  test('a workflow that catches every error in a loop does not spin: it stops, resumes from its records, and goes on', async () => {
    let caught = 0;
    const actor = registerWorkflow('regression.actor', async (ctxt: WorkflowContext) => {
      for (;;) {
        try {
          if ((await ctxt.recv<string>('q', 3600)) === 'stop') return 'stopped';
        } catch {
          caught++; // log and carry on
        }
      }
    });
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(actor, { workflowUUID: 'actor' });
    await t.waitUntilBlocked('actor');
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR', afterCommits: 1 }); // the send commits; the recv's consume fails
    await t.engine.send('actor', 'm1', 'q');
    await t.engine.send('actor', 'stop', 'q');
    expect(await t.engine.retrieveWorkflow('actor').getResult()).toBe('stopped');
    expect(caught).toBe(1); // the dead run caught the failure once; its next recv never settled
    await t.close();
  });

  test('a step started while its run\'s commit fails never runs at the same time as the resumed run\'s', async () => {
    const flights = { now: 0, most: 0, runs: 0 };
    const slow = registerStep('regression.slow-charge', async () => {
      flights.runs++;
      flights.most = Math.max(flights.most, ++flights.now);
      await new Promise((resolve) => setTimeout(resolve, 50));
      flights.now--;
      return 'charged';
    });
    const other = registerWorkflow('regression.batch-mate', async (ctxt: WorkflowContext) => {
      await ctxt.recv('go', 60);
      await ctxt.setEvent('x', 1);
      return 'ok';
    });
    const announcer = registerWorkflow('regression.announcer', async (ctxt: WorkflowContext) => {
      await ctxt.recv('go', 60);
      const charged = ctxt.runStep(slow); // start the work...
      await ctxt.setEvent('charging', true); // ...announce it...
      return charged; // ...await it
    });
    for (const skip of [1, 2, 3, 4]) {
      flights.runs = 0;
      flights.most = 0;
      const t = await TestEngine.open({ onWarning: () => {} });
      await t.engine.startWorkflow(other, { workflowUUID: 'other' });
      await t.engine.startWorkflow(announcer, { workflowUUID: 'announcer' });
      await t.waitUntilBlocked('other');
      await t.waitUntilBlocked('announcer');
      t.injectFault({ at: 'commit', code: 'SQLITE_IOERR', afterCommits: skip });
      await Promise.all([t.engine.send('other', 1, 'go'), t.engine.send('announcer', 1, 'go')]).catch(() => {});
      for (const [uuid, message] of [['other', 1], ['announcer', 1]] as const) {
        if ((await t.engine.listMessages(uuid)).length === 0) await t.engine.send(uuid, message, 'go');
      }
      expect(await t.engine.retrieveWorkflow('announcer').getResult()).toBe('charged');
      await new Promise((resolve) => setTimeout(resolve, 80)); // any step of a dead run that did start ends
      expect({ skip, most: flights.most }).toEqual({ skip, most: 1 });
      await t.close();
    }
  }, 30_000);

  test('a step left unawaited by a dead run never rejects unhandled', async () => {
    await withUnhandledRejections(async (rejections) => {
      const slowStep = registerStep('regression.slow', async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return 'slow';
      });
      const starter = registerWorkflow('regression.starter', async (ctxt: WorkflowContext) => {
        await ctxt.runStep(noop);
        const work = ctxt.runStep(slowStep);
        await ctxt.setEvent('started', true);
        return await work;
      });
      const t = await TestEngine.open({ onWarning: () => {} });
      t.injectFault({ at: 'commit', code: 'SQLITE_IOERR', afterCommits: 2 }); // the start, the first step, then setEvent's
      const handle = await t.engine.startWorkflow(starter, { workflowUUID: 'starter' });
      expect(await handle.getResult()).toBe('slow');
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(rejections).toEqual([]);
      await t.close();
    });
  });
});

describe('the crash-loop guard and the backoff, against ordinary life', () => {
  const approval = registerWorkflow('regression.approval', async (ctxt: WorkflowContext) => ctxt.recv<string>('approve', 3600));
  const orderFlow = registerWorkflow('regression.order-flow', async (ctxt: WorkflowContext) => `order ${await ctxt.childWorkflow(approval)}`);

  test('a parent waiting for its child\'s result is never given up, however many restarts', async () => {
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(orderFlow, { workflowUUID: 'order' });
    await t.waitUntilBlocked('order-0', { kind: 'recv' });
    for (let restart = 0; restart < 12; restart++) {
      await t.crash();
      await t.runUntilIdle();
    }
    expect(t.engine.recovery.givenUp).toEqual([]);
    await t.engine.send('order-0', 'approved', 'approve');
    expect(await t.engine.retrieveWorkflow('order').getResult()).toBe('order approved');
    await t.close();
  });

  test('each separate fault in a long life is resumed at once: the backoff starts anew once a resumed run made progress', async () => {
    const counter = registerWorkflow('regression.counter', async (ctxt: WorkflowContext) => {
      for (let count = 0; ; count++) if ((await ctxt.recv<string>('tick', 3600)) === 'stop') return count;
    });
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(counter, { workflowUUID: 'counter' });
    await t.waitUntilBlocked('counter');
    for (let incident = 0; incident < 4; incident++) {
      t.injectFault({ at: 'commit', code: 'SQLITE_IOERR', afterCommits: 1 }); // the send commits; the consume fails
      await t.engine.send('counter', 'tick', 'tick');
      await t.runUntilIdle(); // no clock advance: only a resume "at once" gets it back into its recv
      expect({ incident, waiting: t.waits('counter').length }).toEqual({ incident, waiting: 1 });
    }
    await t.engine.send('counter', 'stop', 'tick');
    expect(await t.engine.retrieveWorkflow('counter').getResult()).toBe(4);
    await t.close();
  });
});

describe('whatever is thrown is recorded', () => {
  test('a step that throws a revoked Proxy records a failure, so a replay takes the same branch', async () => {
    let runs = 0;
    const revoked = registerStep('regression.revoked', async () => {
      runs++;
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      throw proxy;
    });
    const caller = registerWorkflow('regression.revoked-caller', async (ctxt: WorkflowContext) => {
      try {
        await ctxt.runStep(revoked);
        return 'no error';
      } catch {
        await ctxt.recv('ack', 60);
        return 'failed as recorded';
      }
    });
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(caller, { workflowUUID: 'revoked' });
    await t.waitUntilBlocked('revoked');
    const [step] = await t.engine.listOperations('revoked');
    expect(step).toMatchObject({ kind: 'step', error: expect.any(Error) });
    const engine = await t.crash();
    await engine.send('revoked', 'ok', 'ack');
    expect(await engine.retrieveWorkflow('revoked').getResult()).toBe('failed as recorded');
    expect(runs).toBe(1);
    await t.close();
  });
});

describe('third round: loops, backoff, listeners', () => {
  test('under a lasting fault the resumes back off (at once, 100 ms, 200 ms...), even when the resumed run starts a step before it writes', async () => {
    let runs = 0;
    const call = registerStep('regression.http-call', async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 'called';
    });
    const caller = registerWorkflow('regression.http-caller', async (ctxt: WorkflowContext) => ctxt.runStep(call));
    const t = await TestEngine.open({ onWarning: () => {} });
    const handle = await t.engine.startWorkflow(caller, { workflowUUID: 'http' });
    t.injectFault({ at: 'commit', code: 'SQLITE_FULL', count: 1_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // real time; the virtual clock stands still
    expect(runs).toBeLessThanOrEqual(2); // the first run and the resume at once; the next waits 100 ms of virtual time
    await t.advance(0.1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs).toBe(3); // the pause passed on the clock: one more try
    expect((await handle.getStatus())?.status).toBe('PENDING');
    await t.close();
  });

  test('a loop catching every error stops when the engine closes, and when a replay diverges the workflow is marked ERROR at once', async () => {
    let spins = 0;
    const stubborn = registerWorkflow('regression.stubborn', async (ctxt: WorkflowContext) => {
      for (;;) {
        try {
          await ctxt.sleep(1);
        } catch {
          if (++spins > 1_000) return 'spun';
        }
      }
    });
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(stubborn, { workflowUUID: 'stubborn' });
    await t.waitUntilBlocked('stubborn');
    await t.close();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the event loop turns: nothing spins
    expect(spins).toBeLessThanOrEqual(1);
  });

  test('a child handle\'s getResult in a run that ended never settles, never rejects unhandled, never spins', async () => {
    await withUnhandledRejections(async (rejections) => {
      const slowChild = registerWorkflow('regression.slow-child', async (ctxt: WorkflowContext) => ctxt.recv<string>('go', 60));
      let injected = false;
      const impatient = registerWorkflow('regression.impatient', async (ctxt: WorkflowContext) => {
        const child = await ctxt.startChildWorkflow(slowChild);
        const result = child.getResult();
        if (!injected) {
          injected = true;
          t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' }); // the commit of the setEvent below
        }
        await ctxt.setEvent('waiting', true);
        return `child said ${await result}`;
      });
      const t = await TestEngine.open({ onWarning: () => {} });
      const handle = await t.engine.startWorkflow(impatient, { workflowUUID: 'impatient' });
      await t.waitUntilBlocked('impatient-0', { kind: 'recv' });
      await t.runUntilIdle();
      await t.engine.send('impatient-0', 'hi', 'go');
      expect(await handle.getResult()).toBe('child said hi');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(rejections).toEqual([]);
      await t.close();
    });
  });

  test('a listener that throws cannot break a commit or a start; a start that failed is not announced', async () => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const t = await TestEngine.open({ onWarning: () => {} });
      const started: string[] = [];
      t.engine.events.on('workflowStarted', ({ workflowUUID }) => started.push(workflowUUID));
      t.engine.events.once('commit', () => {
        throw new Error('a broken metrics label');
      });
      t.engine.events.once('workflowStarted', () => {
        throw new Error('another broken listener');
      });
      const handle = await t.engine.startWorkflow(order, { workflowUUID: 'listened' });
      expect(await handle.getResult()).toBe('charged');
      t.injectFault({ at: 'commit', code: 'SQLITE_IOERR' });
      await expect(t.engine.startWorkflow(order, { workflowUUID: 'never' })).rejects.toThrow(StorageError);
      await t.runUntilIdle();
      expect(started).toEqual(['listened']);
      expect(errors).toHaveBeenCalledWith(expect.stringContaining('a listener of the "commit" event threw'));
      await t.close();
    } finally {
      errors.mockRestore();
    }
  });
});

describe('fourth round', () => {
  test('a diverged workflow whose ERROR commit fails stays PENDING, resumes, and ends in ERROR', async () => {
    let release = 'v1';
    const deployed = registerWorkflow('regression.deployed', async (ctxt: WorkflowContext) => {
      if (release === 'v2') await ctxt.sleep(1);
      return ctxt.recv<string>('go', 600);
    });
    const t = await TestEngine.open({ onWarning: () => {} });
    await t.engine.startWorkflow(deployed, { workflowUUID: 'deployed' });
    await t.waitUntilBlocked('deployed');
    release = 'v2';
    t.injectFault({ at: 'commit', code: 'SQLITE_IOERR', afterCommits: 1 }); // the recovery pass commits; the ERROR's commit fails
    const engine = await t.crash();
    await t.runUntilIdle();
    await t.advance(1);
    await expect(engine.retrieveWorkflow('deployed').getResult()).rejects.toThrow(DeterminismError);
    expect(t.pendingFaults).toBe(0);
    await t.close();
  });

  test('a step that rejects with no reason is recorded as a failure, not a result', async () => {
    const silent = registerStep('regression.silent-failure', async () => Promise.reject());
    const caller = registerWorkflow('regression.silent-caller', async (ctxt: WorkflowContext) => {
      try {
        await ctxt.runStep(silent);
        return 'succeeded';
      } catch (error) {
        return `failed with ${String(error)}`;
      }
    });
    const t = await TestEngine.open();
    expect(await (await t.engine.startWorkflow(caller, { workflowUUID: 'silent' })).getResult()).toBe('failed with undefined');
    const [step] = await t.engine.listOperations('silent');
    expect(step!.error).toBeInstanceOf(Error);
    await t.close();
  });

  test('the waits a finished workflow left behind consume nothing', async () => {
    const racer = registerWorkflow('regression.racer', async (ctxt: WorkflowContext) => {
      return Promise.race([ctxt.recv<string>('slow', 600), ctxt.sleep(1).then(() => 'slept')]);
    });
    const t = await TestEngine.open();
    const handle = await t.engine.startWorkflow(racer, { workflowUUID: 'racer' });
    await t.advance(1);
    expect(await handle.getResult()).toBe('slept');
    await t.engine.send('racer', 'too late', 'slow');
    await t.runUntilIdle();
    expect((await t.engine.listMessages('racer')).map((message) => message.consumed)).toEqual([false]);
    expect(t.waits('racer')).toEqual([]);
    await t.close();
  });

  test('a parent waiting for its child shows in the testing kit\'s waits', async () => {
    const child = registerWorkflow('regression.visible-child', async (ctxt: WorkflowContext) => ctxt.recv<string>('go', 600));
    const parent = registerWorkflow('regression.visible-parent', async (ctxt: WorkflowContext) => ctxt.childWorkflow(child));
    const t = await TestEngine.open();
    await t.engine.startWorkflow(parent, { workflowUUID: 'visible' });
    expect(await t.waitUntilBlocked('visible', { kind: 'result' })).toMatchObject({ workflowUUID: 'visible', kind: 'result', targetUUID: 'visible-0' });
    await t.engine.send('visible-0', 'done', 'go');
    expect(await t.engine.retrieveWorkflow('visible').getResult()).toBe('done');
    await t.close();
  });
});
