// ctxt.now() and ctxt.randomUUID(): values that differ on every run, taken once and recorded, so that
// a replay after a crash gets the very same value and takes the same path. Each is an operation like
// any other: one row in the group commit, resolved once that commit landed.
import { randomUUID } from 'node:crypto';
import { isPromise } from '../awaitable';
import { assertOpen, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';

/** Takes a value (a time, a UUID) on the first run and records it; a replay returns the record. */
async function recordedValue<T extends number | string>(env: OperationEnvironment, execution: WorkflowExecution, kind: 'now' | 'randomUUID', take: () => T): Promise<T> {
  assertOpen(env, kind);
  const { position, recorded } = execution.begin(kind, kind);
  if (recorded !== undefined) return execution.replay<T>(recorded);
  const value = take();
  // A finite number or a string: plain JSON is the codec's own form for both.
  const written = env.store.recordOutcome(position, 'first', JSON.stringify(value), null, env.clock.now());
  const commit = isPromise(written) ? await written : written;
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  return value;
}

/** The engine's time (the virtual clock's under TestEngine), recorded once. */
export function recordedNow(env: OperationEnvironment, execution: WorkflowExecution): Promise<number> {
  return recordedValue(env, execution, 'now', () => env.clock.now());
}

/** A random v4 UUID, recorded once. */
export function recordedRandomUUID(env: OperationEnvironment, execution: WorkflowExecution): Promise<string> {
  return recordedValue(env, execution, 'randomUUID', () => randomUUID());
}
