// The shared shape of recv and in-workflow getEvent: replay, or attempt-and-record in one commit,
// else record the wait's start (with its absolute deadline) and wait for a wake-up or the deadline.
// A recovered wait resumes with the deadline recorded before the crash.
import type { AttemptPhase, AttemptResult, OperationPosition, WaitPlan } from '../store/store';
import type { StartedWait, WaitDescription } from '../runtime/waiters';
import type { OperationKind } from '../types';
import { assertOpen, committed, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { outcomeOf } from './payload';
import { decode } from '../store/codec';

export interface RecordedWait {
  kind: OperationKind & ('recv' | 'getEvent');
  timeoutMs: number;
  /** Wake-up key whose notification may satisfy the wait. */
  wakeKey: string;
  waitDetail: Record<string, unknown>;
  description: Omit<WaitDescription, 'deadlineMs' | 'workflowUUID' | 'kind'>;
  /** One attempt in one transaction: read (or consume) and record, or start/continue waiting. */
  attempt(position: OperationPosition, phase: AttemptPhase, wait: WaitPlan | null, nowMs: number): AttemptResult;
}

export async function runRecordedWait<T>(env: OperationEnvironment, execution: WorkflowExecution, wait: RecordedWait): Promise<T | null> {
  assertOpen(env, wait.kind);
  const { position, recorded } = execution.begin(wait.kind, wait.kind);
  let phase: AttemptPhase = 'first';
  let deadlineMs: number;
  if (recorded !== undefined) {
    if (recorded.completedAt !== null) return outcomeOf<T | null>(recorded.output, recorded.error);
    phase = 'resumed';
    deadlineMs = recorded.deadlineMs!;
  } else {
    // Whole epoch ms (deadline_ms is an INTEGER column), rounded up so a wait never ends early.
    deadlineMs = Math.ceil(env.clock.now() + wait.timeoutMs);
  }
  const waitDetail = JSON.stringify(wait.waitDetail);
  const attempt = (): AttemptResult => {
    const nowMs = env.clock.now();
    const plan = nowMs < deadlineMs ? { deadlineMs, waitDetail } : null;
    const result = wait.attempt(position, phase, plan, nowMs);
    phase = 'resumed';
    return result;
  };

  const first = attempt();
  execution.progressed();
  if (first.found) {
    await committed(env);
    return decode<T | null>(first.value);
  }
  // Subscribe in the same turn as the check, so no wake-up can fall between them; only then await
  // the commit that recorded the wait's start (and abandon the wait if that commit failed).
  let started: StartedWait | undefined;
  const waiting = env.waiters.wait<string>({
    description: { ...wait.description, workflowUUID: execution.workflowUUID, kind: wait.kind, deadlineMs },
    keys: [wait.wakeKey],
    attempt: () => {
      const result = attempt();
      return result.found ? { done: true, value: result.value } : { done: false };
    },
    onTimeout: () => {
      const result = wait.attempt(position, 'resumed', null, env.clock.now());
      return result.found ? result.value : 'null';
    },
    onStarted: (wait) => (started = wait),
  });
  try {
    await committed(env);
  } catch (error) {
    started?.fail(error as Error);
  }
  const text = await waiting;
  await committed(env);
  return decode<T | null>(text);
}
