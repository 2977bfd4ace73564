// The WorkflowContext handed to workflow code (its shape is in contracts.ts): every method is a
// durable operation of ops/, recorded and replayed.
import type {
  ReadStreamOptions,
  StepTarget,
  WorkflowContext,
  WorkflowHandle,
  WorkflowInvoker,
  WorkflowRegistry,
  WorkflowTarget,
} from '../contracts';
import { WorkflowCancelledError } from '../errors';
import type { RecvAnyResult, SelectBranch, SelectResult } from '../types';
import { startChild } from './children';
import type { OperationEnvironment } from './environment';
import { getEventInWorkflow, setEvent } from './events';
import { RunEnded, type WorkflowExecution } from './execution';
import { WorkflowHandleImpl } from './handle';
import { receive, sendFromWorkflow } from './messages';
import { recordedNow, recordedRandomUUID } from './recorded-values';
import { checkBranches, checkTopics, recvAny, select } from './select';
import { sleep } from './sleep';
import { runStep } from './steps';
import { checkStreamRead, closeStream, WorkflowStreamReader, writeStreamFromWorkflow } from './streams';
import { invokerOf, requireStep, requireWorkflow } from './targets';
import { durationMs, optionalTopic, requireNonEmptyString, typeError } from '../validate';

export class WorkflowContextImpl implements WorkflowContext {
  readonly #env: OperationEnvironment;
  readonly #execution: WorkflowExecution;
  readonly #registry: WorkflowRegistry;

  constructor(env: OperationEnvironment, execution: WorkflowExecution, registry: WorkflowRegistry) {
    this.#env = env;
    this.#execution = execution;
    this.#registry = registry;
  }

  get workflowUUID(): string {
    return this.#execution.workflowUUID;
  }

  get workflowName(): string {
    return this.#execution.workflowName;
  }

  invoke<T extends object>(target: T): WorkflowInvoker<T> {
    return invokerOf(this.#registry, target, (registration) => registration.kind === 'step'
      ? (...args: unknown[]) => this.#guard(runStep(this.#env, this.#execution, registration, args))
      : (...args: unknown[]) => this.childWorkflow(registration, ...args)) as WorkflowInvoker<T>;
  }

  runStep<Args extends unknown[], R>(step: StepTarget<Args, R>, ...args: Args): Promise<R> {
    try {
      return this.#guard(runStep(this.#env, this.#execution, requireStep(this.#registry, step), args) as Promise<R>);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async startChildWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<WorkflowHandle<R>> {
    const childUUID = await this.#guard(startChild(this.#env, this.#execution, requireWorkflow(this.#registry, workflow), args));
    // Its result wait belongs to this run: it ends at once if the run dies.
    return new WorkflowHandleImpl<R>(
      this.#env, childUUID, (wait) => this.#execution.trackResultWait(wait), (operation) => this.#guard(operation), this.#execution.workflowUUID,
    );
  }

  async childWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<R> {
    const handle = await this.startChildWorkflow(workflow, ...args);
    return handle.getResult();
  }

  /**
   * Every operation's outcome passes here: a store failure ends the run (see
   * WorkflowExecution.noteFailure), and an operation of a run that already ended never settles. Once
   * the workflow is cancelled, the code meets the WorkflowCancelledError once (whatever its operation
   * returned), and every operation after that never settles: its code stops, as a dead run's does, so
   * that a loop catching every error cannot spin.
   */
  #guard<T>(operation: Promise<T>): Promise<T> {
    const execution = this.#execution;
    return operation.then(
      (value) => (execution.cancellation === null ? value : this.#meetCancellation<T>()),
      (error: unknown) => {
        // The run ended for good, or its engine closed (or crashed): its code stops here.
        if (error instanceof RunEnded || !this.#env.isOpen) return new Promise<T>(() => {});
        // Refused by the store: another process cancelled the workflow, and the run learns it now.
        if (error instanceof WorkflowCancelledError && error.workflowUUID === execution.workflowUUID) execution.cancel(error);
        if (execution.cancellation !== null) return this.#meetCancellation<T>();
        execution.noteFailure(error);
        throw error;
      },
    );
  }

  #meetCancellation<T>(): Promise<T> {
    const execution = this.#execution;
    if (execution.cancellationDelivered) return new Promise<T>(() => {});
    execution.cancellationDelivered = true;
    return Promise.reject(execution.cancellation);
  }

  send<T>(destinationUUID: string, message: T, topic?: string | null): Promise<void> {
    try {
      requireNonEmptyString('destinationUUID', destinationUUID);
      return this.#guard(sendFromWorkflow(this.#env, this.#execution, destinationUUID, message, optionalTopic(topic)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  recv<T>(topic?: string | null, timeoutSeconds?: number): Promise<T | null> {
    try {
      const checkedTopic = optionalTopic(topic);
      return this.#guard(receive<T>(this.#env, this.#execution, checkedTopic, durationMs('timeoutSeconds', timeoutSeconds)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  setEvent<T>(key: string, value: T): Promise<void> {
    try {
      requireNonEmptyString('key', key);
      return this.#guard(setEvent(this.#env, this.#execution, key, value));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null> {
    try {
      requireNonEmptyString('workflowUUID', workflowUUID);
      requireNonEmptyString('key', key);
      return this.#guard(getEventInWorkflow<T>(this.#env, this.#execution, workflowUUID, key, durationMs('timeoutSeconds', timeoutSeconds)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  select<T = unknown>(branches: readonly SelectBranch[], timeoutSeconds?: number): Promise<SelectResult<T> | null> {
    try {
      const checked = checkBranches(branches);
      return this.#guard(select<T>(this.#env, this.#execution, checked, durationMs('timeoutSeconds', timeoutSeconds)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  writeStream<T>(key: string, value: T): Promise<void> {
    try {
      requireNonEmptyString('key', key);
      return this.#guard(writeStreamFromWorkflow(this.#env, this.#execution, key, value));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  recvAny<T = unknown>(topics: readonly (string | null)[], timeoutSeconds?: number): Promise<RecvAnyResult<T> | null> {
    try {
      const checked = checkTopics(topics);
      return this.#guard(recvAny<T>(this.#env, this.#execution, checked, durationMs('timeoutSeconds', timeoutSeconds)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  closeStream(key: string): Promise<void> {
    try {
      requireNonEmptyString('key', key);
      return this.#guard(closeStream(this.#env, this.#execution, key));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  now(): Promise<number> {
    try {
      return this.#guard(recordedNow(this.#env, this.#execution));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readStream<T>(workflowUUID: string, key: string, options?: ReadStreamOptions): AsyncIterableIterator<T> {
    const plan = checkStreamRead(workflowUUID, key, options);
    return new WorkflowStreamReader<T>(this.#env, this.#execution, (operation) => this.#guard(operation), workflowUUID, key, plan);
  }

  randomUUID(): Promise<string> {
    try {
      return this.#guard(recordedRandomUUID(this.#env, this.#execution));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  sleep(seconds: number): Promise<void> {
    try {
      if (seconds === undefined) throw typeError('seconds', 'a finite number >= 0', seconds);
      return this.#guard(sleep(this.#env, this.#execution, durationMs('seconds', seconds)));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
