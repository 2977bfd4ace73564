// The shared shape of recv, select, in-workflow getEvent and in-workflow stream reads: replay, or attempt-and-record in one commit,
// else record the wait's start (with its absolute deadline) and wait for a wake-up or the deadline.
// A recovered wait resumes with the deadline recorded before the crash. Whatever ends the wait (a
// wake-up's attempt, or the deadline's) writes into some batch: the wait resolves only after that
// batch's commit, and a failed commit (of the start, or of the outcome) ends the run.
import type { WaitPlan } from '../store/operations';
import type { AttemptPhase, AttemptResult } from '../store/store';
import type { WaitDescription } from '../runtime/waiters';
import type { OperationKind, OperationPosition } from '../types';
import { assertOpen, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';

export interface RecordedWait {
  kind: OperationKind & ('recv' | 'getEvent' | 'select' | 'readStream');
  timeoutMs: number;
  /** Wake-up keys whose notification may satisfy the wait. */
  wakeKeys: readonly string[];
  waitDetail: Record<string, unknown>;
  description: Omit<WaitDescription, 'deadlineMs' | 'workflowUUID' | 'kind'>;
  /** One attempt in one transaction: read (or consume) and record, or start/continue waiting. */
  attempt(position: OperationPosition, phase: AttemptPhase, wait: WaitPlan | null, nowMs: number): AttemptResult;
}

type Found = AttemptResult & { found: true };

const KEEP_WAITING = Object.freeze({ done: false as const });

export async function runRecordedWait<T>(env: OperationEnvironment, execution: WorkflowExecution, wait: RecordedWait): Promise<T | null> {
  assertOpen(env, wait.kind);
  const { position, recorded } = execution.begin(wait.kind, wait.kind);
  let phase: AttemptPhase = 'first';
  let deadlineMs: number;
  if (recorded !== undefined) {
    if (recorded.completedAt !== null) return execution.replay<T | null>(recorded);
    phase = 'resumed';
    deadlineMs = recorded.deadlineMs!;
  } else {
    // Whole epoch ms (deadline_ms is an INTEGER column), rounded up so a wait never ends early.
    deadlineMs = Math.ceil(env.clock.now() + wait.timeoutMs);
  }
  const waitDetail = JSON.stringify(wait.waitDetail);
  // `outOfTime` records the outcome at the deadline (null unless something arrived just then).
  const attempt = (outOfTime: boolean): AttemptResult => {
    // A run that died (a commit of its failed) writes nothing more.
    execution.assertAlive();
    const nowMs = env.clock.now();
    const plan = !outOfTime && nowMs < deadlineMs ? { deadlineMs, waitDetail } : null;
    const result = wait.attempt(position, phase, plan, nowMs);
    phase = 'resumed';
    void execution.committed(result.commit);
    return result;
  };

  const first = attempt(false);
  execution.progressed();
  let found: Found;
  if (first.found) {
    found = first;
  } else {
    // Subscribe in the same turn as the check, so no wake-up can fall between them. If the commit
    // recording the wait's start fails, the run dies and this wait ends with it.
    let untrack = (): void => {};
    try {
      found = await env.waiters.wait<Found>({
        description: { ...wait.description, workflowUUID: execution.workflowUUID, kind: wait.kind, deadlineMs },
        keys: wait.wakeKeys,
        attempt: () => {
          const result = attempt(false);
          return result.found ? { done: true, value: result } : KEEP_WAITING;
        },
        onTimeout: () => attempt(true) as Found,
        onStarted: (started) => (untrack = execution.trackWait(started)),
      });
    } finally {
      untrack();
    }
  }
  await execution.committed(found.commit);
  operationRecorded(env, position);
  return execution.decodeRecorded<T | null>(found.value, position);
}
