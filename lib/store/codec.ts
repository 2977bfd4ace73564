// The one codec for every value durablite stores: JSON text (readable with any SQLite tool) extended
// with tagged objects for what JSON loses. Encoding either round-trips a value or refuses it; it never
// silently drops or mangles data.
import { errorClassesByName, SerializationError } from '../errors';

const TAG = '$type';

type Tagged = { [TAG]: string; [field: string]: unknown };

function tagged(type: string, fields: Record<string, unknown>): Tagged {
  return { [TAG]: type, ...fields };
}

function describePath(key: string): string {
  return key === '' ? 'the value itself' : `key "${key}"`;
}

function toBase64(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

const typedArrayConstructors: Record<string, new (buffer: ArrayBuffer) => ArrayBufferView> = {
  Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

function typedArrayKind(view: ArrayBufferView, key: string): string {
  for (const [kind, Constructor] of Object.entries(typedArrayConstructors)) if (view instanceof Constructor) return kind;
  throw new SerializationError(`Cannot serialize a ${view.constructor.name} (at ${describePath(key)}).`);
}

function encodeError(error: Error): Tagged {
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(error)) props[key] = (error as unknown as Record<string, unknown>)[key];
  const fields: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack ?? null, props };
  if ('cause' in error && error.cause !== undefined) fields.cause = error.cause;
  return tagged('Error', fields);
}

/**
 * The deepest nesting of objects and arrays a stored value may have, counted as stored: a Map adds
 * three levels (its tag, its entries, each entry's pair), a Set two, a Date or an Error one. Deeper
 * values are refused at encode, so everything stored can be decoded again from any call site, far
 * from the JavaScript stack's limits.
 */
export const MAX_NESTING_DEPTH = 1000;

// JSON.stringify hands the replacer values *after* toJSON ran (a Date is already a string), so the
// raw value is read from the holder.
function transform(holder: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = holder[key];
  if (typeof raw === 'object' && raw !== null && !(raw instanceof Date) && !Buffer.isBuffer(raw)) {
    // A toJSON() (other than Date's and Buffer's, encoded below) replaced the value: store what it
    // returned as if it had been given, so a Date, Map, NaN or undefined it returns is kept, not mangled.
    if (raw !== value) return transform({ [key]: value }, key, value);
    // A boxed primitive (new Number(NaN)) is stored as its primitive, which JSON alone would mangle.
    if (raw instanceof Number || raw instanceof String || raw instanceof Boolean) {
      const primitive = raw.valueOf();
      return transform({ [key]: primitive }, key, primitive);
    }
  }
  switch (typeof raw) {
    case 'undefined':
      return tagged('undefined', {});
    case 'bigint':
      return tagged('BigInt', { value: raw.toString() });
    case 'number':
      if (Number.isFinite(raw) && !Object.is(raw, -0)) return raw;
      return tagged('Number', { value: Object.is(raw, -0) ? '-0' : String(raw) });
    case 'function':
      throw new SerializationError(`Cannot serialize a function (at ${describePath(key)}). Pass data, not behaviour.`);
    case 'symbol':
      throw new SerializationError(`Cannot serialize a symbol (at ${describePath(key)}). Use a string instead.`);
    case 'object':
      break;
    default:
      return value;
  }
  if (raw === null) return null;
  if (raw instanceof Date) return tagged('Date', { value: Number.isNaN(raw.getTime()) ? null : raw.toISOString() });
  if (raw instanceof Map) return tagged('Map', { entries: [...raw.entries()] });
  if (raw instanceof Set) return tagged('Set', { values: [...raw.values()] });
  if (raw instanceof Error) return encodeError(raw);
  if (raw instanceof RegExp) return tagged('RegExp', { source: raw.source, flags: raw.flags });
  if (Buffer.isBuffer(raw)) return tagged('Buffer', { base64: toBase64(raw) });
  if (raw instanceof Uint8Array) return tagged('Uint8Array', { base64: toBase64(raw) });
  if (raw instanceof DataView) return tagged('DataView', { base64: toBase64(raw) });
  // The kind is the built-in constructor, not raw.constructor.name: a subclass's name could not be
  // decoded, and the stored value would be unreadable.
  if (ArrayBuffer.isView(raw)) return tagged('TypedArray', { kind: typedArrayKind(raw, key), base64: toBase64(raw) });
  if (raw instanceof ArrayBuffer) return tagged('ArrayBuffer', { base64: Buffer.from(raw).toString('base64') });
  if (raw instanceof WeakMap || raw instanceof WeakSet || raw instanceof Promise) {
    throw new SerializationError(`Cannot serialize a ${raw.constructor.name} (at ${describePath(key)}).`);
  }
  // An object whose own keys include the tag is wrapped, so user data can never be mistaken for a tag.
  if (!Array.isArray(value) && typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, TAG)) {
    return tagged('Object', { entries: Object.entries(value) });
  }
  return value;
}

/**
 * A replacer for one JSON.stringify call that also enforces MAX_NESTING_DEPTH. JSON.stringify walks
 * depth first and calls the replacer with the object being serialized as `this`, so the chain of
 * open objects is a stack: pop until `this` is on top, and push each object that will be descended.
 */
function depthLimitedReplacer(): (this: Record<string, unknown>, key: string, value: unknown) => unknown {
  const open: unknown[] = [];
  // The values as the user gave them, beside: a Map or Set that contains itself is serialized
  // through new tagged objects each time, so only these show the cycle.
  const given: unknown[] = [];
  let depth = -1;
  return function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
    while (depth >= 0 && open[depth] !== this) depth--;
    if (depth < 0) open[(depth = 0)] = this; // the root's wrapper { "": value }
    const result = transform(this, key, value);
    if (typeof result === 'object' && result !== null) {
      if (depth >= MAX_NESTING_DEPTH) {
        if (new Set(given.slice(1, depth + 1)).size < depth) {
          throw new SerializationError('Cannot serialize a value that contains a cycle (an object that refers to itself).');
        }
        throw new SerializationError(
          `Cannot serialize a value nested more than ${MAX_NESTING_DEPTH} levels deep (at ${describePath(key)}). Flatten it, or store it as a string.`,
        );
      }
      open[++depth] = result;
      given[depth] = this[key];
    }
    return result;
  };
}

/**
 * Serializes `value` to text. Round-trips JSON values plus `undefined`, `NaN`/`±Infinity`/`-0`,
 * `Date`, `BigInt`, `Map`, `Set`, `RegExp`, `Error` (name, message, stack, own fields), `Buffer`,
 * `Uint8Array` and other typed arrays, `ArrayBuffer` and `DataView`. Class instances come back as
 * plain objects. Every value it accepts, {@link decode} reads back.
 *
 * @throws SerializationError for functions, symbols, cycles, WeakMap/WeakSet/Promise, and values
 *   nested deeper than {@link MAX_NESTING_DEPTH}; nothing is written.
 */
export function encode(value: unknown): string {
  try {
    return JSON.stringify(value, depthLimitedReplacer()) as string;
  } catch (error) {
    if (error instanceof SerializationError) throw error;
    if (error instanceof TypeError && /circular/i.test(error.message)) {
      throw new SerializationError('Cannot serialize a value that contains a cycle (an object that refers to itself).', { cause: error });
    }
    if (error instanceof RangeError) {
      throw new SerializationError('Cannot serialize the value: it is nested too deeply for the stack left at this call.', { cause: error });
    }
    throw new SerializationError(`Cannot serialize the value: ${(error as Error).message}`, { cause: error });
  }
}

function fromBase64(base64: string): Buffer {
  return Buffer.from(base64, 'base64');
}

function decodeError(fields: Tagged): Error {
  const errorClass = errorClassesByName.get(fields.name as string) ?? Error;
  const error = new Error(fields.message as string);
  Object.setPrototypeOf(error, errorClass.prototype);
  if (!errorClassesByName.has(fields.name as string)) {
    Object.defineProperty(error, 'name', { value: fields.name, writable: true, configurable: true, enumerable: false });
  }
  if (fields.stack !== null) {
    Object.defineProperty(error, 'stack', { value: fields.stack, writable: true, configurable: true, enumerable: false });
  }
  if ('cause' in fields) {
    Object.defineProperty(error, 'cause', { value: revive(fields.cause), writable: true, configurable: true, enumerable: false });
  }
  // defineProperty, not assignment: an own "__proto__" field must stay a field, not swap the prototype.
  for (const [key, value] of Object.entries(revive(fields.props) as Record<string, unknown>)) {
    Object.defineProperty(error, key, { value, writable: true, configurable: true, enumerable: true });
  }
  return error;
}

function reviveTagged(node: Tagged): unknown {
  switch (node[TAG]) {
    case 'undefined': return undefined;
    case 'BigInt': return BigInt(node.value as string);
    case 'Number': return node.value === '-0' ? -0 : Number(node.value);
    case 'Date': return new Date(node.value === null ? NaN : (node.value as string));
    case 'Map': return new Map(revive(node.entries) as [unknown, unknown][]);
    case 'Set': return new Set(revive(node.values) as unknown[]);
    case 'RegExp': return new RegExp(node.source as string, node.flags as string);
    case 'Error': return decodeError(node);
    case 'Buffer': return fromBase64(node.base64 as string);
    case 'Uint8Array': return new Uint8Array(fromBase64(node.base64 as string));
    case 'ArrayBuffer': return new Uint8Array(fromBase64(node.base64 as string)).buffer;
    case 'DataView': return new DataView(new Uint8Array(fromBase64(node.base64 as string)).buffer);
    case 'TypedArray': {
      const bytes = fromBase64(node.base64 as string);
      const Constructor = typedArrayConstructors[node.kind as string];
      if (!Constructor) throw new SerializationError(`Unknown typed array kind "${String(node.kind)}" in stored data.`);
      return new Constructor(new Uint8Array(bytes).buffer);
    }
    case 'Object': return Object.fromEntries(revive(node.entries) as [string, unknown][]);
    default:
      throw new SerializationError(`Unknown tag "${String(node[TAG])}" in stored data: it was written by a newer durablite.`);
  }
}

function revive(node: unknown): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) return node.map(revive);
  if (Object.prototype.hasOwnProperty.call(node, TAG)) return reviveTagged(node as Tagged);
  // fromEntries defines own properties: a "__proto__" key stays data instead of setting the prototype.
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, revive(value)]));
}

/** Parses text written by {@link encode} back into the value. `null` (no stored value) decodes to `undefined`. */
export function decode<T = unknown>(text: string | null): T {
  if (text === null) return undefined as T;
  const parsed: unknown = JSON.parse(text);
  // Fast path: plain JSON has no tags and needs no second walk.
  if (!text.includes(`"${TAG}"`)) return parsed as T;
  return revive(parsed) as T;
}
