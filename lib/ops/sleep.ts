// Durable sleep: the wake-up time is recorded when the sleep starts, so after a crash only the time
// that remained is slept.
import { assertOpen, committed, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';

export async function sleep(env: OperationEnvironment, execution: WorkflowExecution, durationMs: number): Promise<void> {
  assertOpen(env, 'sleep');
  const { position, recorded } = execution.begin('sleep', 'sleep');
  if (recorded !== undefined && recorded.completedAt !== null) return;
  let deadlineMs: number;
  if (recorded !== undefined) {
    deadlineMs = recorded.deadlineMs!;
  } else {
    // Whole epoch ms (deadline_ms is an INTEGER column), rounded up so a sleep never ends early.
    deadlineMs = Math.ceil(env.clock.now() + durationMs);
    env.store.startWait({ ...position, deadlineMs, waitDetail: '{}' }, env.clock.now());
  }
  execution.progressed();
  await committed(env);
  await env.waiters.wait<void>({
    description: { workflowUUID: execution.workflowUUID, kind: 'sleep', deadlineMs },
    keys: [],
    attempt: () => ({ done: false }),
    onTimeout: () => env.store.recordOutcome(position, 'resumed', null, null, env.clock.now()),
  });
  await committed(env);
}
