// WorkflowHandle: a reference to a workflow by UUID, to read its status and await its outcome.
import { MaxRecoveryAttemptsExceededError, WorkflowNotFoundError } from '../errors';
import { assertOpen, readCommitted, type OperationEnvironment } from './environment';
import { decodeForListing, outcomeOf } from './payload';
import { andThen, type Awaitable } from '../awaitable';
import { workflowKey, type Attempt, type StartedWait } from '../runtime/waiters';
import type { WorkflowHandle } from '../contracts';
import type { WorkflowRecord, WorkflowStatus } from '../types';

const NOT_YET = Object.freeze({ done: false as const });

/** The {@link WorkflowHandle} of a workflow in this engine's (or client's) database. */
export class WorkflowHandleImpl<R = unknown> implements WorkflowHandle<R> {
  readonly #env: OperationEnvironment;
  readonly #workflowUUID: string;
  readonly #trackWait: ((wait: StartedWait) => () => void) | undefined;
  readonly #guard: (<T>(operation: Promise<T>) => Promise<T>) | undefined;
  /** The workflow that awaits this handle's result, when a workflow does (shown in its waits). */
  readonly #waiterUUID: string | null;

  /**
   * @internal Created by the engine and contexts; user code receives handles, it does not build them.
   * A workflow's handles register their result waits with its run (`trackWait`), which ends them if
   * the run ends, and pass the result through the run's `guard`, as every operation of a workflow.
   */
  constructor(
    env: OperationEnvironment,
    workflowUUID: string,
    trackWait?: (wait: StartedWait) => () => void,
    guard?: <T>(operation: Promise<T>) => Promise<T>,
    waiterUUID: string | null = null,
  ) {
    this.#env = env;
    this.#workflowUUID = workflowUUID;
    this.#trackWait = trackWait;
    this.#guard = guard;
    this.#waiterUUID = waiterUUID;
  }

  /** The workflow's UUID (its identity: starting another workflow with it returns this one). */
  getWorkflowUUID(): string {
    return this.#workflowUUID;
  }

  /**
   * The workflow's current status, or `null` when no workflow has this UUID.
   * @throws EngineClosedError after the engine closed.
   */
  async getStatus(): Promise<WorkflowStatus | null> {
    const record = await readCommitted(this.#env, 'getStatus', () => this.#env.store.workflows.get(this.#workflowUUID), this.#workflowUUID);
    return record === undefined ? null : toStatus(record);
  }

  /**
   * Waits for the workflow to finish; resolves with its return value or rejects with the error it
   * threw (name and message preserved, DurabliteError subclasses rebuilt).
   * @throws WorkflowNotFoundError when no workflow has this UUID.
   * @throws MaxRecoveryAttemptsExceededError when recovery gave the workflow up.
   * @throws WorkflowCancelledError when the workflow was cancelled (WorkflowTimeoutError when its
   *   deadline passed); a later resume does not settle a rejected call: call getResult again.
   * @throws UnreadableRecordError when the stored outcome cannot be read back.
   * @throws EngineClosedError when the engine closes first.
   */
  getResult(): Promise<R> {
    const result = this.#awaitResult();
    return this.#guard === undefined ? result : this.#guard(result);
  }

  async #awaitResult(): Promise<R> {
    const { store, waiters } = this.#env;
    const key = workflowKey(this.#workflowUUID);
    // Only a committed outcome counts: while writes of this process wait to commit, a row read now
    // might be one of them, so the check runs again once they settled.
    const decide = (record: WorkflowRecord | undefined): Attempt<R> => {
      if (record === undefined) throw new WorkflowNotFoundError(this.#workflowUUID);
      switch (record.status) {
        case 'PENDING':
          return { done: false };
        case 'MAX_RECOVERY_ATTEMPTS_EXCEEDED':
          throw new MaxRecoveryAttemptsExceededError(this.#workflowUUID, record.recoveryAttempts);
        default:
          return { done: true, value: outcomeOf<R>(record.output, record.error, this.#workflowUUID, 'result') };
      }
    };
    const check = (): Awaitable<Attempt<R>> => {
      if (store.hasUncommittedWrites) {
        store.afterSettle(() => waiters.notify(key));
        return NOT_YET;
      }
      return andThen(store.workflows.get(this.#workflowUUID), decide);
    };
    assertOpen(this.#env, 'getResult');
    // Check, then subscribe, with no notification able to fall between them (see waiters.ts).
    let untrack = (): void => {};
    try {
      return await waiters.waitUnlessDone<R>(check(), {
        description: { workflowUUID: this.#waiterUUID, kind: 'result', targetUUID: this.#workflowUUID, deadlineMs: null },
        keys: [key],
        attempt: check,
        onTimeout: () => {
          throw new Error('unreachable: a result wait has no deadline');
        },
        onStarted: (wait) => {
          if (this.#trackWait !== undefined) untrack = this.#trackWait(wait);
        },
      });
    } finally {
      untrack();
    }
  }
}

export function toStatus(record: WorkflowRecord): WorkflowStatus {
  return {
    workflowUUID: record.workflowUUID,
    workflowName: record.workflowName,
    status: record.status,
    inputs: decodeForListing(record.inputs, record.workflowUUID, 'inputs') as unknown[],
    parentUUID: record.parentUUID,
    recoveryAttempts: record.recoveryAttempts,
    deadlineMs: record.deadlineMs,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
