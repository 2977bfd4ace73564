import { registerWorkflow, type Engine, type WorkflowContext } from '../lib';
import { openTestEngine, tempDatabasePath } from './helpers';
import { blockedInGetEvent, blockedInRecv, operationsOf, waitStarted, waitsOf } from './wait-helpers';

/** Ways to let other code run before acting, so each race is tried in many interleavings. */
const PAUSES = ['none', 'microtask', 'microtasks', 'immediate'] as const;
type Pause = (typeof PAUSES)[number];

async function pause(kind: Pause): Promise<void> {
  switch (kind) {
    case 'none':
      return;
    case 'microtask':
      await Promise.resolve();
      return;
    case 'microtasks':
      for (let turn = 0; turn < 5; turn++) await Promise.resolve();
      return;
    case 'immediate':
      await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

const racingReceiver = registerWorkflow('race.receiver', async (ctxt: WorkflowContext, before: Pause, timeoutSeconds: number) => {
  await pause(before);
  return ctxt.recv<string>('race', timeoutSeconds);
});

const racingSender = registerWorkflow('race.sender', async (ctxt: WorkflowContext, destination: string, message: string, before: Pause) => {
  await pause(before);
  await ctxt.send(destination, message, 'race');
});

const racingPublisher = registerWorkflow('race.publisher', async (ctxt: WorkflowContext, value: string, before: Pause) => {
  await pause(before);
  await ctxt.setEvent('raced', value);
});

describe('no lost wake-ups', () => {
  // A lost wake-up would not always show as a missing message: a wait makes one last attempt at its
  // deadline. So each round must also finish long before the receiver's timeout.
  const TIMEOUT_SECONDS = 4;
  const PROMPT_MS = 2_000;

  test('send raced against recv 500 times in varied interleavings: every recv gets its message at once', async () => {
    const engine = await openTestEngine();
    const rounds: Promise<{ received: unknown; message: string; elapsedMs: number }>[] = [];
    for (let round = 0; round < 500; round++) {
      const receiverPause = PAUSES[round % 4]!;
      const senderPause = PAUSES[(round >> 2) % 4]!;
      const fromWorkflow = ((round >> 4) & 1) === 1;
      const uuid = `race-${round}`;
      const message = `message-${round}`;
      const startedMs = Date.now();
      // The receiver's row exists as soon as startWorkflow is called, so the send never misses it.
      const started = engine.startWorkflow(racingReceiver, { workflowUUID: uuid }, receiverPause, TIMEOUT_SECONDS);
      const sent = fromWorkflow
        ? engine.startWorkflow(racingSender, { workflowUUID: `${uuid}-sender` }, uuid, message, senderPause).then((handle) => handle.getResult())
        : pause(senderPause).then(() => engine.send(uuid, message, 'race'));
      rounds.push(
        Promise.all([started.then((handle) => handle.getResult()), sent]).then(([received]) => ({ received, message, elapsedMs: Date.now() - startedMs })),
      );
      // Now and then let earlier rounds run, so new rounds also race against finishing ones.
      if (round % 25 === 24) await pause('immediate');
    }
    const results = await Promise.all(rounds);
    expect(results).toHaveLength(500);
    expect(results.filter(({ received, message }) => received !== message)).toEqual([]);
    expect(results.filter(({ elapsedMs }) => elapsedMs >= PROMPT_MS)).toEqual([]);
    await engine.close();
  }, 30_000);

  test('a waiting recv has consumed its message by the time send resolves, before any timer or I/O callback runs', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(racingReceiver, { workflowUUID: 'woken-at-once' }, 'none', 30);
    await blockedInRecv(engine, 'woken-at-once', 'race');

    let macrotaskRan = false;
    setImmediate(() => (macrotaskRan = true));
    await engine.send('woken-at-once', 'now', 'race');
    // Still in the same macrotask: the wake-up came from the send's commit, not from polling.
    const [recv] = await operationsOf(engine, 'woken-at-once');
    expect(macrotaskRan).toBe(false);
    expect(recv).toMatchObject({ kind: 'recv', output: 'now' });
    expect(recv!.completedAt).not.toBeNull();
    expect(await handle.getResult()).toBe('now');
    await engine.close();
  });

  test('setEvent raced against handler getEvent 200 times: every getEvent sees the value at once', async () => {
    const engine = await openTestEngine();
    const rounds: Promise<{ seen: unknown; value: string; elapsedMs: number }>[] = [];
    for (let round = 0; round < 200; round++) {
      const getterPause = PAUSES[round % 4]!;
      const publisherPause = PAUSES[(round >> 2) % 4]!;
      const uuid = `publisher-${round}`;
      const value = `value-${round}`;
      const startedMs = Date.now();
      // Depending on the pauses, getEvent starts before the workflow exists, before or after the set.
      const got = pause(getterPause).then(() => engine.getEvent<string>(uuid, 'raced', TIMEOUT_SECONDS));
      const published = pause(publisherPause)
        .then(() => engine.startWorkflow(racingPublisher, { workflowUUID: uuid }, value, publisherPause))
        .then((handle) => handle.getResult());
      rounds.push(Promise.all([got, published]).then(([seen]) => ({ seen, value, elapsedMs: Date.now() - startedMs })));
    }
    const results = await Promise.all(rounds);
    expect(results.filter(({ seen, value }) => seen !== value)).toEqual([]);
    expect(results.filter(({ elapsedMs }) => elapsedMs >= PROMPT_MS)).toEqual([]);
    await engine.close();
  }, 30_000);
});

describe('concurrent operations inside one workflow', () => {
  const fanIn = registerWorkflow('race.fanIn', async (ctxt: WorkflowContext, peer: string) =>
    Promise.all([
      ctxt.recv<string>('a', 30),
      ctxt.send(peer, 'hello from fan-in', 'greetings'),
      ctxt.recv<string>('b', 30),
      ctxt.getEvent<string>(peer, 'ready', 30),
      ctxt.recv<string>('c', 30),
      ctxt.setEvent('fanned', true),
    ]),
  );

  const peerWorkflow = registerWorkflow('race.peer', async (ctxt: WorkflowContext) => {
    const greeting = await ctxt.recv<string>('greetings', 30);
    await ctxt.recv('release', 30);
    await ctxt.setEvent('ready', `ready after ${greeting}`);
    return greeting;
  });

  const recordedOutcomes = async (engine: Engine, uuid: string) =>
    (await operationsOf(engine, uuid)).map(({ operationIndex, kind, output, error }) => ({ operationIndex, kind, output, error }));

  async function blockedInAll(engine: Engine) {
    await Promise.all([
      blockedInRecv(engine, 'fan', 'b'),
      blockedInRecv(engine, 'fan', 'c'),
      blockedInGetEvent(engine, 'fan'),
      blockedInRecv(engine, 'peer', 'release'),
    ]);
  }

  /** The end of the scenario: messages for c then b (out of index order), then the peer publishes. */
  async function finish(engine: Engine) {
    await engine.send('fan', 'C', 'c');
    await engine.send('fan', 'B', 'b');
    await engine.send('peer', 'go', 'release');
    return engine.retrieveWorkflow('fan').getResult();
  }

  const expected = ['A', undefined, 'B', 'ready after hello from fan-in', 'C', undefined];

  test('Promise.all over sends, recvs, getEvent and setEvent replays with stable indexes after close mid-way and reopen', async () => {
    // Reference: the same scenario without interruption.
    const reference = await openTestEngine();
    await reference.startWorkflow(peerWorkflow, { workflowUUID: 'peer' });
    await reference.startWorkflow(fanIn, { workflowUUID: 'fan' }, 'peer');
    await blockedInRecv(reference, 'fan', 'a');
    await reference.send('fan', 'A', 'a');
    await blockedInAll(reference);
    expect(await finish(reference)).toEqual(expected);
    const referenceOutcomes = await recordedOutcomes(reference, 'fan');
    await reference.close();

    const database = tempDatabasePath();
    const first = await openTestEngine({ database });
    await first.startWorkflow(peerWorkflow, { workflowUUID: 'peer' });
    await first.startWorkflow(fanIn, { workflowUUID: 'fan' }, 'peer');
    await blockedInRecv(first, 'fan', 'a');
    await first.send('fan', 'A', 'a');
    await blockedInAll(first);
    // Mid-way: recv a, send and setEvent recorded; recv b, getEvent and recv c still waiting.
    expect((await operationsOf(first, 'fan')).map(({ operationIndex, kind, completedAt }) => [operationIndex, kind, completedAt !== null])).toEqual([
      [0, 'recv', true],
      [1, 'send', true],
      [2, 'recv', false],
      [3, 'getEvent', false],
      [4, 'recv', false],
      [5, 'setEvent', true],
    ]);
    await first.close();

    const reopened = await openTestEngine({ database });
    expect([...reopened.recovery.resumed].sort()).toEqual(['fan', 'peer']);
    await blockedInAll(reopened);
    expect(await finish(reopened)).toEqual(expected);

    expect(await recordedOutcomes(reopened, 'fan')).toEqual(referenceOutcomes);
    // The send and the setEvent were replayed, not repeated.
    expect((await reopened.listMessages('peer', 'greetings')).map((info) => info.message)).toEqual(['hello from fan-in']);
    expect(await reopened.listEvents('fan')).toEqual({ fanned: true });
    expect((await reopened.listMessages('fan')).map((info) => [info.topic, info.message, info.consumed])).toEqual([
      ['a', 'A', true],
      ['c', 'C', true],
      ['b', 'B', true],
    ]);
    await reopened.close();
  }, 30_000);
});

describe('a workflow messaging itself', () => {
  const selfMail = registerWorkflow('race.selfMail', async (ctxt: WorkflowContext, recvFirst: boolean) => {
    const me = ctxt.workflowUUID;
    if (recvFirst) {
      const [received] = await Promise.all([ctxt.recv<string>('self', 5), ctxt.send(me, 'note to self', 'self')]);
      return received;
    }
    const [, received] = await Promise.all([ctxt.send(me, 'note to self', 'self'), ctxt.recv<string>('self', 5)]);
    return received;
  });

  test.each([true, false])('send to itself and recv in one Promise.all deliver the message at once (recv first: %p)', async (recvFirst) => {
    const engine = await openTestEngine();
    const startedMs = Date.now();
    const handle = await engine.startWorkflow(selfMail, { workflowUUID: `self-${recvFirst}` }, recvFirst);
    expect(await handle.getResult()).toBe('note to self');
    expect(Date.now() - startedMs).toBeLessThan(2_000);
    await engine.close();
  });
});

describe('two recvs on one topic at once', () => {
  const twoAtOnce = registerWorkflow('race.twoAtOnce', async (ctxt: WorkflowContext, gated: boolean, timeoutSeconds: number) => {
    if (gated) await ctxt.recv('gate', 30);
    return Promise.all([ctxt.recv<string>('shared', timeoutSeconds), ctxt.recv<string>('shared', timeoutSeconds)]);
  });

  test('two waiting recvs in Promise.all each get a distinct message', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(twoAtOnce, { workflowUUID: 'two-waiting' }, false, 5);
    await waitStarted(engine, () => waitsOf(engine).filter((wait) => wait.workflowUUID === 'two-waiting').length === 2);
    await engine.send('two-waiting', 'm1', 'shared');
    await engine.send('two-waiting', 'm2', 'shared');
    const received = await handle.getResult();
    expect([...received].sort()).toEqual(['m1', 'm2']);
    expect((await engine.listMessages('two-waiting')).every((info) => info.consumed)).toBe(true);
    await engine.close();
  });

  test('two recvs over queued messages take them in operation order', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(twoAtOnce, { workflowUUID: 'two-queued' }, true, 5);
    await blockedInRecv(engine, 'two-queued', 'gate');
    await engine.send('two-queued', 'm1', 'shared');
    await engine.send('two-queued', 'm2', 'shared');
    await engine.send('two-queued', 'm3', 'shared');
    await engine.send('two-queued', 'open', 'gate');
    expect(await handle.getResult()).toEqual(['m1', 'm2']);
    expect((await engine.listMessages('two-queued', 'shared')).map((info) => info.consumed)).toEqual([true, true, false]);
    await engine.close();
  });

  test('with one message for two waiting recvs, one gets it and the other times out with null', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(twoAtOnce, { workflowUUID: 'one-for-two' }, false, 0.3);
    await waitStarted(engine, () => waitsOf(engine).filter((wait) => wait.workflowUUID === 'one-for-two').length === 2);
    await engine.send('one-for-two', 'only', 'shared');
    const received = await handle.getResult();
    expect([...received].sort()).toEqual(['only', null].sort());
    await engine.close();
  });
});
