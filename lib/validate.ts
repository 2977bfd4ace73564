// Argument checks shared by every public entry point, with one phrasing everywhere:
//   Expected `timeoutSeconds` to be a finite number >= 0, got `-1` (number)
// They run before anything is recorded or written.

function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'bigint' ? `${value}n` : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}

/** Throws a TypeError phrased in the house style. */
export function typeError(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
}

/**
 * A database file path or URL: a non-empty string without NUL (which would cut a path short). Not a
 * key that a store indexes, so without MAX_KEY_BYTES's limit.
 */
export function requirePathOrUrl(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw typeError(name, 'a non-empty string', value);
  if (value.includes('\u0000')) throw typeError(name, 'a string without NUL characters', value);
  return value;
}

/** A name, key, topic or UUID: a non-empty string that every store can keep (see storableText). */
export function requireNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw typeError(name, 'a non-empty string', value);
  return storableText(name, value);
}

/**
 * The longest name, key, topic or UUID, in UTF-8 bytes. PostgreSQL's btree indexes refuse an entry
 * over about 2,700 bytes, and some index two of these values together (a workflow's UUID and an
 * event key; a destination and a topic): 1,024 bytes each fits, on every store alike, so that code
 * tested on SQLite runs on PostgreSQL, and a value too long fails at the call instead of at the write.
 */
export const MAX_KEY_BYTES = 1024;

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A name, key, topic or UUID as every store keeps it: PostgreSQL's text holds no NUL, and turns an
 * unpaired surrogate into U+FFFD (so two different strings would become one key); and at most
 * MAX_KEY_BYTES in UTF-8. Refused on every store alike, so that code tested on SQLite runs on
 * PostgreSQL. (Payloads are JSON, which escapes the first two, and have their own limit.)
 * @throws TypeError for a NUL or an unpaired surrogate; RangeError when longer than MAX_KEY_BYTES.
 */
export function storableText(name: string, value: string): string {
  if (value.includes('\u0000') || UNPAIRED_SURROGATE.test(value)) {
    throw typeError(name, 'a string without NUL characters or unpaired surrogates (no store can keep those in a name, key or topic)', value);
  }
  // A UTF-16 code unit takes at most 3 bytes in UTF-8: most values need no count.
  if (value.length * 3 > MAX_KEY_BYTES) {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > MAX_KEY_BYTES) {
      throw new RangeError(`Expected \`${name}\` to be at most ${MAX_KEY_BYTES} bytes in UTF-8 (the longest name, key, topic or UUID every store can index), got ${describe(value)} of ${bytes} bytes`);
    }
  }
  return value;
}

/** A topic: a non-empty string, or undefined/null for "no topic" (returned as null). */
export function optionalTopic(value: unknown, name = 'topic'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0) {
    throw typeError(name, 'a non-empty string, or undefined/null for no topic', value);
  }
  return storableText(name, value);
}

/** An optional idempotency key: a non-empty string, or undefined/null for none. */
export function optionalIdempotencyKey(value: unknown, name = 'idempotencyKey'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0) {
    throw typeError(name, 'a non-empty string, or undefined/null for none', value);
  }
  return storableText(name, value);
}

/** The default wait of recv and getEvent, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 60;

/**
 * The longest timeout or sleep, in seconds: 100 years. Deadlines are stored as integer epoch
 * milliseconds; a longer one could not be, so it is refused at the call rather than failing later.
 */
export const MAX_DURATION_SECONDS = 100 * 365 * 24 * 3600;

/** A duration in seconds (undefined = `defaultSeconds`), returned in milliseconds. */
export function durationMs(name: string, value: unknown, defaultSeconds: number = DEFAULT_TIMEOUT_SECONDS): number {
  if (value === undefined) return defaultSeconds * 1000;
  if (typeof value !== 'number') throw typeError(name, 'a finite number >= 0', value);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= 0, got ${describe(value)}`);
  }
  if (value > MAX_DURATION_SECONDS) {
    throw new RangeError(`Expected \`${name}\` to be at most ${MAX_DURATION_SECONDS} seconds (100 years), got ${describe(value)}`);
  }
  return value * 1000;
}

/** A positive integer option. */
export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    if (typeof value === 'number') throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${describe(value)}`);
    throw typeError(name, 'an integer >= 1', value);
  }
  return value;
}

/** Checks an integer >= 0. */
export function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    if (typeof value === 'number') throw new RangeError(`Expected \`${name}\` to be an integer >= 0, got ${describe(value)}`);
    throw typeError(name, 'an integer >= 0', value);
  }
  return value;
}

/** A finite number >= `minimum` (at most MAX_DURATION_SECONDS when `seconds`). */
export function numberAtLeast(name: string, value: unknown, minimum: number, seconds = false): number {
  if (typeof value !== 'number') throw typeError(name, `a finite number >= ${minimum}`, value);
  if (!Number.isFinite(value) || value < minimum) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= ${minimum}, got ${describe(value)}`);
  }
  if (seconds && value > MAX_DURATION_SECONDS) {
    throw new RangeError(`Expected \`${name}\` to be at most ${MAX_DURATION_SECONDS} seconds (100 years), got ${describe(value)}`);
  }
  return value;
}

/** An integer from 1 to `maximum`. */
export function integerInRange(name: string, value: unknown, maximum: number): number {
  positiveInteger(name, value);
  if ((value as number) > maximum) throw new RangeError(`Expected \`${name}\` to be an integer from 1 to ${maximum}, got ${describe(value)}`);
  return value as number;
}
