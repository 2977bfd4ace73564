// Serialization at the edge of every operation: encode (refusing what cannot round-trip) and enforce
// the payload limit before anything is recorded; decode recorded outcomes back into values or errors.
import { PayloadTooLargeError, SerializationError } from '../errors';
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

/** Encodes an error to record; an error that cannot be encoded is recorded by name and message. */
export function encodeError(error: unknown): string {
  try {
    return encode(error instanceof Error ? error : new Error(String(error)));
  } catch {
    const plain = new Error(error instanceof Error ? error.message : String(error));
    if (error instanceof Error) plain.name = error.name;
    return encode(plain);
  }
}

/** Returns a recorded output, or throws the recorded error. */
export function outcomeOf<T>(output: string | null, error: string | null): T {
  if (error !== null) throw decode<Error>(error);
  return decode<T>(output);
}
