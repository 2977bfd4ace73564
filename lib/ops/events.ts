// setEvent and getEvent. An event is immutable: the first value for a (workflow, key) is kept and a
// second setEvent of that key is a recorded DuplicateEventKeyError. getEvent waits for the key.
import { DuplicateEventKeyError } from '../errors';
import { decode } from '../store/codec';
import { eventKey } from '../runtime/waiters';
import { assertOpen, beforeRead, committed, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodeError, encodePayload, outcomeOf } from './payload';
import { runRecordedWait } from './wait';

export async function setEvent(env: OperationEnvironment, execution: WorkflowExecution, key: string, value: unknown): Promise<void> {
  assertOpen(env, 'setEvent');
  const text = encodePayload(env, value, `value of event "${key}"`);
  const { position, recorded } = execution.begin('setEvent', 'setEvent');
  if (recorded !== undefined) return outcomeOf<void>(recorded.output, recorded.error);
  const workflowUUID = execution.workflowUUID;
  const inserted = env.store.setEvent(
    position, key, text, () => encodeError(new DuplicateEventKeyError(workflowUUID, key)), env.clock.now(),
  );
  execution.progressed();
  await committed(env);
  if (!inserted) throw new DuplicateEventKeyError(workflowUUID, key);
  // The stored value travels with the wake-up: a thousand waiters on one key read nothing more.
  env.waiters.notify(eventKey(workflowUUID, key), text);
}

/** getEvent inside a workflow: what it saw (value or null) is recorded and replayed. */
export function getEventInWorkflow<T>(env: OperationEnvironment, execution: WorkflowExecution, targetUUID: string, key: string, timeoutMs: number): Promise<T | null> {
  return runRecordedWait<T>(env, execution, {
    kind: 'getEvent',
    timeoutMs,
    wakeKey: eventKey(targetUUID, key),
    waitDetail: { workflowUUID: targetUUID, key },
    description: { targetUUID, key },
    attempt: (position, phase, wait, nowMs) => env.store.readEvent(position, phase, targetUUID, key, wait, nowMs),
  });
}

/** getEvent outside workflows: nothing is recorded. Waits even for a workflow that does not exist yet. */
export async function getEventFromHandler<T>(env: OperationEnvironment, targetUUID: string, key: string, timeoutMs: number): Promise<T | null> {
  assertOpen(env, 'getEvent');
  const read = (): string | undefined => env.store.events.getValue(targetUUID, key);
  const found = read();
  if (found !== undefined) {
    // Only committed values are returned: one set in this very turn waits for its commit. Any other
    // is returned at once, without waiting for unrelated writes of the turn to commit.
    if (env.store.isEventUncommitted(targetUUID, key)) await beforeRead(env, 'getEvent');
    return decode<T>(found);
  }
  if (timeoutMs === 0) return null;
  const text = await env.waiters.wait<string | null>({
    description: { workflowUUID: null, kind: 'getEvent', targetUUID, key, deadlineMs: env.clock.now() + timeoutMs },
    keys: [eventKey(targetUUID, key)],
    attempt: (payload) => {
      const value = payload ?? read();
      return value === undefined ? { done: false } : { done: true, value };
    },
    onTimeout: () => read() ?? null,
  });
  return text === null ? null : decode<T>(text);
}
