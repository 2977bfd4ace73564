// Steps: run the function, then record its result or error. On replay the recorded outcome is
// returned and the function does not run. A step whose run was not recorded (crash mid-step) runs
// again: execution is at-least-once, recording is exactly-once. A step starts only while its workflow
// is not CANCELLED; one already running when the cancel commits finishes and is recorded.
//
// A step with retries records each failed attempt before it pauses: its row stays started (not
// completed), with the next attempt's time as its deadline and the failed attempts as its detail, as
// a sleep records its wake-up time. A resumed run finds that row and carries on at the next attempt,
// at the recorded time; the next attempt runs only once the failure's commit has landed.
import { isPromise } from '../awaitable';
import type { StepContext, StepRef, StepRetryPolicy } from '../contracts';
import { PayloadTooLargeError, SerializationError, StepRetriesExceededError, WorkflowContextError } from '../errors';
import { decode } from '../store/codec';
import type { AttemptPhase } from '../store/store';
import type { OperationPosition, OperationRecord } from '../types';
import { requireNonEmptyString } from '../validate';
import { assertOpen, emitEvent, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodeError, encodePayload } from './payload';
import { writeStreamFromStep } from './streams';
import { workflowOnlyBase } from './workflow-only';

/**
 * A StepContext tells where the step runs (and which attempt this is) and can write to its
 * workflow's streams (not recorded: at least once). Calling a workflow operation on it is a
 * WorkflowContextError. closeStream and readStream stay the workflow's: a close from a step that
 * runs again could end a stream its workflow still writes to, and a step's read would be neither
 * recorded nor replayed.
 */
class StepContextImpl extends workflowOnlyBase(
  ['invoke', 'runStep', 'startChildWorkflow', 'childWorkflow', 'send', 'recv', 'recvAny', 'select', 'setEvent', 'getEvent', 'sleep', 'closeStream', 'readStream', 'now', 'randomUUID'],
  'a step (durable operations belong to the workflow that calls the step)',
) implements StepContext {
  readonly workflowUUID: string;
  readonly stepName: string;
  readonly operationIndex: number;
  readonly attempt: number;
  readonly #env: OperationEnvironment;
  #running = true;

  constructor(env: OperationEnvironment, workflowUUID: string, stepName: string, operationIndex: number, attempt: number) {
    super();
    this.#env = env;
    this.workflowUUID = workflowUUID;
    this.stepName = stepName;
    this.operationIndex = operationIndex;
    this.attempt = attempt;
  }

  writeStream<T>(key: string, value: T): Promise<void> {
    try {
      requireNonEmptyString('key', key);
      if (!this.#running) throw new WorkflowContextError('writeStream', `step ${this.stepName} after it returned (a StepContext works only while its step runs)`);
      return writeStreamFromStep(this.#env, this.workflowUUID, this.operationIndex, key, value);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The step's function returned: a context kept past its step writes nothing. */
  static ended(context: StepContextImpl): void {
    context.#running = false;
  }
}

/** How one attempt ended: its result, or what it threw. */
type AttemptOutcome<R> = { failed: false; result: R } | { failed: true; thrown: unknown };

/** What a step with retries records of one failed attempt (its error already encoded), as stored. */
function failureText(attempt: number, failedAtMs: number, error: string): string {
  return `{"attempt":${attempt},"failedAt":${failedAtMs},"error":${error}}`;
}

/** The detail of a step backing off: every failed attempt so far, in order. */
function failuresDetail(failures: readonly string[]): string {
  return `{"failures":[${failures.join(',')}]}`;
}

/** The failed attempts a step recorded before (as stored, to append to), read from its started row. */
function recordedFailures(execution: WorkflowExecution, recorded: OperationRecord, position: OperationPosition): string[] {
  // Decoded first, so a damaged detail ends the run with an UnreadableRecordError naming it.
  execution.decodeRecorded<unknown>(recorded.waitDetail ?? 'null', position);
  const parsed = JSON.parse(recorded.waitDetail ?? 'null') as { failures?: unknown } | null;
  return Array.isArray(parsed?.failures) ? parsed.failures.map((failure) => JSON.stringify(failure)) : [];
}

/** The pause after attempt `attempt` failed (0 × ∞, for a zero interval and a huge rate, is 0). */
export function retryDelayMs(policy: StepRetryPolicy, attempt: number): number {
  if (policy.intervalMs === 0) return 0;
  const delayMs = policy.intervalMs * policy.backoffRate ** (attempt - 1);
  return Number.isFinite(delayMs) ? Math.min(policy.maxIntervalMs, delayMs) : policy.maxIntervalMs;
}

/**
 * What becomes of a failed attempt: `retry` (the policy allows another, the error is not the
 * engine's own storage failure, and `retryIf`, if any, says yes); `refused` (`retryIf` says no, or
 * throws, or answers with a promise: the step fails with the error as it is, whichever attempt it
 * was); `exhausted` (that was the last attempt); `none` (no policy, or a storage failure).
 */
function afterFailure(env: OperationEnvironment, policy: StepRetryPolicy | null, thrown: unknown, attempt: number): 'retry' | 'refused' | 'exhausted' | 'none' {
  if (policy === null || env.store.isOwnFailure(thrown)) return 'none';
  if (policy.retryIf !== null) {
    let answer: unknown;
    try {
      answer = policy.retryIf(thrown, attempt);
    } catch {
      return 'refused';
    }
    if (typeof (answer as { then?: unknown })?.then === 'function') {
      // retryIf must answer at once: a promise is refused (and its rejection, if any, absorbed).
      (answer as Promise<unknown>).then(undefined, () => {});
      return 'refused';
    }
    if (!answer) return 'refused';
  }
  return attempt >= policy.maxAttempts ? 'exhausted' : 'retry';
}

/** The longest error a failed attempt keeps in the step's history (longer ones are cut). */
const MAX_FAILURE_ERROR_CHARS = 4096;

/**
 * An error as a failed attempt records it: as `encodeError` stores it, cut to a name and the start of
 * its message when that is longer than MAX_FAILURE_ERROR_CHARS, so a step's history stays bounded.
 */
function failureError(thrown: unknown): string {
  const encoded = encodeError(thrown);
  if (encoded.length <= MAX_FAILURE_ERROR_CHARS) return encoded;
  const reduced = decode<unknown>(encoded) as { name?: unknown; message?: unknown } | null;
  const cut = new Error(`${String(reduced?.message ?? '').slice(0, MAX_FAILURE_ERROR_CHARS / 2)}… (cut: the error took ${encoded.length} characters)`);
  cut.name = String(reduced?.name ?? 'Error');
  cut.stack = undefined;
  return encodeError(cut);
}

export async function runStep<R>(env: OperationEnvironment, execution: WorkflowExecution, step: StepRef<any[], R>, args: unknown[]): Promise<R> {
  assertOpen(env, `Step ${step.name}`);
  const { position, recorded } = execution.begin('step', step.name);
  if (recorded !== undefined && recorded.completedAt !== null) return execution.replay<R>(recorded);

  const policy = step.retries ?? null;
  // A started row: the step was backing off after a failed attempt (before a crash, or in a run a
  // failed commit ended). It resumes at the next attempt, at the time recorded for it.
  let phase: AttemptPhase = recorded === undefined ? 'first' : 'resumed';
  const failures = recorded === undefined ? [] : recordedFailures(execution, recorded, position);
  let nextAttemptMs = recorded === undefined ? null : recorded.deadlineMs;
  for (;;) {
    const attempt = failures.length + 1;
    if (nextAttemptMs !== null) await backOff(env, execution, position, attempt, nextAttemptMs);
    const outcome = await runAttempt(env, execution, step, position, attempt, args);
    // The step stays in flight until what this attempt records has settled (see stepEnded).
    try {
      let output: string | null = null;
      let thrown: unknown;
      let failed = outcome.failed;
      if (outcome.failed) {
        thrown = outcome.thrown;
        const next = afterFailure(env, policy, thrown, attempt);
        if (next === 'retry') {
          const failedAtMs = env.clock.now();
          failures.push(failureText(attempt, failedAtMs, failureError(thrown)));
          // Whole epoch ms (deadline_ms is an INTEGER column), rounded up so a pause never ends early.
          nextAttemptMs = Math.ceil(failedAtMs + retryDelayMs(policy!, attempt));
          const written = env.store.recordStepFailure({ ...position, deadlineMs: nextAttemptMs, waitDetail: failuresDetail(failures) }, phase, failedAtMs);
          const commit = isPromise(written) ? await written : written;
          phase = 'resumed';
          execution.progressed();
          // The next attempt starts only once this failure is durable: its count survives a crash.
          await execution.committed(commit);
          continue;
        }
        // Out of attempts: the step fails with the last error inside, as it is recorded (so that a
        // replay rethrows the very same cause). A step refused by retryIf, or failed by the engine's
        // own storage, fails with its error as it is.
        if (next === 'exhausted') {
          const cause = decode<unknown>(encodeError(thrown));
          thrown = new StepRetriesExceededError(execution.workflowUUID, position.operationIndex, step.name, attempt, cause);
        }
      } else {
        try {
          output = encodePayload(env, outcome.result, `result of step ${step.name}`);
        } catch (encodingError) {
          // A result that cannot be stored is the step's recorded failure, so a replay meets the same
          // one. It is not retried: the next attempt would most likely return the same kind of value.
          if (!(encodingError instanceof SerializationError || encodingError instanceof PayloadTooLargeError)) throw encodingError;
          thrown = encodingError;
          failed = true;
        }
      }
      const error = failed ? encodeError(thrown) : null;
      // A step that was running when its workflow was cancelled still has its outcome recorded: a
      // resumed workflow then replays it instead of running it again.
      const written = env.store.recordOutcome(position, phase, output, error, env.clock.now(), true);
      const commit = isPromise(written) ? await written : written;
      execution.progressed();
      await execution.committed(commit);
      operationRecorded(env, position);
      if (failed) throw thrown;
      return (outcome as { result: R }).result;
    } finally {
      execution.stepEnded();
    }
  }
}

/** Runs the step's code once, after every earlier commit of the run landed. */
async function runAttempt<R>(
  env: OperationEnvironment, execution: WorkflowExecution, step: StepRef<any[], R>, position: OperationPosition, attempt: number, args: unknown[],
): Promise<AttemptOutcome<R>> {
  const stepContext = new StepContextImpl(env, execution.workflowUUID, step.name, position.operationIndex, attempt);
  // No outside effect for a run whose earlier records (or start) might still roll back.
  const earlierCommits = execution.beforeSideEffects();
  if (earlierCommits !== undefined) await earlierCommits;
  // Again, in the same turn as the step starts: a commit may have failed, or the engine closed, since.
  const startable = (): void => {
    execution.assertAlive();
    assertOpen(env, `Step ${step.name}`);
    if (execution.cancellation !== null) throw execution.cancellation;
  };
  startable();
  // No step starts after a cancel's commit, whichever process cancelled (one primary-key read).
  const refused = env.store.refuseIfCancelled(execution.workflowUUID);
  if (isPromise(refused)) {
    await refused;
    startable();
  }
  const stepEvent = { workflowUUID: execution.workflowUUID, operationIndex: position.operationIndex, name: step.name };
  emitEvent(env.events, 'stepStarted', stepEvent);
  execution.stepStarted();
  let outcome: AttemptOutcome<R>;
  try {
    // A flag, not `thrown !== undefined`: a step may reject with no reason (`throw undefined`).
    outcome = { failed: false, result: await step.fn(stepContext, ...args) };
  } catch (caught) {
    outcome = { failed: true, thrown: caught };
  } finally {
    StepContextImpl.ended(stepContext);
    emitEvent(env.events, 'stepEnded', stepEvent);
  }
  try {
    assertOpen(env, `Recording step ${step.name}`);
    // A step that failed of this engine's own storage (a writeStream whose commit failed) did not
    // fail of its own: the run ends and resumes from its records, and the step runs again.
    if (outcome.failed) execution.noteFailure(outcome.thrown);
    // The run died meanwhile (its start, or another operation's commit, failed): record nothing.
    execution.assertAlive();
  } catch (error) {
    execution.stepEnded();
    throw error;
  }
  // Still in flight: runStep ends it once the attempt's record settled.
  return outcome;
}

/**
 * Waits until `nextAttemptMs` on the engine's clock (the virtual one under TestEngine). Reaching a
 * pause that has time left is progress, as reaching any wait is; a pause whose time already passed
 * is not, so a step that kills the process on every attempt is still counted by recovery.
 */
async function backOff(env: OperationEnvironment, execution: WorkflowExecution, position: OperationPosition, attempt: number, nextAttemptMs: number): Promise<void> {
  if (nextAttemptMs > env.clock.now()) execution.progressed();
  let untrack = (): void => {};
  try {
    await env.waiters.wait<true>({
      description: { workflowUUID: execution.workflowUUID, kind: 'step', stepName: position.name, attempt, deadlineMs: nextAttemptMs },
      keys: [],
      attempt: () => ({ done: false }),
      onTimeout: () => true,
      onStarted: (wait) => (untrack = execution.trackWait(wait)),
    });
  } finally {
    untrack();
  }
}
