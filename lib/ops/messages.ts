// send and recv. A message is appended to its (destination, topic) queue in insertion order; recv
// consumes the oldest and records it as its result in the same commit, so a crash can neither lose
// nor repeat it. Waiting receivers are woken right after the commit that queued their message.
import { isPromise } from '../awaitable';
import { PayloadTooLargeError, WorkflowCancelledError, WorkflowNotFoundError } from '../errors';
import { messageKey } from '../runtime/waiters';
import type { OutgoingMessage } from '../store/store';
import type { SendManyResult } from '../types';
import { optionalIdempotencyKey, optionalTopic, requireNonEmptyString, typeError } from '../validate';
import { assertOpen, operationRecorded, writeWhenUnlocked, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodeError, encodePayload } from './payload';
import { runRecordedWait } from './wait';

/**
 * Handler-side send (outside workflows). With an idempotency key, repeats store nothing. The write
 * happens at call time (or, on a client meeting another connection's lock, in call order after it),
 * so un-awaited sends are stored in call order. Resolves to `'duplicate'` when the idempotency key
 * was used before (nothing was stored).
 */
export async function sendFromHandler(env: OperationEnvironment, destinationUUID: string, message: string, topic: string | null, idempotencyKey: string | null): Promise<'sent' | 'duplicate'> {
  assertOpen(env, 'send');
  const { value: result, commit } = await writeWhenUnlocked(env, () => env.store.send(destinationUUID, message, topic, idempotencyKey, env.clock.now()));
  if (result === 'not-found') throw new WorkflowNotFoundError(destinationUUID);
  if (result === 'cancelled') throw refusedAsCancelled(destinationUUID);
  await commit.durable;
  if (result === 'sent') env.waiters.notify(messageKey(destinationUUID, topic));
  return result;
}

/**
 * The most messages one sendMany takes. A batch is one transaction: on an owner it runs on the event
 * loop, and on a client it holds the write lock the owner waits for, as long as its inserts take
 * (about 10-20 ms for 1,000 small messages; docs/api.md#enginesendmanymessages has the figures).
 * Together its payloads may serialize to at most `maxPayloadBytes`, for the same reason.
 */
export const MAX_SEND_MANY_MESSAGES = 1000;

/**
 * Checks every message of a sendMany (a TypeError/RangeError names the first bad one, e.g.
 * `messages[3].topic`), then encodes each payload (SerializationError/PayloadTooLargeError name it).
 * Each field is read once, so a getter cannot change what was checked.
 */
export function prepareSendMany(env: OperationEnvironment, messages: unknown): OutgoingMessage[] {
  if (!Array.isArray(messages)) throw typeError('messages', 'an array of { destinationUUID, message, topic?, idempotencyKey? }', messages);
  const count = messages.length;
  if (count > MAX_SEND_MANY_MESSAGES) {
    throw new RangeError(`Expected \`messages\` to hold at most ${MAX_SEND_MANY_MESSAGES} messages, got ${count}. Split it into several sendMany calls (each is atomic on its own).`);
  }
  const checked: { destinationUUID: string; message: unknown; topic: string | null; idempotencyKey: string | null }[] = new Array(count);
  for (let index = 0; index < count; index++) {
    const element: unknown = messages[index];
    const name = `messages[${index}]`;
    if (typeof element !== 'object' || element === null || Array.isArray(element)) {
      throw typeError(name, 'an object like { destinationUUID, message, topic?, idempotencyKey? }', element);
    }
    const fields = element as Record<string, unknown>;
    checked[index] = {
      destinationUUID: requireNonEmptyString(`${name}.destinationUUID`, fields.destinationUUID),
      message: fields.message,
      topic: optionalTopic(fields.topic, `${name}.topic`),
      idempotencyKey: optionalIdempotencyKey(fields.idempotencyKey, `${name}.idempotencyKey`),
    };
  }
  assertOpen(env, 'sendMany');
  const limitBytes = env.options.maxPayloadBytes;
  let totalBytes = 0;
  return checked.map(({ message, ...rest }, index) => {
    const text = encodePayload(env, message, `message at messages[${index}]`);
    totalBytes += Buffer.byteLength(text, 'utf8');
    if (totalBytes > limitBytes) {
      throw new PayloadTooLargeError(`batch (messages[0] to messages[${index}] together; split it into several sendMany calls)`, totalBytes, limitBytes);
    }
    return { ...rest, message: text };
  });
}

/**
 * Handler-side sendMany: every message or none, in one transaction (see Store.sendMany), then the
 * queues that got a message are woken, once each.
 * @throws WorkflowNotFoundError naming the first unknown destination (nothing is stored).
 */
export async function sendManyFromHandler(env: OperationEnvironment, batch: readonly OutgoingMessage[]): Promise<SendManyResult> {
  assertOpen(env, 'sendMany');
  if (batch.length === 0) return { sent: 0, duplicates: 0 };
  const { value: outcome, commit } = await writeWhenUnlocked(env, () => env.store.sendMany(batch, env.clock.now()));
  if (outcome.notFound !== null) throw new WorkflowNotFoundError(outcome.notFound);
  if (outcome.cancelled !== undefined) throw refusedAsCancelled(outcome.cancelled);
  await commit.durable;
  const woken = new Set<string>();
  let sent = 0;
  for (let index = 0; index < batch.length; index++) {
    if (!outcome.inserted[index]) continue;
    sent++;
    woken.add(messageKey(batch[index]!.destinationUUID, batch[index]!.topic));
  }
  for (const key of woken) env.waiters.notify(key);
  return { sent, duplicates: batch.length - sent };
}

/** The error a send to a CANCELLED workflow is refused with (nothing is stored). */
function refusedAsCancelled(destinationUUID: string): WorkflowCancelledError {
  return new WorkflowCancelledError(
    destinationUUID,
    `Workflow "${destinationUUID}" is cancelled and takes no messages; nothing was stored. Resume it with resumeWorkflow("${destinationUUID}") first.`,
  );
}

/** Workflow-side send: recorded, so a replayed workflow never sends twice. */
export async function sendFromWorkflow(env: OperationEnvironment, execution: WorkflowExecution, destinationUUID: string, message: unknown, topic: string | null): Promise<void> {
  assertOpen(env, 'send');
  const text = encodePayload(env, message, 'message');
  const { position, recorded } = execution.begin('send', 'send');
  if (recorded !== undefined) return execution.replay<void>(recorded);
  const written = env.store.sendFromWorkflow(
    position, destinationUUID, text, topic,
    (refusal) => encodeError(refusal === 'not-found' ? new WorkflowNotFoundError(destinationUUID) : refusedAsCancelled(destinationUUID)),
    env.clock.now(),
  );
  const { value: result, commit } = isPromise(written) ? await written : written;
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  if (result === 'not-found') throw new WorkflowNotFoundError(destinationUUID);
  if (result === 'cancelled') throw refusedAsCancelled(destinationUUID);
  env.waiters.notify(messageKey(destinationUUID, topic));
}

/** recv: the next message of this workflow's queue for `topic`, or null at the deadline. */
export function receive<T>(env: OperationEnvironment, execution: WorkflowExecution, topic: string | null, timeoutMs: number): Promise<T | null> {
  return runRecordedWait<T>(env, execution, {
    kind: 'recv',
    timeoutMs,
    wakeKeys: [messageKey(execution.workflowUUID, topic)],
    waitDetail: { topic },
    description: { topic },
    attempt: (position, phase, wait, nowMs) => env.store.receive(position, phase, topic, wait, nowMs),
  });
}
