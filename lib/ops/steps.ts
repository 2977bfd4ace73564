// Steps: run the function, then record its result or error. On replay the recorded outcome is
// returned and the function does not run. A step whose run was not recorded (crash mid-step) runs
// again: execution is at-least-once, recording is exactly-once.
import type { StepContext, StepRef } from '../contracts';
import { PayloadTooLargeError, SerializationError, WorkflowContextError } from '../errors';
import { requireNonEmptyString } from '../validate';
import { assertOpen, emitEvent, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodeError, encodePayload } from './payload';
import { writeStreamFromStep } from './streams';
import { workflowOnlyBase } from './workflow-only';

/**
 * A StepContext tells where the step runs and can write to its workflow's streams (not recorded: at
 * least once). Calling a workflow operation on it is a WorkflowContextError. closeStream and
 * readStream stay the workflow's: a close from a step that runs again could end a stream its
 * workflow still writes to, and a step's read would be neither recorded nor replayed.
 */
class StepContextImpl extends workflowOnlyBase(
  ['invoke', 'runStep', 'startChildWorkflow', 'childWorkflow', 'send', 'recv', 'recvAny', 'select', 'setEvent', 'getEvent', 'sleep', 'closeStream', 'readStream'],
  'a step (durable operations belong to the workflow that calls the step)',
) implements StepContext {
  readonly workflowUUID: string;
  readonly stepName: string;
  readonly operationIndex: number;
  readonly #env: OperationEnvironment;
  #running = true;

  constructor(env: OperationEnvironment, workflowUUID: string, stepName: string, operationIndex: number) {
    super();
    this.#env = env;
    this.workflowUUID = workflowUUID;
    this.stepName = stepName;
    this.operationIndex = operationIndex;
  }

  writeStream<T>(key: string, value: T): Promise<void> {
    try {
      requireNonEmptyString('key', key);
      if (!this.#running) throw new WorkflowContextError('writeStream', `step ${this.stepName} after it returned (a StepContext works only while its step runs)`);
      return writeStreamFromStep(this.#env, this.workflowUUID, key, value);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The step's function returned: a context kept past its step writes nothing. */
  static ended(context: StepContextImpl): void {
    context.#running = false;
  }
}

export async function runStep<R>(env: OperationEnvironment, execution: WorkflowExecution, step: StepRef<any[], R>, args: unknown[]): Promise<R> {
  assertOpen(env, `Step ${step.name}`);
  const { position, recorded } = execution.begin('step', step.name);
  if (recorded !== undefined) return execution.replay<R>(recorded);

  const stepContext = new StepContextImpl(env, execution.workflowUUID, step.name, position.operationIndex);
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
  const stepEvent = { workflowUUID: execution.workflowUUID, operationIndex: position.operationIndex, name: step.name };
  emitEvent(env.events, 'stepStarted', stepEvent);
  execution.stepStarted();
  try {
    result = await step.fn(stepContext, ...args);
  } catch (caught) {
    thrown = caught;
    failed = true;
  } finally {
    StepContextImpl.ended(stepContext);
    execution.stepEnded();
    emitEvent(env.events, 'stepEnded', stepEvent);
  }
  assertOpen(env, `Recording step ${step.name}`);
  // A step that failed of this engine's own storage (a writeStream whose commit failed) did not
  // fail of its own: the run ends and resumes from its records, and the step runs again.
  if (failed) execution.noteFailure(thrown);
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
  const commit = env.store.recordOutcome(position, 'first', output, error, env.clock.now());
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  if (failed) throw thrown;
  return result as R;
}
