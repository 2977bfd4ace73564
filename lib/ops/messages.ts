// send and recv. A message is appended to its (destination, topic) queue in insertion order; recv
// consumes the oldest and records it as its result in the same commit, so a crash can neither lose
// nor repeat it. Waiting receivers are woken right after the commit that queued their message.
import { WorkflowNotFoundError } from '../errors';
import { messageKey } from '../runtime/waiters';
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
  await commit.durable;
  if (result === 'sent') env.waiters.notify(messageKey(destinationUUID, topic));
  return result;
}

/** Workflow-side send: recorded, so a replayed workflow never sends twice. */
export async function sendFromWorkflow(env: OperationEnvironment, execution: WorkflowExecution, destinationUUID: string, message: unknown, topic: string | null): Promise<void> {
  assertOpen(env, 'send');
  const text = encodePayload(env, message, 'message');
  const { position, recorded } = execution.begin('send', 'send');
  if (recorded !== undefined) return execution.replay<void>(recorded);
  const { value: result, commit } = env.store.sendFromWorkflow(
    position, destinationUUID, text, topic, () => encodeError(new WorkflowNotFoundError(destinationUUID)), env.clock.now(),
  );
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  if (result === 'not-found') throw new WorkflowNotFoundError(destinationUUID);
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
