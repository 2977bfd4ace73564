// Serialization at the edge of every operation: encode (refusing what cannot round-trip) and enforce
// the payload limit before anything is recorded; decode recorded outcomes back into values or errors.
import { PayloadTooLargeError, safeString, SerializationError, UnreadableRecordError } from '../errors';
import { decode, encode } from '../store/codec';
import type { OperationEnvironment } from './environment';

/** Encodes `value`, naming it `what` in errors. Throws SerializationError / PayloadTooLargeError. */
export function encodePayload(env: OperationEnvironment, value: unknown, what: string): string {
  let text: string;
  try {
    text = encode(value);
  } catch (error) {
    if (error instanceof SerializationError) {
      throw new SerializationError(`The ${what} cannot be stored: ${error.message}`, { cause: error.cause });
    }
    throw error;
  }
  const limit = env.options.maxPayloadBytes;
  // Bytes are at most 3x UTF-16 units, so most payloads skip the exact count.
  if (text.length * 3 > limit) {
    const size = Buffer.byteLength(text, 'utf8');
    if (size > limit) throw new PayloadTooLargeError(what, size, limit);
  }
  return text;
}

/**
 * Encodes an error to record; an error that cannot be encoded is recorded by name and message, and a
 * thrown value that is not an Error as an Error describing it. Never throws: whatever was thrown,
 * something is recorded, so a replay meets the same failure.
 */
export function encodeError(error: unknown): string {
  const isError = safeTest(() => error instanceof Error);
  try {
    return encode(isError ? error : new Error(safeString(() => error)));
  } catch {
    const plain = new Error(safeString(() => (isError ? (error as Error).message : error)));
    if (isError) plain.name = safeString(() => (error as Error).name);
    return encode(plain);
  }
}

/** A test on a thrown value that may throw itself (a revoked Proxy throws even on `instanceof`). */
function safeTest(test: () => boolean): boolean {
  try {
    return test();
  } catch {
    return false;
  }
}

/**
 * Decodes a stored record of `workflowUUID` (`record` names it, or builds its name).
 * @throws UnreadableRecordError naming `record` when the text cannot be decoded (damaged, or written
 *   by an incompatible version).
 */
export function decodeRecord<T>(text: string | null, workflowUUID: string, record: string | (() => string)): T {
  try {
    return decode<T>(text);
  } catch (error) {
    // A name given as a function is built only on failure: hot paths decode thousands of values.
    throw new UnreadableRecordError(workflowUUID, typeof record === 'string' ? record : record(), error);
  }
}

/**
 * Returns a recorded output, or throws the recorded error.
 * @throws UnreadableRecordError when the record cannot be decoded.
 */
export function outcomeOf<T>(output: string | null, error: string | null, workflowUUID: string, record: string): T {
  if (error !== null) throw decodeRecord<Error>(error, workflowUUID, `error of ${record}`);
  return decodeRecord<T>(output, workflowUUID, record);
}

/**
 * Decodes a value for a listing: a record that cannot be read shows as its UnreadableRecordError, so
 * one damaged row never hides the others.
 */
export function decodeForListing(text: string | null, workflowUUID: string, record: string): unknown {
  try {
    return decodeRecord(text, workflowUUID, record);
  } catch (error) {
    return error;
  }
}
