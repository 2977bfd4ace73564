// One store-level suite, run against SqliteStore and PostgresStore alike: every store method called
// directly (each answer awaited, and its commit), and the same results expected of both. Tests that
// only mean something on one store (concurrent transactions, a broken connection) follow, in a block
// of their own.
import { StorageError, WorkflowCancelledError, WorkflowNotFoundError } from '../lib/errors';
import { PostgresStore } from '../lib/postgres/postgres-store';
import { SqliteStore } from '../lib/store/sqlite-store';
import type { AttemptResult, Commit, RecoveryDecisions, Store, WaitPlan, Written } from '../lib/store/store';
import type { OperationKind, OperationPosition } from '../lib/types';
import { createTestDatabase, withClient } from './postgres-helpers';

type Awaitable<T> = T | Promise<T>;

interface OpenedStore {
  store: Store;
  close(): Promise<void>;
}

const kinds: [string, () => Promise<OpenedStore>][] = [
  ['SqliteStore', async () => {
    const store = SqliteStore.open(':memory:', 'FULL');
    return { store, close: async () => store.close() };
  }],
  ['PostgresStore', async () => {
    const { url } = await createTestDatabase();
    const store = await PostgresStore.open(url);
    return { store, close: () => store.closeAsync() };
  }],
];

/** The value of a write, once its commit landed. */
async function valueOf<T>(written: Awaitable<Written<T>>): Promise<T> {
  const { value, commit } = await written;
  await commit.durable;
  return value;
}

async function committed(commit: Awaitable<Commit>): Promise<void> {
  await (await commit).durable;
}

/** What an attempt recorded (its value), or undefined when it found nothing. */
async function found(result: Awaitable<AttemptResult>): Promise<string | undefined> {
  const answer = await result;
  await answer.commit.durable;
  return answer.found ? answer.value : undefined;
}

/** A call as a promise, whether the store throws synchronously (SQLite) or rejects. */
async function call<T>(run: () => Awaitable<T>): Promise<T> {
  return run();
}

function at(workflowUUID: string, operationIndex: number, kind: OperationKind = 'step', name = kind): OperationPosition {
  return { workflowUUID, operationIndex, kind, name };
}

const NOW = 1_000_000;
const waitUntil = (deadlineMs: number, waitDetail = 'detail'): WaitPlan => ({ deadlineMs, waitDetail });
const cancelReason = (uuid: string): string => JSON.stringify(`cancelled ${uuid}`);
const noDecisions: RecoveryDecisions = { attempts: [], givenUp: [], failed: [], readOperations: true };

describe.each(kinds)('%s', (_kind, open) => {
  let opened: OpenedStore;
  let store: Store;

  beforeEach(async () => {
    opened = await open();
    store = opened.store;
  });

  afterEach(async () => {
    await opened.close();
  });

  const start = (uuid: string, name = 'W', deadlineMs: number | null = null, nowMs = NOW): Promise<boolean> => valueOf(store.startWorkflow(uuid, name, '[]', nowMs, deadlineMs));
  const send = (destination: string, message: string, topic: string | null = null, key: string | null = null): Promise<string> => valueOf(store.send(destination, message, topic, key, NOW));
  const recv = (uuid: string, index: number, topic: string | null = null, wait: WaitPlan | null = null, phase: 'first' | 'resumed' = 'first'): Promise<string | undefined> =>
    found(store.receive(at(uuid, index, 'recv'), phase, topic, wait, NOW));

  describe('workflows', () => {
    test('startWorkflow inserts a PENDING workflow once; a duplicate UUID changes nothing', async () => {
      expect(await start('a', 'First', 5000)).toBe(true);
      expect(await valueOf(store.startWorkflow('a', 'Second', '[1]', NOW + 1))).toBe(false);
      expect(await store.workflows.get('a')).toEqual({
        workflowUUID: 'a', workflowName: 'First', status: 'PENDING', inputs: '[]', output: null, error: null,
        parentUUID: null, recoveryAttempts: 0, deadlineMs: 5000, createdAt: NOW, updatedAt: NOW,
      });
      expect(await store.workflows.get('missing')).toBeUndefined();
      expect(await store.workflows.controlState('a')).toEqual({ status: 'PENDING', error: null, deadlineMs: 5000 });
    });

    test('startChildWorkflow takes the first free candidate and records it; null when all are taken', async () => {
      await start('parent');
      await start('taken');
      expect(await valueOf(store.startChildWorkflow(at('parent', 0, 'child'), ['taken', 'free', 'other'], 'Child', '[2]', null, NOW))).toBe('free');
      expect((await store.workflows.get('free'))).toMatchObject({ parentUUID: 'parent', workflowName: 'Child', inputs: '[2]', status: 'PENDING' });
      expect((await store.operations.listForWorkflow('parent'))[0]).toMatchObject({ operationIndex: 0, kind: 'child', output: '"free"', completedAt: NOW });
      expect(await valueOf(store.startChildWorkflow(at('parent', 1, 'child'), ['taken', 'free'], 'Child', '[]', null, NOW))).toBeNull();
      expect(await store.operations.listForWorkflow('parent')).toHaveLength(1);
    });

    test('finishWorkflow records the outcome of a PENDING workflow only', async () => {
      await start('a');
      expect(await valueOf(store.finishWorkflow('a', 'SUCCESS', '1', null, NOW + 5))).toBe(true);
      expect(await valueOf(store.finishWorkflow('a', 'ERROR', null, '"e"', NOW + 6))).toBe(false);
      expect(await store.workflows.get('a')).toMatchObject({ status: 'SUCCESS', output: '1', error: null, updatedAt: NOW + 5 });
      expect(await valueOf(store.finishWorkflow('missing', 'SUCCESS', null, null, NOW))).toBe(false);
    });

    test('list filters by status and name, in creation order, with a limit', async () => {
      await start('c', 'X', null, NOW + 2);
      await start('a', 'Y', null, NOW);
      await start('b', 'X', null, NOW + 1);
      await valueOf(store.finishWorkflow('b', 'SUCCESS', null, null, NOW + 3));
      const uuids = async (filter?: Parameters<Store['workflows']['list']>[0]): Promise<string[]> => (await store.workflows.list(filter)).map((w) => w.workflowUUID);
      expect(await uuids()).toEqual(['a', 'b', 'c']);
      expect(await uuids({ workflowName: 'X' })).toEqual(['b', 'c']);
      expect(await uuids({ status: 'PENDING' })).toEqual(['a', 'c']);
      expect(await uuids({ status: 'PENDING', workflowName: 'X' })).toEqual(['c']);
      expect(await uuids({ limit: 2 })).toEqual(['a', 'b']);
    });
  });

  describe('operations', () => {
    test('recordOutcome records first and resumed attempts; refuses a CANCELLED or missing workflow unless evenIfCancelled', async () => {
      await start('a');
      await committed(store.recordOutcome(at('a', 0), 'first', '1', null, NOW));
      await committed(store.startWait({ ...at('a', 1, 'sleep'), ...waitUntil(NOW + 50) }, NOW));
      await committed(store.recordOutcome(at('a', 1, 'sleep'), 'resumed', null, null, NOW + 50));
      expect(await store.operations.listForWorkflow('a')).toEqual([
        { workflowUUID: 'a', operationIndex: 0, kind: 'step', name: 'step', output: '1', error: null, deadlineMs: null, waitDetail: null, startedAt: NOW, completedAt: NOW },
        { workflowUUID: 'a', operationIndex: 1, kind: 'sleep', name: 'sleep', output: null, error: null, deadlineMs: NOW + 50, waitDetail: 'detail', startedAt: NOW, completedAt: NOW + 50 },
      ]);
      // A resumed attempt whose wait has no start record writes nothing.
      await expect(call(() => store.recordOutcome(at('a', 7), 'resumed', '1', null, NOW))).rejects.toThrow('no started wait');

      await store.cancelWorkflow('a', false, cancelReason, null, NOW);
      await expect(call(() => store.recordOutcome(at('a', 2), 'first', '2', null, NOW))).rejects.toThrow(WorkflowCancelledError);
      await committed(store.recordOutcome(at('a', 2), 'first', '2', null, NOW, true));
      await expect(call(() => store.recordOutcome(at('missing', 0), 'first', '2', null, NOW))).rejects.toThrow(WorkflowNotFoundError);
      await expect(call(() => store.recordOutcome(at('missing', 0), 'first', '2', null, NOW, true))).rejects.toThrow(WorkflowNotFoundError);
      await expect(call(() => store.startWait({ ...at('a', 3, 'sleep'), ...waitUntil(NOW) }, NOW))).rejects.toThrow(WorkflowCancelledError);
      await expect(call(() => store.refuseIfCancelled('a'))).rejects.toThrow(WorkflowCancelledError);
      await expect(call(() => store.refuseIfCancelled('missing'))).rejects.toThrow(WorkflowNotFoundError);
      expect((await store.operations.listForWorkflow('a')).map((o) => o.operationIndex)).toEqual([0, 1, 2]);
    });

    test('recordStepFailure keeps the step started with its next attempt as deadline', async () => {
      await start('a');
      await committed(store.recordStepFailure({ ...at('a', 0), ...waitUntil(NOW + 10, '1') }, 'first', NOW));
      await committed(store.recordStepFailure({ ...at('a', 0), ...waitUntil(NOW + 30, '2') }, 'resumed', NOW + 10));
      expect(await store.operations.listForWorkflow('a')).toEqual([expect.objectContaining({ deadlineMs: NOW + 30, waitDetail: '2', completedAt: null })]);
      await expect(call(() => store.recordStepFailure({ ...at('a', 1), ...waitUntil(NOW) }, 'resumed', NOW))).rejects.toThrow('no started step');
    });

    test('listWaits lists the waits of PENDING workflows, soonest deadline first', async () => {
      await start('a', 'A', null, NOW);
      await start('b', 'B', null, NOW + 1);
      await committed(store.startWait({ ...at('a', 0, 'sleep'), ...waitUntil(NOW + 300) }, NOW));
      await committed(store.startWait({ ...at('b', 0, 'sleep'), ...waitUntil(NOW + 100) }, NOW));
      await committed(store.startWait({ ...at('b', 1, 'sleep'), ...waitUntil(NOW + 200) }, NOW));
      await start('done');
      await committed(store.startWait({ ...at('done', 0, 'sleep'), ...waitUntil(NOW) }, NOW));
      await valueOf(store.finishWorkflow('done', 'SUCCESS', null, null, NOW));
      const waits = await store.operations.listWaits();
      expect(waits.map((w) => [w.workflowUUID, w.operationIndex, w.workflowName])).toEqual([['b', 0, 'B'], ['b', 1, 'B'], ['a', 0, 'A']]);
      expect((await store.operations.listWaits('a')).map((w) => w.deadlineMs)).toEqual([NOW + 300]);
    });
  });

  describe('messages', () => {
    test('send refuses a missing or CANCELLED destination and skips a used idempotency key', async () => {
      await start('d');
      expect(await send('missing', '1')).toBe('not-found');
      expect(await send('d', '1', null, 'k')).toBe('sent');
      expect(await send('d', '2', null, 'k')).toBe('duplicate');
      expect(await send('d', '3', 'topic', null)).toBe('sent');
      expect((await store.messages.list('d')).map((m) => [m.message, m.topic, m.idempotencyKey, m.consumed])).toEqual([['1', null, 'k', false], ['3', 'topic', null, false]]);
      expect((await store.messages.list('d', 'topic')).map((m) => m.message)).toEqual(['3']);
      expect((await store.messages.list('d', null)).map((m) => m.message)).toEqual(['1']);
      await store.cancelWorkflow('d', false, cancelReason, null, NOW);
      expect(await send('d', '4')).toBe('cancelled');
    });

    test('sendMany inserts all or nothing, in array order, and skips used keys', async () => {
      await start('a');
      await start('b');
      await start('c');
      await store.cancelWorkflow('c', false, cancelReason, null, NOW);
      const message = (destinationUUID: string, text: string, idempotencyKey: string | null = null) => ({ destinationUUID, message: text, topic: null, idempotencyKey });
      expect(await valueOf(store.sendMany([message('a', '1'), message('missing', '2'), message('c', '3')], NOW))).toEqual({ notFound: 'missing' });
      expect(await valueOf(store.sendMany([message('a', '1'), message('c', '3'), message('missing', '2')], NOW))).toEqual({ notFound: null, cancelled: 'c' });
      expect(await store.messages.list('a')).toEqual([]);
      expect(await valueOf(store.sendMany([message('b', '1', 'k'), message('a', '2'), message('b', '3', 'k'), message('b', '4')], NOW))).toEqual({ notFound: null, inserted: [true, true, false, true] });
      expect((await store.messages.list('b')).map((m) => m.message)).toEqual(['1', '4']);
    });

    test('sendFromWorkflow sends and records, or records the refusal', async () => {
      await start('from');
      await start('to');
      const refusal = (kind: string): string => JSON.stringify(kind);
      expect(await valueOf(store.sendFromWorkflow(at('from', 0, 'send'), 'to', '"hi"', 't', refusal, NOW))).toBe('sent');
      expect(await valueOf(store.sendFromWorkflow(at('from', 1, 'send'), 'missing', '"hi"', null, refusal, NOW))).toBe('not-found');
      await store.cancelWorkflow('to', false, cancelReason, null, NOW);
      expect(await valueOf(store.sendFromWorkflow(at('from', 2, 'send'), 'to', '"hi"', null, refusal, NOW))).toBe('cancelled');
      expect((await store.operations.listForWorkflow('from')).map((o) => [o.output, o.error])).toEqual([[null, null], [null, '"not-found"'], [null, '"cancelled"']]);
      expect((await store.messages.list('to')).map((m) => m.message)).toEqual(['"hi"']);
      await store.cancelWorkflow('from', false, cancelReason, null, NOW);
      await expect(call(() => store.sendFromWorkflow(at('from', 3, 'send'), 'to', '1', null, refusal, NOW))).rejects.toThrow(WorkflowCancelledError);
    });

    test('receive consumes FIFO per topic; a wait starts, resumes, finds nothing or times out', async () => {
      await start('d');
      await send('d', '1');
      await send('d', '2', 't');
      await send('d', '3');
      expect(await recv('d', 0)).toBe('1');
      expect(await recv('d', 1, 't')).toBe('2');
      expect(await recv('d', 2)).toBe('3');
      // Nothing there: the wait starts with its deadline.
      expect(await recv('d', 3, null, waitUntil(NOW + 100, 'recv'))).toBeUndefined();
      expect((await store.operations.listWaits('d')).map((w) => [w.operationIndex, w.deadlineMs, w.waitDetail])).toEqual([[3, NOW + 100, 'recv']]);
      // Resumed with nothing there: nothing written.
      expect(await recv('d', 3, null, waitUntil(NOW + 100, 'recv'), 'resumed')).toBeUndefined();
      await send('d', '4');
      expect(await recv('d', 3, null, waitUntil(NOW + 100, 'recv'), 'resumed')).toBe('4');
      // No wait (timeout): null is recorded.
      expect(await recv('d', 4)).toBe('null');
      expect((await store.operations.listForWorkflow('d')).map((o) => [o.operationIndex, o.output, o.completedAt])).toEqual([
        [0, '1', NOW], [1, '2', NOW], [2, '3', NOW], [3, '4', NOW], [4, 'null', NOW],
      ]);
      expect((await store.messages.list('d')).every((m) => m.consumed && m.consumedAt === NOW)).toBe(true);
      await store.cancelWorkflow('d', false, cancelReason, null, NOW);
      await expect(call(() => store.receive(at('d', 5, 'recv'), 'first', null, null, NOW))).rejects.toThrow(WorkflowCancelledError);
    });
  });

  describe('events', () => {
    test('setEvent keeps the first value and records the duplicate; readEvent reads, waits, times out', async () => {
      await start('a');
      await start('reader');
      expect(await valueOf(store.setEvent(at('a', 0, 'setEvent'), 'k', '1', () => '"dup"', NOW))).toBe(true);
      expect(await valueOf(store.setEvent(at('a', 1, 'setEvent'), 'k', '2', () => '"dup"', NOW))).toBe(false);
      expect(await store.events.getValue('a', 'k')).toBe('1');
      expect(await store.events.getValue('a', 'other')).toBeUndefined();
      expect(await store.events.listForWorkflow('a')).toEqual([{ workflowUUID: 'a', key: 'k', value: '1', createdAt: NOW }]);
      expect((await store.operations.listForWorkflow('a')).map((o) => o.error)).toEqual([null, '"dup"']);
      expect(store.isEventUncommitted('a', 'k')).toBe(false);

      expect(await found(store.readEvent(at('reader', 0, 'getEvent'), 'first', 'a', 'k', null, NOW))).toBe('1');
      expect(await found(store.readEvent(at('reader', 1, 'getEvent'), 'first', 'a', 'later', waitUntil(NOW + 5), NOW))).toBeUndefined();
      expect(await found(store.readEvent(at('reader', 1, 'getEvent'), 'resumed', 'a', 'later', waitUntil(NOW + 5), NOW))).toBeUndefined();
      await valueOf(store.setEvent(at('a', 2, 'setEvent'), 'later', '3', () => '"dup"', NOW));
      expect(await found(store.readEvent(at('reader', 1, 'getEvent'), 'resumed', 'a', 'later', waitUntil(NOW + 5), NOW))).toBe('3');
      expect(await found(store.readEvent(at('reader', 2, 'getEvent'), 'first', 'a', 'never', null, NOW))).toBe('null');

      await store.cancelWorkflow('a', false, cancelReason, null, NOW);
      await expect(call(() => store.setEvent(at('a', 3, 'setEvent'), 'x', '1', () => '"dup"', NOW))).rejects.toThrow(WorkflowCancelledError);
    });
  });

  describe('select', () => {
    test('the oldest message across recv branches wins, and only it is consumed', async () => {
      await start('s');
      await send('s', '"b1"', 'b');
      await send('s', '"a1"', 'a');
      expect(await found(store.select(at('s', 0, 'select'), 'first', [{ recv: 'a' }, { recv: 'b' }], null, NOW))).toBe('{"index":1,"value":"b1"}');
      expect((await store.messages.list('s')).map((m) => [m.message, m.consumed])).toEqual([['"b1"', true], ['"a1"', false]]);
    });

    test('between a message and an event, the one committed first wins; the loser stays', async () => {
      await start('s');
      await start('e');
      await send('s', '"m"', 'a');
      await valueOf(store.setEvent(at('e', 0, 'setEvent'), 'k', '"v"', () => 'null', NOW));
      const branches = [{ getEvent: { workflowUUID: 'e', key: 'k' } }, { recv: 'a' }];
      expect(await found(store.select(at('s', 0, 'select'), 'first', branches, null, NOW))).toBe('{"index":1,"value":"m"}');
      await send('s', '"m2"', 'a');
      expect(await found(store.select(at('s', 1, 'select'), 'first', branches, null, NOW))).toBe('{"index":0,"value":"v"}');
      expect((await store.messages.list('s')).map((m) => [m.message, m.consumed])).toEqual([['"m"', true], ['"m2"', false]]);
    });

    test('of two events, the first set wins; nothing there starts the wait, or records a timeout', async () => {
      await start('s');
      await start('e');
      const branches = [{ getEvent: { workflowUUID: 'e', key: 'two' } }, { getEvent: { workflowUUID: 'e', key: 'one' } }];
      expect(await found(store.select(at('s', 0, 'select'), 'first', branches, waitUntil(NOW + 9, 'sel'), NOW))).toBeUndefined();
      expect((await store.operations.listWaits('s')).map((w) => w.waitDetail)).toEqual(['sel']);
      expect(await found(store.select(at('s', 0, 'select'), 'resumed', branches, waitUntil(NOW + 9, 'sel'), NOW))).toBeUndefined();
      await valueOf(store.setEvent(at('e', 0, 'setEvent'), 'one', '1', () => 'null', NOW));
      await valueOf(store.setEvent(at('e', 1, 'setEvent'), 'two', '2', () => 'null', NOW));
      expect(await found(store.select(at('s', 0, 'select'), 'resumed', branches, waitUntil(NOW + 9, 'sel'), NOW))).toBe('{"index":1,"value":1}');
      expect(await found(store.select(at('s', 1, 'select'), 'first', [{ recv: null }], null, NOW))).toBe('null');
    });
  });

  describe('streams', () => {
    test('appends from 0, closes with a row of no value, and takes nothing after', async () => {
      await start('w');
      const closed = (): string => '"closed"';
      expect(await valueOf(store.writeStreamFromWorkflow(at('w', 0, 'writeStream'), 's', '"a"', closed, NOW))).toBe(0);
      expect(await valueOf(store.appendStream('w', 's', '"b"', 1, NOW))).toBe(1);
      expect(await valueOf(store.appendStream('w', 'other', '"x"', 1, NOW))).toBe(0);
      expect(await valueOf(store.writeStreamFromWorkflow(at('w', 2, 'closeStream'), 's', null, closed, NOW))).toBe(2);
      expect(await valueOf(store.writeStreamFromWorkflow(at('w', 3, 'closeStream'), 's', null, closed, NOW))).toBe('closed');
      expect(await valueOf(store.writeStreamFromWorkflow(at('w', 4, 'writeStream'), 's', '"c"', closed, NOW))).toBe('closed');
      expect(await valueOf(store.appendStream('w', 's', '"d"', 5, NOW))).toBe('closed');
      expect((await store.operations.listForWorkflow('w')).map((o) => [o.operationIndex, o.output, o.error])).toEqual([
        [0, '0', null], [2, null, null], [3, null, null], [4, null, '"closed"'],
      ]);
      expect(await store.streams.readBatch('w', 's', 0, 10, Number.POSITIVE_INFINITY)).toEqual({
        ended: true, entries: [{ position: 0, value: '"a"' }, { position: 1, value: '"b"' }, { position: 2, value: null }],
      });
      expect(await store.streams.readBatch('w', 's', 1, 1, Number.POSITIVE_INFINITY)).toEqual({ ended: true, entries: [{ position: 1, value: '"b"' }] });
      expect(await store.streams.listWithEnd('w')).toEqual({
        finished: false, streams: [{ key: 's', length: 2, closedByWriter: true }, { key: 'other', length: 1, closedByWriter: false }],
      });
    });

    test('a batch stops once its values reach maxBytes; a stream ends when its workflow finishes', async () => {
      await start('w');
      for (const value of ['"aaaa"', '"bbbb"', '"cccc"']) await valueOf(store.appendStream('w', 's', value, 0, NOW));
      expect((await store.streams.readBatch('w', 's', 0, 10, 7)).entries.map((e) => e.position)).toEqual([0, 1]);
      expect((await store.streams.readBatch('w', 's', 0, 10, 1)).entries.map((e) => e.position)).toEqual([0]);
      expect((await store.streams.readBatch('w', 's', 0, 10, 6)).ended).toBe(false);
      await valueOf(store.finishWorkflow('w', 'SUCCESS', null, null, NOW));
      expect(await valueOf(store.appendStream('w', 's', '"d"', 0, NOW))).toBe('closed');
      expect((await store.streams.readBatch('w', 's', 3, 10, 100))).toEqual({ ended: true, entries: [] });
      expect((await store.streams.listWithEnd('w')).finished).toBe(true);
      expect(await valueOf(store.appendStream('missing', 's', '"d"', 0, NOW))).toBe('closed');
    });

    test('readStreamEntry records a row, the end, a wait or a timeout', async () => {
      await start('w');
      await start('r');
      await valueOf(store.appendStream('w', 's', '"a"', 0, NOW));
      const read = (index: number, offset: number, wait: WaitPlan | null, phase: 'first' | 'resumed' = 'first'): Promise<string | undefined> =>
        found(store.readStreamEntry(at('r', index, 'readStream'), phase, { workflowUUID: 'w', key: 's', offset }, wait, NOW));
      expect(await read(0, 0, null)).toBe('{"offset":0,"value":"a"}');
      expect(await read(1, 1, waitUntil(NOW + 1))).toBeUndefined();
      expect(await read(1, 1, waitUntil(NOW + 1), 'resumed')).toBeUndefined();
      expect(await read(2, 5, null)).toBe('{"offset":5,"timeout":true}');
      await valueOf(store.writeStreamFromWorkflow(at('w', 1, 'closeStream'), 's', null, () => 'null', NOW));
      expect(await read(1, 1, waitUntil(NOW + 1), 'resumed')).toBe('{"offset":1,"end":true}');
      expect(await read(3, 7, null)).toBe('{"offset":7,"end":true}');
    });
  });

  describe('control', () => {
    test('cancelWorkflow cancels the PENDING tree with its reasons; a deadline cancel only when due', async () => {
      await start('root', 'W', NOW + 100);
      await valueOf(store.startChildWorkflow(at('root', 0, 'child'), ['child'], 'C', '[]', null, NOW));
      await valueOf(store.startChildWorkflow(at('child', 0, 'child'), ['grandchild'], 'G', '[]', null, NOW));
      await valueOf(store.startChildWorkflow(at('root', 1, 'child'), ['done'], 'C', '[]', null, NOW));
      await valueOf(store.finishWorkflow('done', 'SUCCESS', null, null, NOW));
      expect(await store.cancelWorkflow('missing', true, cancelReason, null, NOW)).toBeUndefined();
      expect(await store.cancelWorkflow('root', true, cancelReason, NOW + 99, NOW)).toEqual({ previousStatus: 'PENDING', cancelled: [] });
      expect(await store.cancelWorkflow('root', true, cancelReason, NOW + 100, NOW + 1)).toEqual({ previousStatus: 'PENDING', cancelled: ['root', 'child', 'grandchild'] });
      expect(await store.workflows.get('grandchild')).toMatchObject({ status: 'CANCELLED', error: cancelReason('grandchild'), updatedAt: NOW + 1 });
      expect((await store.workflows.get('done'))!.status).toBe('SUCCESS');
      expect(await store.cancelWorkflow('root', true, cancelReason, null, NOW)).toEqual({ previousStatus: 'CANCELLED', cancelled: [] });
      expect(await store.workflows.deletionTargets('root', true)).toEqual([
        { workflowUUID: 'root', status: 'CANCELLED' }, { workflowUUID: 'child', status: 'CANCELLED' }, { workflowUUID: 'done', status: 'SUCCESS' },
        { workflowUUID: 'grandchild', status: 'CANCELLED' },
      ]);
    });

    test('resumeWorkflow returns a CANCELLED or ERROR workflow to PENDING, its deadline and count cleared', async () => {
      await start('a', 'W', NOW + 5);
      expect(await store.resumeWorkflow('missing', NOW)).toBeUndefined();
      expect(await store.resumeWorkflow('a', NOW)).toEqual({ previousStatus: 'PENDING', resumed: false });
      await store.cancelWorkflow('a', false, cancelReason, null, NOW);
      expect(await store.resumeWorkflow('a', NOW + 2)).toEqual({ previousStatus: 'CANCELLED', resumed: true });
      expect(await store.workflows.get('a')).toMatchObject({ status: 'PENDING', error: null, deadlineMs: null, updatedAt: NOW + 2 });
      await valueOf(store.finishWorkflow('a', 'SUCCESS', null, null, NOW));
      expect(await store.resumeWorkflow('a', NOW)).toEqual({ previousStatus: 'SUCCESS', resumed: false });
    });

    test('forkWorkflow copies the operations below fromOperation and the rows they wrote', async () => {
      await start('o', 'W', NOW + 1000);
      await send('o', '"m1"');
      await send('o', '"m2"');
      expect(await recv('o', 0)).toBe('"m1"');
      await valueOf(store.setEvent(at('o', 1, 'setEvent'), 'k1', '1', () => 'null', NOW));
      await valueOf(store.writeStreamFromWorkflow(at('o', 2, 'writeStream'), 's', '"x"', () => 'null', NOW));
      await valueOf(store.setEvent(at('o', 3, 'setEvent'), 'k2', '2', () => 'null', NOW));
      await committed(store.startWait({ ...at('o', 4, 'sleep'), ...waitUntil(NOW + 10) }, NOW));

      expect(await valueOf(store.forkWorkflow('missing', 'f', 0, undefined, NOW))).toEqual({ kind: 'not-found' });
      expect(await valueOf(store.forkWorkflow('o', 'f', 6, undefined, NOW))).toEqual({ kind: 'out-of-range', operationCount: 5 });
      const forked = await valueOf(store.forkWorkflow('o', 'f', 3, undefined, NOW + 50));
      expect(forked).toMatchObject({ kind: 'forked', deadlineMs: NOW + 50 + 1000, original: { workflowUUID: 'o' } });
      expect(forked.kind === 'forked' && forked.recorded.map((o) => o.operationIndex)).toEqual([0, 1, 2]);
      expect((await store.events.listForWorkflow('f')).map((e) => e.key)).toEqual(['k1']);
      expect((await store.messages.list('f')).map((m) => [m.message, m.consumed])).toEqual([['"m1"', true]]);
      expect((await store.streams.readBatch('f', 's', 0, 10, 100)).entries).toEqual([{ position: 0, value: '"x"' }]);
      expect(await store.workflows.get('f')).toMatchObject({ status: 'PENDING', workflowName: 'W', createdAt: NOW + 50 });
      expect(await valueOf(store.forkWorkflow('o', 'f', 0, null, NOW))).toMatchObject({ kind: 'conflict', existing: { workflowUUID: 'f' } });
      // Every operation under way is left out: the fork runs it anew.
      const all = await valueOf(store.forkWorkflow('o', 'g', 5, null, NOW));
      expect(all.kind === 'forked' && [all.deadlineMs, all.recorded.length]).toEqual([null, 4]);
    });

    test('deleteWorkflows refuses PENDING ones, deletes every row, and keeps a cancelled UUID taken', async () => {
      await start('p');
      await valueOf(store.startChildWorkflow(at('p', 0, 'child'), ['c'], 'C', '[]', null, NOW));
      await send('p', '1');
      await valueOf(store.setEvent(at('p', 1, 'setEvent'), 'k', '1', () => 'null', NOW));
      await valueOf(store.appendStream('p', 's', '1', 1, NOW));
      expect(await store.deleteWorkflows('missing', true, new Set())).toBeUndefined();
      expect(await store.deleteWorkflows('p', true, new Set())).toEqual({ refused: ['p', 'c'] });
      await store.cancelWorkflow('p', false, cancelReason, null, NOW);
      expect(await store.deleteWorkflows('p', true, new Set())).toEqual({ refused: ['c'] });
      await valueOf(store.finishWorkflow('c', 'SUCCESS', null, null, NOW));
      expect(await store.deletion.countAll(['p', 'c'])).toEqual({ workflows: 2, operations: 2, events: 1, streamEntries: 1, messages: 1, controls: 1 });
      expect(await store.deletion.countAll(['p', 'c'], new Set(['p']))).toMatchObject({ controls: 0 });
      expect(await store.deleteWorkflows('p', true, new Set(['p']))).toEqual({
        refused: null, deleted: ['p', 'c'], rows: { workflows: 2, operations: 2, events: 1, streamEntries: 1, messages: 1, controls: 0 },
      });
      expect(await store.workflows.get('p')).toBeUndefined();
      expect(await store.workflows.wasDeletedCancelled('p')).toBe(true);
      expect(await store.workflows.wasDeletedCancelled('c')).toBe(false);
      expect(await start('p')).toBe(false);
      expect(await start('c')).toBe(true);
      // The kept control goes once old enough and its workflow is gone.
      expect(await store.pruneStrayControls(NOW)).toBe(0);
      expect(await store.pruneStrayControls(NOW + 1)).toBe(1);
    });

    test('pruneBatch deletes finished workflows changed before a time, in batches; countFinishedBefore counts them', async () => {
      for (const uuid of ['a', 'b', 'c', 'd']) await start(uuid);
      for (const uuid of ['a', 'b', 'c']) await valueOf(store.finishWorkflow(uuid, 'SUCCESS', null, null, NOW + 10));
      await valueOf(store.finishWorkflow('d', 'ERROR', null, '"e"', NOW + 10));
      await committed(store.recordOutcome(at('a', 0), 'first', '1', null, NOW, true));
      expect(await store.deletion.countFinishedBefore(['SUCCESS'], NOW + 11)).toBe(3);
      expect(await store.deletion.countFinishedBefore(['SUCCESS', 'ERROR'], NOW + 10)).toBe(0);
      const first = await store.pruneBatch(['SUCCESS'], NOW + 11, 2);
      const second = await store.pruneBatch(['SUCCESS'], NOW + 11, 2);
      expect([first.deleted.length, second.deleted.length]).toEqual([2, 1]);
      expect([...first.deleted, ...second.deleted].sort()).toEqual(['a', 'b', 'c']);
      expect(first.rows.workflows + second.rows.workflows).toBe(3);
      expect(first.rows.operations + second.rows.operations).toBe(1);
      expect(await store.pruneBatch(['SUCCESS'], NOW + 11, 2)).toEqual({ deleted: [], rows: { workflows: 0, operations: 0, events: 0, streamEntries: 0, messages: 0, controls: 0 } });
      expect((await store.workflows.list()).map((w) => w.workflowUUID)).toEqual(['d']);
    });
  });

  describe('recovery', () => {
    test('recover writes the decisions and reads the operations of the workflows still PENDING', async () => {
      for (const uuid of ['a', 'b', 'c', 'd']) await start(uuid);
      await valueOf(store.finishWorkflow('d', 'SUCCESS', null, null, NOW));
      await committed(store.recordOutcome(at('a', 0), 'first', '1', null, NOW));
      await committed(store.recordOutcome(at('b', 0), 'first', '2', null, NOW));
      let seen: string[] = [];
      const snapshot = await store.recover((pending) => {
        seen = pending.map((w) => w.workflowUUID);
        return { attempts: [['a', 2]], givenUp: [['b', '"too many"']], failed: [['c', '"unreadable"']], readOperations: true };
      }, NOW + 5);
      expect(seen).toEqual(['a', 'b', 'c']);
      expect([...snapshot.operations.keys()]).toEqual(['a']);
      expect(snapshot.operations.get('a')!.map((o) => o.output)).toEqual(['1']);
      expect(snapshot.feedStart.workflowRowId).toBeGreaterThanOrEqual(4);
      expect(await store.workflows.get('a')).toMatchObject({ status: 'PENDING', recoveryAttempts: 2, updatedAt: NOW + 5 });
      expect(await store.workflows.get('b')).toMatchObject({ status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', error: '"too many"' });
      expect(await store.workflows.get('c')).toMatchObject({ status: 'ERROR', error: '"unreadable"' });
      expect((await store.recover(() => ({ ...noDecisions, readOperations: false }), NOW)).operations.size).toBe(0);

      await store.countRecoveryAttempt('a', 3, NOW + 6);
      expect((await store.workflows.get('a'))!.recoveryAttempts).toBe(3);
      store.resetRecoveryAttempts('a', NOW + 7);
      await committed(store.recordOutcome(at('a', 1), 'first', '1', null, NOW));
      await opened.close();
      opened = { store, close: async () => {} };
    });

    test('snapshotOf reads a workflow with its operations', async () => {
      await start('a');
      await committed(store.recordOutcome(at('a', 0), 'first', '1', null, NOW));
      const snapshot = await store.readCommitted(() => store.snapshotOf('a'));
      expect(snapshot.record!.workflowUUID).toBe('a');
      expect(snapshot.operations.map((o) => o.output)).toEqual(['1']);
      expect(await store.snapshotOf('missing')).toEqual({ record: undefined, operations: [] });
    });
  });
});

describe('PostgresStore', () => {
  let store: PostgresStore;
  let url: string;

  beforeEach(async () => {
    ({ url } = await createTestDatabase());
    store = await PostgresStore.open(url, { maxConnections: 4 });
  });

  afterEach(async () => {
    await store.closeAsync();
  });

  test('resetRecoveryAttempts is committed with a later write, or on its own', async () => {
    await valueOf(store.startWorkflow('a', 'W', '[]', NOW));
    await store.countRecoveryAttempt('a', 3, NOW);
    store.resetRecoveryAttempts('a', NOW + 1);
    await store.closeAsync();
    const reopened = await PostgresStore.open(url);
    try {
      expect((await reopened.workflows.get('a'))!.recoveryAttempts).toBe(0);
    } finally {
      await reopened.closeAsync();
    }
  });

  test('concurrent sends to one destination are consumed in commit order', async () => {
    await valueOf(store.startWorkflow('d', 'W', '[]', NOW));
    // A transaction of the test's own holds the destination's row, as a slow sender would: the sends
    // queue behind it, and each takes its id only once the one before committed.
    await withClient(url, async (blocker) => {
      await blocker.query('SET search_path TO durablite');
      await blocker.query('BEGIN');
      await blocker.query("SELECT 1 FROM workflows WHERE workflow_uuid = 'd' FOR NO KEY UPDATE");
      const sends = Array.from({ length: 8 }, (_, index) => valueOf(store.send('d', String(index), null, null, NOW)));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await blocker.query('COMMIT');
      expect(await Promise.all(sends)).toEqual(Array(8).fill('sent'));
    });
    const messages = await store.messages.list('d');
    // Ids ascend with the order the sends committed (created_at is equal; ids are the queue's order).
    const ids = messages.map((m) => m.messageId);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const received: string[] = [];
    for (let index = 0; index < 8; index++) received.push((await found(store.receive(at('d', index, 'recv'), 'first', null, null, NOW)))!);
    expect(received).toEqual(messages.map((m) => m.message));
  });

  test('a cancel waits for a recording transaction of its workflow, and the next record is refused', async () => {
    await valueOf(store.startWorkflow('a', 'W', '[]', NOW));
    const results = await Promise.allSettled([
      committed(store.recordOutcome(at('a', 0), 'first', '1', null, NOW)),
      store.cancelWorkflow('a', false, cancelReason, null, NOW),
      committed(store.recordOutcome(at('a', 1), 'first', '1', null, NOW)),
    ]);
    const recorded = (await store.operations.listForWorkflow('a')).length;
    const fulfilled = results.filter((result, index) => index !== 1 && result.status === 'fulfilled').length;
    expect(recorded).toBe(fulfilled);
    expect((await store.workflows.get('a'))!.status).toBe('CANCELLED');
  });

  test('a failed transaction rejects with its own StorageError and keeps nothing', async () => {
    await valueOf(store.startWorkflow('a', 'W', '[]', NOW));
    const failures: StorageError[] = [];
    store.setObserver({ committed: () => {}, failed: (error) => failures.push(error) });
    // The same operation index twice: the primary key refuses the second one's whole transaction.
    await valueOf(store.setEvent(at('a', 0, 'setEvent'), 'k', '1', () => 'null', NOW));
    const error = await call(() => store.setEvent(at('a', 0, 'setEvent'), 'other', '2', () => 'null', NOW)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).storageCode).toBe('PG_23505');
    expect((error as StorageError).sqliteCode).toBe('PG_23505'); // the deprecated alias reads the same
    expect(store.isOwnFailure(error)).toBe(true);
    expect(failures).toEqual([error]);
    expect(await store.events.getValue('a', 'other')).toBeUndefined();
    expect(store.isOwnFailure(new StorageError('PG_23505', 'decoded from a record'))).toBe(false);
    expect(store.isOwnFailure(new WorkflowCancelledError('a'))).toBe(false);
  });

  test('a connection terminated mid-transaction rejects with a StorageError, and the store goes on', async () => {
    await valueOf(store.startWorkflow('a', 'W', '[]', NOW));
    await withClient(url, async (admin) => {
      await admin.query('SET search_path TO durablite');
      await admin.query('BEGIN');
      await admin.query("SELECT 1 FROM workflows WHERE workflow_uuid = 'a' FOR NO KEY UPDATE");
      const send = call(() => store.send('a', '1', null, null, NOW)).catch((caught: unknown) => caught);
      // The send waits on the row: end its connection there.
      let terminated = 0;
      for (let tries = 0; tries < 50 && terminated === 0; tries++) {
        const { rowCount } = await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'durablite' AND wait_event_type = 'Lock'",
        );
        terminated = rowCount ?? 0;
        if (terminated === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const error = await send;
      await admin.query('ROLLBACK');
      expect(terminated).toBe(1);
      expect(error).toBeInstanceOf(StorageError);
      expect(store.isOwnFailure(error)).toBe(true);
      expect((error as StorageError).storageCode).toMatch(/^PG_/);
    });
    expect(await store.messages.list('a')).toEqual([]);
    expect(await valueOf(store.send('a', '2', null, null, NOW))).toBe('sent');
  });

  test('a throw of the commit interceptor fails that commit, which keeps nothing; the observer hears of each commit', async () => {
    const intercepted = await PostgresStore.open(url, { interceptor: { beforeCommit: (commitNumber) => { if (commitNumber === 2) throw new Error('injected'); } } });
    try {
      const commits: number[] = [];
      const failures: StorageError[] = [];
      intercepted.setObserver({ committed: (commitNumber, writes) => commits.push(commitNumber * 10 + writes), failed: (error) => failures.push(error) });
      await valueOf(intercepted.startWorkflow('i', 'W', '[]', NOW));
      const error = await call(() => intercepted.send('i', '1', null, null, NOW)).catch((caught: unknown) => caught);
      expect(intercepted.isOwnFailure(error)).toBe(true);
      expect((error as StorageError).storageCode).toBe('PG_INTERCEPTED');
      expect(await valueOf(intercepted.send('i', '2', null, null, NOW))).toBe('sent');
      expect((await intercepted.messages.list('i')).map((m) => m.message)).toEqual(['2']);
      expect(commits).toEqual([11, 31]);
      expect(failures).toEqual([error]);
    } finally {
      await intercepted.closeAsync();
    }
  });

  test('halt rejects every later write; reads go on', async () => {
    await valueOf(store.startWorkflow('a', 'W', '[]', NOW));
    store.halt();
    const error = await call(() => store.send('a', '1', null, null, NOW)).catch((caught: unknown) => caught);
    expect(store.isOwnFailure(error)).toBe(true);
    expect((await store.workflows.get('a'))!.status).toBe('PENDING');
  });

  test('no engine owns the database (engines share it through leases), and reads see committed rows only', () => {
    expect(store.takeOwnership()).toBeNull();
    expect(store.hasUncommittedWrites).toBe(false);
  });
});
