// setEvent and getEvent. An event is immutable: the first value for a (workflow, key) is kept and a
// second setEvent of that key is a recorded DuplicateEventKeyError. getEvent waits for the key.
import { DuplicateEventKeyError } from '../errors';
import { andThen, isPromise, type Awaitable } from '../awaitable';
import { eventKey, type Attempt } from '../runtime/waiters';
import { assertOpen, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { decodeRecord, encodeError, encodePayload } from './payload';
import { runRecordedWait } from './wait';

const NOT_YET = Object.freeze({ done: false as const });

export async function setEvent(env: OperationEnvironment, execution: WorkflowExecution, key: string, value: unknown): Promise<void> {
  assertOpen(env, 'setEvent');
  const text = encodePayload(env, value, `value of event "${key}"`);
  const { position, recorded } = execution.begin('setEvent', 'setEvent');
  if (recorded !== undefined) return execution.replay<void>(recorded);
  const workflowUUID = execution.workflowUUID;
  const written = env.store.setEvent(
    position, key, text, () => encodeError(new DuplicateEventKeyError(workflowUUID, key)), env.clock.now(),
  );
  const { value: inserted, commit } = isPromise(written) ? await written : written;
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  if (!inserted) throw new DuplicateEventKeyError(workflowUUID, key);
  // The stored value travels with the wake-up: a thousand waiters on one key read nothing more.
  env.waiters.notify(eventKey(workflowUUID, key), text);
}

/** getEvent inside a workflow: what it saw (value or null) is recorded and replayed. */
export function getEventInWorkflow<T>(env: OperationEnvironment, execution: WorkflowExecution, targetUUID: string, key: string, timeoutMs: number): Promise<T | null> {
  return runRecordedWait<T>(env, execution, {
    kind: 'getEvent',
    timeoutMs,
    wakeKeys: [eventKey(targetUUID, key)],
    waitDetail: { workflowUUID: targetUUID, key },
    description: { targetUUID, key },
    attempt: (position, phase, wait, nowMs) => env.store.readEvent(position, phase, targetUUID, key, wait, nowMs),
  });
}

/**
 * getEvent outside workflows: nothing is recorded. Waits even for a workflow that does not exist yet.
 * Returns committed values only: an event set in a transaction still committing is returned once
 * that commit succeeds (and awaited further if it fails).
 */
export async function getEventFromHandler<T>(env: OperationEnvironment, targetUUID: string, key: string, timeoutMs: number): Promise<T | null> {
  assertOpen(env, 'getEvent');
  const { store } = env;
  const read = (): Awaitable<string | undefined> => store.events.getValue(targetUUID, key);
  // Named only on failure, by a builder made once per call: ten thousand waiters woken on one key
  // then decode on the wake-up path without allocating anything more each.
  const recordName = (): string => `value of event "${key}"`;
  const wakeKey = eventKey(targetUUID, key);
  const look = (): Awaitable<Attempt<string | null>> => andThen(read(), (value) => (value === undefined ? NOT_YET : { done: true, value }));
  const first = read();
  let initial: Awaitable<Attempt<string | null>> = NOT_YET;
  if (isPromise(first) && timeoutMs > 0) {
    // An asynchronous store: the wait subscribes in this very turn, while the first read is on its
    // way, and that read's answer is the wait's first check (a wake-up meanwhile is met after it).
    initial = first.then((value) => (value === undefined ? NOT_YET : { done: true, value }));
  } else {
    // Events are immutable, so a stored value is a committed one, unless it was set in the very
    // transaction still waiting to commit: only then is the answer held back until that commit.
    // A synchronous store's answer is taken in this turn: the wait below then subscribes in it too.
    let found = isPromise(first) ? await first : first;
    if (found !== undefined && store.isEventUncommitted(targetUUID, key)) found = await store.readCommitted(read);
    if (found !== undefined) return decodeRecord<T>(found, targetUUID, recordName);
    if (timeoutMs === 0) return null;
  }
  const text = await env.waiters.waitUnlessDone<string | null>(initial, {
    description: { workflowUUID: null, kind: 'getEvent', targetUUID, key, deadlineMs: env.clock.now() + timeoutMs },
    keys: [wakeKey],
    attempt: (payload) => {
      // A payload comes with the notification that follows the event's commit.
      if (payload !== undefined) return { done: true, value: payload };
      // Another process's commit (or a re-check): a value seen while this process has writes
      // waiting to commit may be one of them, so look again once they settled.
      if (store.isEventUncommitted(targetUUID, key)) {
        store.afterSettle(() => env.waiters.notify(wakeKey));
        return { done: false };
      }
      return look();
    },
    onTimeout: () => (store.isEventUncommitted(targetUUID, key) ? null : andThen(read(), (value) => value ?? null)),
  });
  return text === null ? null : decodeRecord<T>(text, targetUUID, recordName);
}
