// The state of one run of one workflow: its recorded operations (loaded once, for replay), the next
// operation index, and whether a recovered run has shown progress yet.
import { DeterminismError, StorageError, WorkflowContextError } from '../errors';
import type { OperationKind, OperationRecord } from '../types';
import type { OperationEnvironment } from './environment';
import { isStoreFailure } from '../store/group-commit';
import type { OperationPosition } from '../store/store';

/** The WorkflowContext method behind each operation kind, for error messages. */
const methodOfKind: Record<OperationKind, string> = {
  step: 'runStep', child: 'startChildWorkflow', send: 'send', recv: 'recv', setEvent: 'setEvent', getEvent: 'getEvent', sleep: 'sleep',
};

export class WorkflowExecution {
  readonly workflowUUID: string;
  readonly workflowName: string;
  readonly #recorded: Map<number, OperationRecord>;
  readonly #env: OperationEnvironment;
  #nextIndex = 0;
  #awaitingProgress: boolean;
  /**
   * Set when replay diverged, or when the store failed under an operation (which then has no record):
   * the run ends with this error whatever the code does next.
   */
  fatalError: DeterminismError | StorageError | null = null;
  #ended = false;

  constructor(env: OperationEnvironment, workflowUUID: string, workflowName: string, recorded: OperationRecord[], recovered: boolean) {
    this.#env = env;
    this.workflowUUID = workflowUUID;
    this.workflowName = workflowName;
    this.#recorded = new Map(recorded.map((operation) => [operation.operationIndex, operation]));
    this.#awaitingProgress = recovered;
  }

  /**
   * Takes the next operation index and returns what was recorded there, if anything. Called
   * synchronously when an operation is called, so concurrent operations get stable indexes.
   *
   * @throws DeterminismError when a different operation was recorded at this index.
   */
  begin(kind: OperationKind, name: string): { position: OperationPosition; recorded: OperationRecord | undefined } {
    if (this.#ended) {
      throw new WorkflowContextError(
        methodOfKind[kind],
        `code running after workflow "${this.workflowUUID}" returned (a WorkflowContext works only while its workflow runs)`,
      );
    }
    if (this.fatalError !== null) throw this.fatalError;
    const operationIndex = this.#nextIndex++;
    const position: OperationPosition = { workflowUUID: this.workflowUUID, operationIndex, kind, name };
    const recorded = this.#recorded.get(operationIndex);
    if (recorded !== undefined) {
      this.#recorded.delete(operationIndex);
      if (recorded.kind !== kind || recorded.name !== name) {
        this.fatalError = new DeterminismError(this.workflowUUID, operationIndex, `${recorded.kind} "${recorded.name}"`, `${kind} "${name}"`);
        throw this.fatalError;
      }
    }
    return { position, recorded };
  }

  /** The workflow function returned or threw: its context refuses every operation from now on. */
  end(): void {
    this.#ended = true;
  }

  /**
   * Ends the run when the store failed under one of its operations. That operation has no record,
   * so going on (the workflow code may catch the error) could replay differently after a restart;
   * instead the workflow stays PENDING, as after a crash, and resumes on the next open.
   */
  noteFailure(error: unknown): void {
    if (this.fatalError === null && isStoreFailure(error)) this.fatalError = error;
  }

  /**
   * Notes that the run recorded something new or reached a wait. A recovered run doing so is not
   * crash-looping, so its recovery attempt count restarts.
   */
  progressed(): void {
    if (!this.#awaitingProgress) return;
    this.#awaitingProgress = false;
    this.#env.store.resetRecoveryAttempts(this.workflowUUID, this.#env.clock.now());
  }
}
