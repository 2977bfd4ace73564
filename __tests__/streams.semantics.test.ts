import {
  registerStep,
  registerWorkflow,
  StreamClosedError,
  StreamTimeoutError,
  WorkflowContextError,
  type Engine,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine, openTestKit } from './helpers';
import { blockedInRecv, waitStarted, waitsOf } from './wait-helpers';

/** Writes each value in order, then closes the stream (unless told not to). */
const writer = registerWorkflow('streams.writer', async (ctxt: WorkflowContext, key: string, values: unknown[], close = true) => {
  for (const value of values) await ctxt.writeStream(key, value);
  if (close) await ctxt.closeStream(key);
  return values.length;
});

/** Writes one value per message on 'next' until a message says 'stop'; never closes the stream itself. */
const paced = registerWorkflow('streams.paced', async (ctxt: WorkflowContext, key: string, fail = false) => {
  for (;;) {
    const message = await ctxt.recv<unknown>('next', 60);
    if (message === 'stop' || message === null) break;
    await ctxt.writeStream(key, message);
  }
  if (fail) throw new Error('the job failed');
  return 'done';
});

/** Writes without awaiting each write: the values keep call order. */
const burst = registerWorkflow('streams.burst', async (ctxt: WorkflowContext, count: number) => {
  await Promise.all(Array.from({ length: count }, (_, index) => ctxt.writeStream('burst', index)));
});

/** Writes after closing: the write is a recorded StreamClosedError. */
const afterClose = registerWorkflow('streams.afterClose', async (ctxt: WorkflowContext) => {
  await ctxt.writeStream('log', 'first');
  await ctxt.closeStream('log');
  await ctxt.closeStream('log'); // a second close does nothing
  try {
    await ctxt.writeStream('log', 'too late');
  } catch (error) {
    return error instanceof StreamClosedError ? `${error.code}: ${error.key}` : 'unexpected';
  }
  return 'unreachable';
});

/** Reads another workflow's stream from inside a workflow. */
const collector = registerWorkflow('streams.collector', async (ctxt: WorkflowContext, target: string, key: string, fromOffset: number = 0, timeoutSeconds: number = 60) => {
  const seen: unknown[] = [];
  try {
    for await (const value of ctxt.readStream(target, key, { fromOffset, timeoutSeconds })) seen.push(value);
  } catch (error) {
    if (!(error instanceof StreamTimeoutError)) throw error;
    seen.push(`timeout at ${error.offset}`);
  }
  return seen;
});

let keptStepContext: StepContext | undefined;

const stepWrites = registerStep('streams.stepWrites', async (ctxt: StepContext, values: unknown[]) => {
  for (const value of values) await ctxt.writeStream('from-step', value);
  keptStepContext = ctxt;
  return values.length;
});

const viaStep = registerWorkflow('streams.viaStep', async (ctxt: WorkflowContext, values: unknown[]) => {
  await ctxt.writeStream('from-step', 'from the workflow');
  return ctxt.runStep(stepWrites, values);
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}

/** Resolves once a caller's stream read waits on `key` of `target` at `offset`. */
function readerWaiting(engine: Engine, target: string, key: string, offset: number) {
  return waitStarted(engine, (wait) => wait.kind === 'readStream' && wait.workflowUUID === null && wait.targetUUID === target && wait.key === key && wait.offset === offset);
}

describe('writing and reading in order', () => {
  test('a reader gets every value in the order written, then the end at closeStream', async () => {
    const engine = await openTestEngine();
    const values = [1, 'two', { three: 3 }, null, [5], new Date('2026-01-01T00:00:00Z'), new Map([['seven', 7n]])];
    await (await engine.startWorkflow(writer, { workflowUUID: 'w-order' }, 'numbers', values)).getResult();
    expect(await collect(engine.readStream('w-order', 'numbers'))).toEqual(values);
    expect(await collect(engine.readStream('w-order', 'numbers', { fromOffset: 4 }))).toEqual(values.slice(4));
    expect(await collect(engine.readStream('w-order', 'numbers', { fromOffset: 99 }))).toEqual([]);
    expect(await engine.listStreams('w-order')).toEqual([{ key: 'numbers', length: values.length, closed: true }]);
    await engine.close();
  });

  test('1,000 writes fired without awaiting each one are stored in the order the calls were made', async () => {
    const engine = await openTestEngine();
    await (await engine.startWorkflow(burst, { workflowUUID: 'w-burst' }, 1000)).getResult();
    expect(await collect(engine.readStream('w-burst', 'burst'))).toEqual(Array.from({ length: 1000 }, (_, index) => index));
    await engine.close();
  });

  test('a reader that starts before the writer exists waits for it and gets each value as it commits', async () => {
    const engine = await openTestEngine();
    const reader = engine.readStream<string>('w-later', 'progress');
    const first = reader.next();
    await readerWaiting(engine, 'w-later', 'progress', 0);
    await engine.startWorkflow(paced, { workflowUUID: 'w-later' }, 'progress');
    await blockedInRecv(engine, 'w-later');
    await engine.send('w-later', '10%', 'next');
    expect(await first).toEqual({ done: false, value: '10%' });
    const second = reader.next();
    await readerWaiting(engine, 'w-later', 'progress', 1);
    await engine.send('w-later', '20%', 'next');
    expect(await second).toEqual({ done: false, value: '20%' });
    const third = reader.next();
    await engine.send('w-later', 'stop', 'next');
    // The workflow ended without closing the stream: its end is the stream's end.
    expect(await third).toEqual({ done: true, value: undefined });
    expect(await reader.next()).toEqual({ done: true, value: undefined });
    expect(await engine.listStreams('w-later')).toEqual([{ key: 'progress', length: 2, closed: true }]);
    await engine.close();
  });

  test('a stream ends when its workflow finishes in ERROR, after every value before it', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(paced, { workflowUUID: 'w-fails' }, 'log', true);
    await blockedInRecv(engine, 'w-fails');
    for (const line of ['a', 'b', 'stop']) await engine.send('w-fails', line, 'next');
    await expect(handle.getResult()).rejects.toThrow('the job failed');
    expect(await collect(engine.readStream('w-fails', 'log'))).toEqual(['a', 'b']);
    await engine.close();
  });

  test('writing after closeStream is a recorded StreamClosedError; a second close does nothing', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(afterClose, { workflowUUID: 'w-closed' });
    expect(await handle.getResult()).toBe('STREAM_CLOSED: log');
    expect(await collect(engine.readStream('w-closed', 'log'))).toEqual(['first']);
    const operations = await engine.listOperations('w-closed');
    expect(operations.map((operation) => [operation.kind, operation.output, operation.error?.name ?? null])).toEqual([
      ['writeStream', 0, null],
      ['closeStream', undefined, null],
      ['closeStream', undefined, null],
      ['writeStream', undefined, 'StreamClosedError'],
    ]);
    await engine.close();
  });

  test('listStreams: every stream in the order first written, with its length; an unknown UUID has none', async () => {
    const engine = await openTestEngine();
    const handle = await engine.startWorkflow(paced, { workflowUUID: 'w-list' }, 'open');
    const firstRecv = await blockedInRecv(engine, 'w-list');
    // On an asynchronous store the send resolves before the woken recv has ended: the next recv is
    // the one to wait for, once the stream write before it committed.
    const firstEnded = new Promise<void>((resolve) => {
      const ended = (wait: unknown): void => {
        if (wait !== firstRecv) return;
        engine.events.off('waitEnded', ended);
        resolve();
      };
      engine.events.on('waitEnded', ended);
    });
    await engine.send('w-list', 'x', 'next');
    await firstEnded;
    await blockedInRecv(engine, 'w-list');
    expect(await engine.listStreams('w-list')).toEqual([{ key: 'open', length: 1, closed: false }]);
    expect(await engine.listStreams('nobody')).toEqual([]);
    await engine.send('w-list', 'stop', 'next');
    await handle.getResult();
    expect(await engine.listStreams('w-list')).toEqual([{ key: 'open', length: 1, closed: true }]);
    await engine.close();
  });
});

describe('timeouts and leaving early', () => {
  test('timeoutSeconds bounds the wait for each value: it throws StreamTimeoutError, never a silent end', async () => {
    const t = await openTestKit();
    await t.engine.startWorkflow(paced, { workflowUUID: 'w-slow' }, 'ticks');
    await t.waitUntilBlocked('w-slow', { kind: 'recv' });
    await t.engine.send('w-slow', 'tick', 'next');
    const reader = t.engine.readStream<string>('w-slow', 'ticks', { timeoutSeconds: 5 });
    expect(await reader.next()).toEqual({ done: false, value: 'tick' });
    const second = reader.next();
    const failure = expect(second).rejects.toMatchObject({ name: 'StreamTimeoutError', code: 'STREAM_TIMEOUT', workflowUUID: 'w-slow', key: 'ticks', offset: 1, timeoutSeconds: 5 });
    await t.advance(5);
    await failure;
    // The reader is done; a new one picks up where the timeout left off.
    expect(await reader.next()).toEqual({ done: true, value: undefined });
    await t.engine.send('w-slow', 'tock', 'next');
    expect(await t.engine.readStream('w-slow', 'ticks', { fromOffset: 1, timeoutSeconds: 5 }).next()).toEqual({ done: false, value: 'tock' });
    // 0 reads what is there without waiting.
    await expect(collect(t.engine.readStream('w-slow', 'ticks', { timeoutSeconds: 0 }))).rejects.toBeInstanceOf(StreamTimeoutError);
    await t.close();
  });

  test('break out of for await ends the reader and its wait at once', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(paced, { workflowUUID: 'w-break' }, 'ticks');
    await blockedInRecv(engine, 'w-break');
    await engine.send('w-break', 'one', 'next');
    const seen: string[] = [];
    for await (const value of engine.readStream<string>('w-break', 'ticks')) {
      seen.push(value);
      break;
    }
    expect(seen).toEqual(['one']);
    // return() while a read waits: the wait ends and the read resolves as done.
    const reader = engine.readStream<string>('w-break', 'ticks', { fromOffset: 1 });
    const pending = reader.next();
    await readerWaiting(engine, 'w-break', 'ticks', 1);
    await reader.return!();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(waitsOf(engine).filter((wait) => wait.kind === 'readStream')).toEqual([]);
    await engine.close();
  });

  test('closing the engine ends a waiting read with EngineClosedError', async () => {
    const engine = await openTestEngine();
    const pending = engine.readStream('nobody-yet', 'ticks').next();
    await readerWaiting(engine, 'nobody-yet', 'ticks', 0);
    await engine.close();
    await expect(pending).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  });
});

describe('reading inside a workflow', () => {
  test('a workflow reads another workflow’s stream to its end, each value recorded with its offset', async () => {
    const engine = await openTestEngine();
    await engine.startWorkflow(writer, { workflowUUID: 'w-source' }, 'items', ['a', 'b', 'c']);
    const handle = await engine.startWorkflow(collector, { workflowUUID: 'w-reader' }, 'w-source', 'items', 1);
    expect(await handle.getResult()).toEqual(['b', 'c']);
    const operations = await engine.listOperations('w-reader');
    expect(operations.map((operation) => [operation.kind, operation.output])).toEqual([
      ['readStream', { offset: 1, value: 'b' }],
      ['readStream', { offset: 2, value: 'c' }],
      ['readStream', { offset: 3, end: true }],
    ]);
    await engine.close();
  });

  test('a workflow read that times out records it, and a replay throws the same StreamTimeoutError', async () => {
    const t = await openTestKit();
    await t.engine.startWorkflow(paced, { workflowUUID: 'w-quiet' }, 'silence');
    const handle = await t.engine.startWorkflow(collector, { workflowUUID: 'w-waiting' }, 'w-quiet', 'silence', 0, 10);
    await t.waitUntilBlocked('w-waiting', { kind: 'readStream' });
    await t.advance(10);
    expect(await handle.getResult()).toEqual(['timeout at 0']);
    const operations = await t.engine.listOperations('w-waiting');
    expect(operations.map((operation) => [operation.kind, operation.output])).toEqual([['readStream', { offset: 0, timeout: true }]]);
    await t.close();
  });
});

describe('writing from a step', () => {
  test('a step writes to its workflow’s stream, after the workflow’s own earlier write', async () => {
    const engine = await openTestEngine();
    expect(await (await engine.startWorkflow(viaStep, { workflowUUID: 'w-step' }, ['s1', 's2'])).getResult()).toBe(2);
    expect(await collect(engine.readStream('w-step', 'from-step'))).toEqual(['from the workflow', 's1', 's2']);
    // The workflow finished: its stream takes no more, and the context of a step that returned refuses.
    await expect(keptStepContext!.writeStream('from-step', 'late')).rejects.toBeInstanceOf(WorkflowContextError);
    expect((await engine.listStreams('w-step'))[0]).toEqual({ key: 'from-step', length: 3, closed: true });
    // The step's writes are not operations of the workflow.
    expect((await engine.listOperations('w-step')).map((operation) => operation.kind)).toEqual(['writeStream', 'step']);
    await engine.close();
  });

  test('closeStream and readStream belong to workflows: a step and an engine refuse them', async () => {
    const engine = await openTestEngine();
    const refuse = registerStep('streams.refuse', async (ctxt: StepContext) => {
      const context = ctxt as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const failures: string[] = [];
      for (const name of ['closeStream', 'readStream']) {
        await context[name]!('k').catch((error: Error) => failures.push(`${name}: ${error.name}`));
      }
      return { failures, has: ['closeStream', 'readStream', 'writeStream'].map((name) => name in ctxt) };
    });
    const refuser = registerWorkflow('streams.refuser', async (ctxt: WorkflowContext) => ctxt.runStep(refuse));
    expect(await (await engine.startWorkflow(refuser, { workflowUUID: 'w-refuse' })).getResult()).toEqual({
      failures: ['closeStream: WorkflowContextError', 'readStream: WorkflowContextError'],
      has: [false, false, true],
    });
    const plain = engine as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await expect(plain.writeStream!('k', 1)).rejects.toBeInstanceOf(WorkflowContextError);
    await expect(plain.closeStream!('k')).rejects.toBeInstanceOf(WorkflowContextError);
    expect('writeStream' in engine).toBe(false);
    await engine.close();
  });
});
