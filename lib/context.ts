// The contexts handed to user code: WorkflowContext (durable operations, recorded and replayed),
// StepContext (information only) and HandlerContext (what code outside workflows may call).
import type { StepRef, WorkflowFunction, WorkflowRef, StepFunction } from './decorators';
import { registrationOf } from './decorators';
import { RegistrationError } from './errors';
import { WorkflowHandle } from './handle';
import { startChild } from './ops/children';
import type { OperationEnvironment } from './ops/environment';
import { getEventInWorkflow, setEvent } from './ops/events';
import type { WorkflowExecution } from './ops/execution';
import { receive, sendFromWorkflow } from './ops/messages';
import { sleep } from './ops/sleep';
import { runStep } from './ops/steps';
import type { MessageInfo } from './types';
import { durationMs, optionalTopic, requireNonEmptyString, typeError } from './validate';

/** Something that names a workflow: a decorated static method or a {@link WorkflowRef}. */
export type WorkflowTarget<Args extends unknown[], R> = WorkflowRef<Args, R> | WorkflowFunction<Args, R>;

/** Something that names a step: a decorated static method or a {@link StepRef}. */
export type StepTarget<Args extends unknown[], R> = StepRef<Args, R> | StepFunction<Args, R>;

type Rest<F> = F extends (ctxt: any, ...args: infer A) => any ? A : never;
type Output<F> = F extends (...args: any[]) => infer R ? Awaited<R> : never;

/** `ctxt.invoke(Class)` inside a workflow: each step runs (recorded); each workflow runs as a child. */
export type WorkflowInvoker<T> = {
  [K in keyof T as T[K] extends (...args: any[]) => any ? K : never]: (...args: Rest<T[K]>) => Promise<Output<T[K]>>;
};

/** `engine.invoke(Class)`: each workflow method starts the workflow and resolves to its handle. */
export type HandlerInvoker<T> = {
  [K in keyof T as T[K] extends (...args: any[]) => any ? K : never]: (...args: Rest<T[K]>) => Promise<WorkflowHandle<Output<T[K]>>>;
};

/** Given to a step: where it runs. Steps cannot call durable operations. */
export interface StepContext {
  readonly workflowUUID: string;
  readonly stepName: string;
  readonly operationIndex: number;
}

/**
 * Given to a workflow. Every method is a durable operation: recorded under the next operation index
 * the first time, and answered from the record (not run again) when the workflow is replayed after a
 * crash. Workflow code must call the same operations in the same order on every run.
 */
export interface WorkflowContext {
  readonly workflowUUID: string;
  readonly workflowName: string;
  /** Calls the steps (and child workflows) of a decorated class. */
  invoke<T extends object>(target: T): WorkflowInvoker<T>;
  /** Runs a step registered with `registerStep` (or a decorated step method). */
  runStep<Args extends unknown[], R>(step: StepTarget<Args, R>, ...args: Args): Promise<R>;
  /** Starts a child workflow with a UUID derived from this one; returns its handle. */
  startChildWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<WorkflowHandle<R>>;
  /** Runs a child workflow and waits for its result. */
  childWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<R>;
  /** Sends a message, exactly once. @throws WorkflowNotFoundError (recorded) when the destination does not exist. */
  send<T>(destinationUUID: string, message: T, topic?: string | null): Promise<void>;
  /** Consumes the next message on `topic` (none = messages sent without a topic), or null after `timeoutSeconds` (default 60). */
  recv<T>(topic?: string | null, timeoutSeconds?: number): Promise<T | null>;
  /** Publishes an immutable event. @throws DuplicateEventKeyError (recorded) when this workflow already set `key`. */
  setEvent<T>(key: string, value: T): Promise<void>;
  /** Waits for another workflow's event, or null after `timeoutSeconds` (default 60). What it saw is recorded. */
  getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null>;
  /** Sleeps durably: after a crash only the remaining time is slept. */
  sleep(seconds: number): Promise<void>;
}

/**
 * What code outside workflows (request handlers, scripts, tests) may do. The {@link Engine} is one.
 */
export interface HandlerContext {
  invoke<T extends object>(target: T, workflowUUID?: string): HandlerInvoker<T>;
  startWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, options?: StartWorkflowOptions, ...args: Args): Promise<WorkflowHandle<R>>;
  retrieveWorkflow<R = unknown>(workflowUUID: string): WorkflowHandle<R>;
  send<T>(destinationUUID: string, message: T, topic?: string | null, idempotencyKey?: string | null): Promise<void>;
  getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null>;
  listEvents(workflowUUID: string): Promise<Record<string, unknown>>;
  listMessages(workflowUUID: string, topic?: string | null): Promise<MessageInfo[]>;
}

/** Options of `startWorkflow`. */
export interface StartWorkflowOptions {
  /** The workflow's identity. Starting a UUID that exists returns the existing workflow. @default a new random id */
  workflowUUID?: string;
}

/** Resolves a decorated method or ref to its workflow registration. */
export function requireWorkflow(target: unknown): WorkflowRef {
  const registration = registrationOf(target);
  if (registration?.kind === 'workflow') return registration;
  const name = typeof target === 'function' ? target.name : String((target as { name?: unknown })?.name ?? target);
  throw new RegistrationError('NOT_REGISTERED', name, `"${name}" is not a registered workflow. Decorate it with @Workflow() or register it with registerWorkflow().`);
}

function requireStep(target: unknown): StepRef {
  const registration = registrationOf(target);
  if (registration?.kind === 'step') return registration;
  const name = typeof target === 'function' ? target.name : String((target as { name?: unknown })?.name ?? target);
  throw new RegistrationError('NOT_REGISTERED', name, `"${name}" is not a registered step. Decorate it with @Step() or register it with registerStep().`);
}

export class WorkflowContextImpl implements WorkflowContext {
  readonly #env: OperationEnvironment;
  readonly #execution: WorkflowExecution;

  constructor(env: OperationEnvironment, execution: WorkflowExecution) {
    this.#env = env;
    this.#execution = execution;
  }

  get workflowUUID(): string {
    return this.#execution.workflowUUID;
  }

  get workflowName(): string {
    return this.#execution.workflowName;
  }

  invoke<T extends object>(target: T): WorkflowInvoker<T> {
    if ((typeof target !== 'function' && typeof target !== 'object') || target === null) throw typeError('target', 'a class', target);
    return new Proxy({}, {
      get: (_, property) => {
        const member = (target as Record<string | symbol, unknown>)[property];
        const registration = registrationOf(member);
        if (registration === undefined) return undefined;
        if (registration.kind === 'step') return (...args: unknown[]) => this.#guard(runStep(this.#env, this.#execution, registration, args));
        return (...args: unknown[]) => this.childWorkflow(registration, ...args);
      },
    }) as WorkflowInvoker<T>;
  }

  runStep<Args extends unknown[], R>(step: StepTarget<Args, R>, ...args: Args): Promise<R> {
    try {
      return this.#guard(runStep(this.#env, this.#execution, requireStep(step), args) as Promise<R>);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async startChildWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<WorkflowHandle<R>> {
    const childUUID = await this.#guard(startChild(this.#env, this.#execution, requireWorkflow(workflow), args));
    // Its result wait belongs to this run: it ends at once if the run dies.
    return new WorkflowHandle<R>(this.#env, childUUID, (wait) => this.#execution.trackWait(wait));
  }

  async childWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, ...args: Args): Promise<R> {
    const handle = await this.startChildWorkflow(workflow, ...args);
    return this.#guard(handle.getResult());
  }

  /** Every operation's failure passes here: a store failure ends the run (see WorkflowExecution.noteFailure). */
  #guard<T>(operation: Promise<T>): Promise<T> {
    return operation.catch((error: unknown) => {
      this.#execution.noteFailure(error);
      throw error;
    });
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

  sleep(seconds: number): Promise<void> {
    try {
      if (seconds === undefined) throw typeError('seconds', 'a finite number >= 0', seconds);
      return this.#guard(sleep(this.#env, this.#execution, durationMs('seconds', seconds)));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
