// The state of one run of one workflow: its recorded operations (loaded once, for replay), the next
// operation index, and whether a recovered run has shown progress yet.
import { DeterminismError } from '../errors';
import type { OperationKind, OperationRecord } from '../types';
import type { OperationEnvironment } from './environment';
import type { OperationPosition } from '../store/store';

export class WorkflowExecution {
  readonly workflowUUID: string;
  readonly workflowName: string;
  readonly #recorded: Map<number, OperationRecord>;
  readonly #env: OperationEnvironment;
  #nextIndex = 0;
  #awaitingProgress: boolean;
  /** Set when replay diverged: the run ends with this error whatever the code does next. */
  fatalError: DeterminismError | null = null;

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
