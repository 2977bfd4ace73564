// The shared shape of recv, select, in-workflow getEvent and in-workflow stream reads: replay, or attempt-and-record in one commit,
// else record the wait's start (with its absolute deadline) and wait for a wake-up or the deadline.
// A recovered wait resumes with the deadline recorded before the crash. Whatever ends the wait (a
// wake-up's attempt, or the deadline's) writes into some batch: the wait resolves only after that
// batch's commit, and a failed commit (of the start, or of the outcome) ends the run.
import { andThen, isPromise, type Awaitable } from '../awaitable';
import type { AttemptPhase, AttemptResult, WaitPlan } from '../store/store';
import type { Attempt, WaitDescription } from '../runtime/waiters';
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
  attempt(position: OperationPosition, phase: AttemptPhase, wait: WaitPlan | null, nowMs: number): Awaitable<AttemptResult>;
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
  const attempt = (outOfTime: boolean): Awaitable<AttemptResult> => {
    // A run that died (a commit of its failed) writes nothing more.
    execution.assertAlive();
    const nowMs = env.clock.now();
    const plan = !outOfTime && nowMs < deadlineMs ? { deadlineMs, waitDetail } : null;
    return andThen(wait.attempt(position, phase, plan, nowMs), (result) => {
      phase = 'resumed';
      void execution.committed(result.commit);
      return result;
    });
  };
  const toAttempt = (result: AttemptResult): Attempt<Found> => (result.found ? { done: true, value: result } : KEEP_WAITING);

  const first = attempt(false);
  let found: Found;
  if (!isPromise(first) && first.found) {
    execution.progressed();
    found = first;
  } else {
    // On a synchronous store, subscribe in the same turn as the check, so no wake-up can fall between
    // them; on an asynchronous one, the wait subscribes before the check completes (see waiters.ts).
    // If the commit recording the wait's start fails, the run dies and this wait ends with it.
    if (!isPromise(first)) execution.progressed();
    let untrack = (): void => {};
    try {
      found = await env.waiters.wait<Found>({
        description: { ...wait.description, workflowUUID: execution.workflowUUID, kind: wait.kind, deadlineMs },
        keys: wait.wakeKeys,
        attempt: () => andThen(attempt(false), toAttempt),
        initial: isPromise(first)
          ? first.then((result) => {
            execution.progressed();
            return toAttempt(result);
          })
          : undefined,
        onTimeout: () => attempt(true) as Awaitable<Found>,
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
