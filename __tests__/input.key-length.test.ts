// Names, keys, topics and UUIDs are at most 1,024 bytes in UTF-8, on every store (MAX_KEY_BYTES in
// lib/validate.ts). One of exactly 1,024 bytes is stored and found again, on PostgreSQL too, whose
// btree indexes hold two such values in one entry; one of 1,025 bytes is refused with RangeError at
// the call, from the Engine, a workflow, a Client and the CLI alike, before anything is written.
import { Client, registerStep, registerWorkflow, type StepContext, type WorkflowContext } from '../lib';
import { runCli } from './cli-runner';
import { openTestEngine, testDatabase } from './helpers';
import { blockedInRecv } from './wait-helpers';

/**
 * A string of exactly `bytes` UTF-8 bytes: `tag`, then two-byte characters (the limit counts bytes,
 * not characters: 1,024 bytes of them are 512 characters).
 */
function ofBytes(tag: string, bytes: number): string {
  const rest = bytes - tag.length;
  const text = `${tag}${'é'.repeat(Math.floor(rest / 2))}${rest % 2 === 1 ? 'k' : ''}`;
  if (Buffer.byteLength(text, 'utf8') !== bytes) throw new Error(`ofBytes made ${Buffer.byteLength(text, 'utf8')} bytes, not ${bytes}`);
  return text;
}

const LONGEST = 1024;
// A UUID of four-byte characters (surrogate pairs in JavaScript): 256 of them are 1,024 bytes.
const uuid = '😀'.repeat(LONGEST / 4);
const topic = ofBytes('topic:', LONGEST);
const eventKey = ofBytes('event:', LONGEST);
const streamKey = ofBytes('stream:', LONGEST);
const idempotencyKey = ofBytes('delivery:', LONGEST);
const workflowName = ofBytes('workflow:', LONGEST);
const stepName = ofBytes('step:', LONGEST);

const echo = registerStep(stepName, (_ctxt: StepContext, value: string) => value);
const child = registerWorkflow('keyLength.child', async (_ctxt: WorkflowContext, value: string) => value);

/** Every key at its longest: receives on `topic`, sets `eventKey`, writes `streamKey`, starts a child. */
const longest = registerWorkflow(workflowName, async (ctxt: WorkflowContext) => {
  const message = await ctxt.recv<string>(topic, 30);
  await ctxt.setEvent(eventKey, await ctxt.runStep(echo, `got ${message}`));
  await ctxt.writeStream(streamKey, 'entry');
  await ctxt.closeStream(streamKey);
  const handle = await ctxt.startChildWorkflow(child, 'from the child');
  return { childUUID: handle.getWorkflowUUID(), childResult: await handle.getResult() };
});

describe('names, keys, topics and UUIDs of 1,024 UTF-8 bytes', () => {
  test('are stored and found again: the workflow, its message, event, stream and step, and its child', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(longest, { workflowUUID: uuid });
    await blockedInRecv(engine, uuid, topic);
    await engine.send(uuid, 'hello', topic, idempotencyKey);
    await engine.send(uuid, 'hello again', topic, idempotencyKey); // the same key: stores nothing

    const { childUUID, childResult } = await engine.retrieveWorkflow<{ childUUID: string; childResult: string }>(uuid).getResult();
    expect(childResult).toBe('from the child');
    expect(await engine.getEvent(uuid, eventKey, 0)).toBe('got hello');
    const entries: unknown[] = [];
    for await (const entry of engine.readStream(uuid, streamKey)) entries.push(entry);
    expect(entries).toEqual(['entry']);
    expect(await engine.listMessages(uuid, topic)).toEqual([expect.objectContaining({ message: 'hello', consumed: true })]);
    expect((await engine.retrieveWorkflow(uuid).getStatus())?.workflowName).toBe(workflowName);
    expect((await engine.listOperations(uuid)).map((operation) => operation.name)).toContain(stepName);
    // The parent's UUID leaves no room for `-<index>`: the child's UUID is made to fit, and works.
    expect(Buffer.byteLength(childUUID, 'utf8')).toBeLessThanOrEqual(LONGEST);
    expect(await engine.retrieveWorkflow(childUUID).getResult()).toBe('from the child');
    await engine.close();
  });
});

describe('names, keys, topics and UUIDs of 1,025 UTF-8 bytes are refused with RangeError before anything is written', () => {
  const tooLong = (tag: string) => ofBytes(tag, LONGEST + 1);

  /** Tries each value where it may not go, from inside a workflow; returns what each attempt threw. */
  const attempter = registerWorkflow('keyLength.attempter', async (ctxt: WorkflowContext) => {
    const attempts: Record<string, () => Promise<unknown>> = {
      setEvent: () => ctxt.setEvent(tooLong('event:'), 'v'),
      getEvent: () => ctxt.getEvent('someone', tooLong('event:'), 0),
      sendTo: () => ctxt.send(tooLong('uuid:'), 'm'),
      sendOn: () => ctxt.send('someone', 'm', tooLong('topic:')),
      recv: () => ctxt.recv(tooLong('topic:'), 0),
      recvAny: () => ctxt.recvAny(['fine', tooLong('topic:')], 0),
      select: () => ctxt.select([{ getEvent: { workflowUUID: 'someone', key: tooLong('event:') } }], 0),
      writeStream: () => ctxt.writeStream(tooLong('stream:'), 'v'),
      closeStream: () => ctxt.closeStream(tooLong('stream:')),
    };
    const thrown: Record<string, string> = {};
    for (const [name, attempt] of Object.entries(attempts)) {
      try {
        await attempt();
        thrown[name] = 'nothing';
      } catch (error) {
        thrown[name] = (error as Error).name;
      }
    }
    return thrown;
  });

  test('from the engine and inside a workflow', async () => {
    const engine = await openTestEngine();
    const calls: [string, () => unknown][] = [
      ['startWorkflow', () => engine.startWorkflow(child, { workflowUUID: tooLong('uuid:') }, 'x')],
      ['send to', () => engine.send(tooLong('uuid:'), 'm', 'inbox')],
      ['send on', () => engine.send('someone', 'm', tooLong('topic:'))],
      ['send with idempotency key', () => engine.send('someone', 'm', 'inbox', tooLong('delivery:'))],
      ['sendMany', () => engine.sendMany([{ destinationUUID: 'someone', message: 'm', topic: tooLong('topic:') }])],
      ['getEvent', () => engine.getEvent('someone', tooLong('event:'), 0)],
      ['retrieveWorkflow', () => engine.retrieveWorkflow(tooLong('uuid:'))],
      ['fork', () => engine.forkWorkflow('someone', { fromOperation: 0, newWorkflowUUID: tooLong('uuid:') })],
      ['registerWorkflow', () => registerWorkflow(tooLong('workflow:'), async () => {})],
      ['registerStep', () => registerStep(tooLong('step:'), () => {})],
    ];
    const refusedWith: Record<string, string> = {};
    for (const [name, call] of calls) {
      refusedWith[name] = await (async () => call())().then(() => 'nothing', (error: Error) => error.name);
    }
    expect(refusedWith).toEqual(Object.fromEntries(calls.map(([name]) => [name, 'RangeError'])));
    // Phrased in the house style, with the length in bytes.
    await expect(engine.getEvent('someone', 'k'.repeat(LONGEST + 1), 0)).rejects.toThrow(
      `Expected \`key\` to be at most 1024 bytes in UTF-8 (the longest name, key, topic or UUID every store can index), got \`"${'k'.repeat(56)}...\` (string) of 1025 bytes`,
    );

    const thrown = await (await engine.startWorkflow(attempter, { workflowUUID: 'attempts' })).getResult();
    expect(thrown).toEqual({
      setEvent: 'RangeError', getEvent: 'RangeError', sendTo: 'RangeError', sendOn: 'RangeError', recv: 'RangeError',
      recvAny: 'RangeError', select: 'RangeError', writeStream: 'RangeError', closeStream: 'RangeError',
    });
    // Nothing was written: no operation of the attempts was recorded, no message, event or workflow stored.
    expect(await engine.listOperations('attempts')).toEqual([]);
    expect((await engine.listWorkflows()).map((workflow) => workflow.workflowUUID)).toEqual(['attempts']);
    expect(await engine.listMessages('someone')).toEqual([]);
    expect(await engine.listEvents('attempts')).toEqual({});
    await engine.close();
  });

  test('from a Client and from the command line', async () => {
    const database = await testDatabase('key-length');
    const engine = await openTestEngine({ database });
    const client = await Client.open({ database });
    try {
      await expect(client.startWorkflow(tooLong('workflow:'), { workflowUUID: 'by-name' })).rejects.toThrow(RangeError);
      await expect(client.startWorkflow('keyLength.child', { workflowUUID: tooLong('uuid:') }, 'x')).rejects.toThrow(RangeError);
      await expect(client.send('someone', 'm', tooLong('topic:'))).rejects.toThrow(RangeError);
      await expect(client.getEvent('someone', tooLong('event:'), 0)).rejects.toThrow(RangeError);
    } finally {
      await client.close();
    }

    const cli = await runCli('send', 'someone', 'm', '--db', database, '--topic', tooLong('topic:'));
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('Expected `topic` to be at most 1024 bytes in UTF-8');

    expect(await engine.listWorkflows()).toEqual([]);
    expect(await engine.listMessages('someone')).toEqual([]);
    await engine.close();
  });
});
