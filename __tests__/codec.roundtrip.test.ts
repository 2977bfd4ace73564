import {
  DeterminismError,
  DurabliteError,
  registerStep,
  registerWorkflow,
  SerializationError,
  WorkflowNotFoundError,
  type WorkflowContext,
} from '../lib';
import { decode, encode } from '../lib/store/codec';
import { openTestEngine, tempDatabasePath } from './helpers';
import { countRows } from './wait-helpers';

function roundTrip<T>(value: T): T {
  return decode<T>(encode(value));
}

function encodingError(value: unknown): unknown {
  try {
    encode(value);
  } catch (error) {
    return error;
  }
  throw new Error('Expected encode to refuse the value');
}

describe('the codec round-trips', () => {
  test('JSON values, stored as the same plain JSON text', () => {
    const value = { text: 'héllo "quoted"', count: 42, ratio: 0.5, yes: true, none: null, list: [1, 'two', [3], { four: 4 }] };
    expect(encode(value)).toBe(JSON.stringify(value));
    expect(roundTrip(value)).toStrictEqual(value);
    expect(roundTrip('just a string')).toBe('just a string');
    expect(roundTrip(null)).toBeNull();
    expect(roundTrip([])).toStrictEqual([]);
  });

  test('undefined at the top level, as an object field and as an array element', () => {
    expect(roundTrip(undefined)).toBeUndefined();
    expect(encode(undefined)).toEqual(expect.any(String));

    const object = roundTrip({ present: 1, missing: undefined });
    expect(Object.keys(object)).toEqual(['present', 'missing']);
    expect(object.missing).toBeUndefined();

    const array = roundTrip([1, undefined, 3]);
    expect(array).toHaveLength(3);
    expect(1 in array).toBe(true);
    expect(array[1]).toBeUndefined();
    expect(array[1]).not.toBeNull();
  });

  test('NaN, Infinity, -Infinity and -0, alone and nested', () => {
    expect(roundTrip(Number.NaN)).toBeNaN();
    expect(roundTrip(Infinity)).toBe(Infinity);
    expect(roundTrip(-Infinity)).toBe(-Infinity);
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is(roundTrip(0), 0)).toBe(true);
    const nested = roundTrip({ values: [Number.NaN, Infinity, -0, 1.5] });
    expect(nested.values[0]).toBeNaN();
    expect(nested.values[1]).toBe(Infinity);
    expect(Object.is(nested.values[2], -0)).toBe(true);
    expect(nested.values[3]).toBe(1.5);
  });

  test('Date, including an invalid Date', () => {
    const when = new Date('2024-02-29T12:34:56.789Z');
    const decoded = roundTrip(when);
    expect(decoded).toBeInstanceOf(Date);
    expect(decoded.getTime()).toBe(when.getTime());
    expect(roundTrip({ at: [when] }).at[0]).toStrictEqual(when);

    const invalid = roundTrip(new Date(Number.NaN));
    expect(invalid).toBeInstanceOf(Date);
    expect(invalid.getTime()).toBeNaN();
  });

  test('BigInt, beyond the safe integer range and negative', () => {
    const huge = 2n ** 100n + 1n;
    expect(roundTrip(huge)).toBe(huge);
    expect(roundTrip(-huge)).toBe(-huge);
    expect(roundTrip(0n)).toBe(0n);
    expect(roundTrip({ id: 9007199254740993n }).id).toBe(9007199254740993n);
  });

  test('Map with keys of any type, in insertion order, nested', () => {
    const objectKey = { id: 1 };
    const map = new Map<unknown, unknown>([
      ['text', 1],
      [2, 'number key'],
      [objectKey, new Date(0)],
      [10n, undefined],
      ['inner', new Map([['deep', new Set([1])]])],
    ]);
    const decoded = roundTrip(map);
    expect(decoded).toBeInstanceOf(Map);
    expect(decoded).toStrictEqual(map);
    expect([...decoded.keys()]).toStrictEqual(['text', 2, { id: 1 }, 10n, 'inner']);
    expect(decoded.has(10n)).toBe(true);
    expect(decoded.get(10n)).toBeUndefined();
  });

  test('Set, in insertion order, with values of any type', () => {
    const set = new Set<unknown>(['b', 'a', 3, { x: 1 }, new Date(5), undefined]);
    const decoded = roundTrip(set);
    expect(decoded).toBeInstanceOf(Set);
    expect([...decoded]).toStrictEqual([...set]);
  });

  test('Uint8Array comes back as a Uint8Array, a view only with its own bytes', () => {
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    const decoded = roundTrip(bytes);
    expect(decoded).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(decoded)).toBe(false);
    expect([...decoded]).toEqual([0, 1, 127, 128, 255]);

    const view = bytes.subarray(1, 3);
    const decodedView = roundTrip(view);
    expect([...decodedView]).toEqual([1, 127]);
    expect(decodedView.byteLength).toBe(2);
  });

  test('Buffer comes back as a Buffer', () => {
    const buffer = Buffer.from('binary \u0000 data ✓', 'utf8');
    const decoded = roundTrip(buffer);
    expect(Buffer.isBuffer(decoded)).toBe(true);
    expect(decoded.equals(buffer)).toBe(true);
  });

  test('every other typed array, as the same type with the same elements', () => {
    const arrays: ArrayBufferView[] = [
      new Int8Array([-128, 0, 127]),
      new Uint8ClampedArray([0, 200, 255]),
      new Int16Array([-32768, 1, 32767]),
      new Uint16Array([0, 65535]),
      new Int32Array([-2147483648, 2147483647]),
      new Uint32Array([0, 4294967295]),
      new Float32Array([1.5, -0.25, Number.NaN]),
      new Float64Array([Math.PI, -Infinity, Number.MIN_VALUE]),
      new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
      new BigUint64Array([0n, 2n ** 64n - 1n]),
      new Float64Array([1, 2, 3, 4]).subarray(1, 3),
    ];
    for (const array of arrays) {
      const decoded = roundTrip(array);
      expect(decoded.constructor).toBe(array.constructor);
      expect(decoded).toStrictEqual(array);
    }
  });

  test('a typed array subclass comes back as its built-in typed array, not as unreadable data', () => {
    class Samples extends Int16Array {}
    const decoded = roundTrip(new Samples([1, -2, 3]));
    expect(decoded).toBeInstanceOf(Int16Array);
    expect([...decoded]).toEqual([1, -2, 3]);
  });

  test('ArrayBuffer and DataView, with their bytes', () => {
    const buffer = new Uint8Array([1, 2, 3, 250]).buffer;
    const decodedBuffer = roundTrip(buffer);
    expect(decodedBuffer).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(decodedBuffer)]).toEqual([1, 2, 3, 250]);

    const view = new DataView(buffer, 1, 2);
    const decodedView = roundTrip(view);
    expect(decodedView).toBeInstanceOf(DataView);
    expect(decodedView.byteLength).toBe(2);
    expect(decodedView.getUint8(0)).toBe(2);
    expect(decodedView.getUint8(1)).toBe(3);
  });

  test('RegExp with its source and flags', () => {
    const decoded = roundTrip(/a+\/b[c-d]?$/giu);
    expect(decoded).toBeInstanceOf(RegExp);
    expect(decoded.source).toBe('a+\\/b[c-d]?$');
    expect(decoded.flags).toBe('giu');
    expect(decoded.test('AAA/B')).toBe(true);
  });

  test('Error with its name, message, stack, own fields and cause', () => {
    class QuotaExceeded extends Error {
      override name = 'QuotaExceeded';
      readonly code = 'E_QUOTA';
      readonly details = { limit: 10n, at: new Date(0) };
    }
    const original = new QuotaExceeded('over the limit', { cause: new RangeError('by 3') });
    const decoded = roundTrip(original);
    expect(decoded).toBeInstanceOf(Error);
    expect(decoded.name).toBe('QuotaExceeded');
    expect(decoded.message).toBe('over the limit');
    expect(decoded.stack).toBe(original.stack);
    expect(decoded.code).toBe('E_QUOTA');
    expect(decoded.details).toStrictEqual({ limit: 10n, at: new Date(0) });
    expect(decoded.cause).toBeInstanceOf(RangeError);
    expect((decoded.cause as Error).message).toBe('by 3');

    const typeError = roundTrip(new TypeError('bad type'));
    expect(typeError).toBeInstanceOf(TypeError);
    expect(typeError.name).toBe('TypeError');

    const nested = roundTrip({ failures: [new Error('first')] });
    expect(nested.failures[0]).toBeInstanceOf(Error);
    expect(nested.failures[0]!.message).toBe('first');
  });

  test('DurabliteError subclasses come back as the same class with their code and context', () => {
    const notFound = roundTrip(new WorkflowNotFoundError('wf-1'));
    expect(notFound).toBeInstanceOf(WorkflowNotFoundError);
    expect(notFound).toBeInstanceOf(DurabliteError);
    expect(notFound).toMatchObject({ name: 'WorkflowNotFoundError', code: 'WORKFLOW_NOT_FOUND', workflowUUID: 'wf-1' });
    expect(notFound.message).toBe(new WorkflowNotFoundError('wf-1').message);

    const determinism = roundTrip(new DeterminismError('wf-2', 3, 'step "A"', 'step "B"'));
    expect(determinism).toBeInstanceOf(DeterminismError);
    expect(determinism).toMatchObject({
      name: 'DeterminismError',
      code: 'NONDETERMINISTIC_WORKFLOW',
      workflowUUID: 'wf-2',
      operationIndex: 3,
      recorded: 'step "A"',
      attempted: 'step "B"',
    });

    const serialization = roundTrip(new SerializationError('cannot'));
    expect(serialization).toBeInstanceOf(SerializationError);
    expect(serialization.code).toBe('SERIALIZATION_FAILED');
  });

  test('objects whose own keys include "$type" stay plain data', () => {
    const lookalikes = [
      { $type: 'Date', value: '2020-01-01T00:00:00.000Z' },
      { $type: 'Object', entries: [] },
      { $type: 'undefined' },
      { $type: 'FromTheFuture', nested: { $type: 'BigInt', value: '1' } },
    ];
    expect(roundTrip(lookalikes)).toStrictEqual(lookalikes);
    const inMap = roundTrip(new Map([['k', { $type: 'Set', values: [1] }]]));
    expect(inMap.get('k')).toStrictEqual({ $type: 'Set', values: [1] });
  });

  test('a "__proto__" key parsed from JSON stays an own data field, even next to tagged values', () => {
    const body = JSON.parse('{"__proto__": {"isAdmin": true}, "name": "mallory"}') as Record<string, unknown>;
    const decoded = roundTrip({ body, receivedAt: new Date(0) });
    expect(Object.keys(decoded.body)).toEqual(['__proto__', 'name']);
    expect(Object.getPrototypeOf(decoded.body)).toBe(Object.prototype);
    expect((decoded.body as { isAdmin?: unknown }).isAdmin).toBeUndefined();
  });

  test('null stored text decodes to undefined', () => {
    expect(decode(null)).toBeUndefined();
  });
});

describe('the codec refuses with SerializationError', () => {
  test.each([
    ['a function', () => 1],
    ['a function in a field', { callback: () => 1 }],
    ['a function in a Map', new Map([['handler', () => 1]])],
    ['a symbol', Symbol('s')],
    ['a symbol in an array', [Symbol.iterator]],
    ['a WeakMap', new WeakMap()],
    ['a WeakSet', { seen: new WeakSet() }],
    ['a Promise', Promise.resolve(1)],
  ])('%s', (_what, value) => {
    const error = encodingError(value);
    expect(error).toBeInstanceOf(SerializationError);
    expect(error).toBeInstanceOf(DurabliteError);
    expect(error).toMatchObject({ code: 'SERIALIZATION_FAILED' });
  });

  test('a nested function, naming the key it was found at', () => {
    expect(encodingError({ order: { notify: () => 1 } })).toMatchObject({ message: expect.stringContaining('"notify"') });
  });

  test('cycles through objects, arrays and Maps', () => {
    const object: Record<string, unknown> = { name: 'loop' };
    object.self = object;
    const array: unknown[] = [1];
    array.push({ back: array });
    const map = new Map<string, unknown>();
    map.set('self', map);
    for (const value of [object, array, map]) {
      const error = encodingError(value);
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as Error).message).toMatch(/cycle/);
    }
  });

  test('stored data with a tag this version does not know, on decode', () => {
    expect(() => decode('{"$type":"Temporal.Instant","value":"x"}')).toThrow(SerializationError);
  });

  test('a shared object referenced twice is not a cycle', () => {
    const shared = { id: 1 };
    expect(roundTrip({ a: shared, b: shared })).toStrictEqual({ a: { id: 1 }, b: { id: 1 } });
  });
});

describe('the codec through the engine', () => {
  const runs = { echo: 0 };
  beforeEach(() => {
    runs.echo = 0;
  });
  const echo = registerWorkflow('codec.echo', async (_ctxt: WorkflowContext, ...args: unknown[]) => {
    runs.echo++;
    return args;
  });

  test('workflow inputs and outputs round-trip through the database, also after reopening', async () => {
    const database = tempDatabasePath();
    const inputs = [new Map([[1n, new Date(1000)]]), new Set(['x']), undefined, Number.NaN, new Uint8Array([9]), new Error('kept')];
    const engine = await openTestEngine({ database });
    const result = (await (await engine.startWorkflow(echo, { workflowUUID: 'echo-1' }, ...inputs)).getResult()) as unknown[];
    expect(result.slice(0, 5)).toStrictEqual(inputs.slice(0, 5));
    expect(result[5]).toBeInstanceOf(Error);
    await engine.close();

    const reopened = await openTestEngine({ database });
    const stored = (await reopened.retrieveWorkflow('echo-1').getResult()) as unknown[];
    expect(stored.slice(0, 5)).toStrictEqual(inputs.slice(0, 5));
    expect((stored[5] as Error).message).toBe('kept');
    expect((await reopened.retrieveWorkflow('echo-1').getStatus())!.inputs.slice(0, 5)).toStrictEqual(inputs.slice(0, 5));
    await reopened.close();
  });

  test('a workflow input that cannot be serialized is refused by startWorkflow and nothing is written', async () => {
    const engine = await openTestEngine();
    const cycle: Record<string, unknown> = {};
    cycle.cycle = cycle;
    for (const [workflowUUID, input] of [['with-function', { onDone: () => 1 }], ['with-symbol', Symbol('s')], ['with-cycle', cycle]] as const) {
      const start = engine.startWorkflow(echo, { workflowUUID }, input);
      await expect(start).rejects.toBeInstanceOf(SerializationError);
      await expect(start).rejects.toMatchObject({ message: expect.stringContaining('inputs of workflow codec.echo') });
      expect(await engine.retrieveWorkflow(workflowUUID).getStatus()).toBeNull();
    }
    expect(await countRows(engine, 'workflows')).toBe(0);
    expect(runs.echo).toBe(0);
    await engine.close();
  });

  test('a step result that cannot be serialized becomes the step error, and a workflow result fails the workflow', async () => {
    const unserializableStep = registerStep('codec.unserializableStep', async () => ({ later: () => 1 }));
    const catchesStep = registerWorkflow('codec.catchesStep', async (ctxt: WorkflowContext) => {
      const error = await ctxt.runStep(unserializableStep).then(() => null, (caught: unknown) => caught);
      return { isSerializationError: error instanceof SerializationError };
    });
    const returnsFunction = registerWorkflow('codec.returnsFunction', async () => () => 1);

    const engine = await openTestEngine();
    expect(await (await engine.startWorkflow(catchesStep)).getResult()).toEqual({ isSerializationError: true });
    const failing = await engine.startWorkflow(returnsFunction, { workflowUUID: 'returns-function' });
    await expect(failing.getResult()).rejects.toBeInstanceOf(SerializationError);
    expect(await failing.getStatus()).toMatchObject({ status: 'ERROR' });
    await engine.close();
  });
});
