// Durable sleep: the wake-up time is recorded when the sleep starts, so after a crash only the time
// that remained is slept. The sleep ends once its end is committed.
import { isPromise } from '../awaitable';
import { ALREADY_COMMITTED, type Commit } from '../store/store';
import { assertOpen, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';

export async function sleep(env: OperationEnvironment, execution: WorkflowExecution, durationMs: number): Promise<void> {
  assertOpen(env, 'sleep');
  const { position, recorded } = execution.begin('sleep', 'sleep');
  if (recorded !== undefined && recorded.completedAt !== null) return;
  let deadlineMs: number;
  let started: Commit = ALREADY_COMMITTED;
  if (recorded !== undefined) {
    deadlineMs = recorded.deadlineMs!;
  } else {
    // Whole epoch ms (deadline_ms is an INTEGER column), rounded up so a sleep never ends early.
    deadlineMs = Math.ceil(env.clock.now() + durationMs);
    const written = env.store.startWait({ ...position, deadlineMs, waitDetail: '{}' }, env.clock.now());
    started = isPromise(written) ? await written : written;
  }
  execution.progressed();
  await execution.committed(started);
  let untrack = (): void => {};
  let ended: Commit;
  try {
    ended = await env.waiters.wait<Commit>({
      description: { workflowUUID: execution.workflowUUID, kind: 'sleep', deadlineMs },
      keys: [],
      attempt: () => ({ done: false }),
      onTimeout: () => {
        execution.assertAlive();
        return env.store.recordOutcome(position, 'resumed', null, null, env.clock.now());
      },
      onStarted: (wait) => (untrack = execution.trackWait(wait)),
    });
  } finally {
    untrack();
  }
  await execution.committed(ended);
  operationRecorded(env, position);
}
