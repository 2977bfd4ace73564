// Steps: run the function, then record its result or error. On replay the recorded outcome is
// returned and the function does not run. A step whose run was not recorded (crash mid-step) runs
// again: execution is at-least-once, recording is exactly-once. A step starts only while its workflow
// is not CANCELLED; one already running when the cancel commits finishes and is recorded.
import type { StepContext, StepRef } from '../contracts';
import { PayloadTooLargeError, SerializationError } from '../errors';
import { assertOpen, emitEvent, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodeError, encodePayload } from './payload';
import { workflowOnlyBase } from './workflow-only';

/** A StepContext holds information only; calling a workflow operation on it is a WorkflowContextError. */
class StepContextImpl extends workflowOnlyBase(
  ['invoke', 'runStep', 'startChildWorkflow', 'childWorkflow', 'send', 'recv', 'recvAny', 'select', 'setEvent', 'getEvent', 'sleep'],
  'a step (durable operations belong to the workflow that calls the step)',
) implements StepContext {
  readonly workflowUUID: string;
  readonly stepName: string;
  readonly operationIndex: number;

  constructor(workflowUUID: string, stepName: string, operationIndex: number) {
    super();
    this.workflowUUID = workflowUUID;
    this.stepName = stepName;
    this.operationIndex = operationIndex;
  }
}

export async function runStep<R>(env: OperationEnvironment, execution: WorkflowExecution, step: StepRef<any[], R>, args: unknown[]): Promise<R> {
  assertOpen(env, `Step ${step.name}`);
  const { position, recorded } = execution.begin('step', step.name);
  if (recorded !== undefined) return execution.replay<R>(recorded);

  const stepContext = new StepContextImpl(execution.workflowUUID, step.name, position.operationIndex);
  let output: string | null = null;
  let error: string | null = null;
  let thrown: unknown;
  // A flag, not `thrown !== undefined`: a step may reject with no reason (`throw undefined`).
  let failed = false;
  let result: R | undefined;
  // No outside effect for a run whose earlier records (or start) might still roll back.
  const earlierCommits = execution.beforeSideEffects();
  if (earlierCommits !== undefined) await earlierCommits;
  // Again, in the same turn as the step starts: a commit may have failed, or the engine closed, since.
  execution.assertAlive();
  assertOpen(env, `Step ${step.name}`);
  // No step starts after a cancel's commit, whichever process cancelled (one primary-key read).
  if (execution.cancellation !== null) throw execution.cancellation;
  env.store.refuseIfCancelled(execution.workflowUUID);
  const stepEvent = { workflowUUID: execution.workflowUUID, operationIndex: position.operationIndex, name: step.name };
  emitEvent(env.events, 'stepStarted', stepEvent);
  execution.stepStarted();
  try {
    result = await step.fn(stepContext, ...args);
  } catch (caught) {
    thrown = caught;
    failed = true;
  } finally {
    execution.stepEnded();
    emitEvent(env.events, 'stepEnded', stepEvent);
  }
  assertOpen(env, `Recording step ${step.name}`);
  // The run died meanwhile (its start, or another operation's commit, failed): record nothing.
  execution.assertAlive();
  if (!failed) {
    try {
      output = encodePayload(env, result, `result of step ${step.name}`);
    } catch (encodingError) {
      // A result that cannot be stored is the step's recorded failure, so a replay meets the same one.
      if (!(encodingError instanceof SerializationError || encodingError instanceof PayloadTooLargeError)) throw encodingError;
      thrown = encodingError;
      failed = true;
    }
  }
  if (failed) error = encodeError(thrown);
  // A step that was running when its workflow was cancelled still has its outcome recorded: a
  // resumed workflow then replays it instead of running it again.
  const commit = env.store.recordOutcome(position, 'first', output, error, env.clock.now(), true);
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  if (failed) throw thrown;
  return result as R;
}
