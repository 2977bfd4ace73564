// Engine: opens the store, runs recovery, starts and runs workflows, and is the HandlerContext for
// code outside workflows. Everything hangs off an instance: two engines can live in one process.
import { nanoid } from 'nanoid';
import {
  requireWorkflow,
  WorkflowContextImpl,
  type HandlerContext,
  type HandlerInvoker,
  type StartWorkflowOptions,
  type WorkflowTarget,
} from './context';
import { registrationOf, type WorkflowRef } from './decorators';
import { EngineClosedError, WorkflowConflictError } from './errors';
import { WorkflowHandle } from './handle';
import { assertOpen, type OperationEnvironment } from './ops/environment';
import { getEventFromHandler } from './ops/events';
import { WorkflowExecution } from './ops/execution';
import { sendFromHandler } from './ops/messages';
import { encodeError, encodePayload } from './ops/payload';
import { resolveOptions, type EngineOptions, type ResolvedOptions } from './options';
import { recoverPendingWorkflows, type RecoveryReport } from './recovery';
import type { Clock } from './runtime/clock';
import { TimerWheel } from './runtime/timer-wheel';
import { Waiters, workflowKey } from './runtime/waiters';
import { decode } from './store/codec';
import { Store } from './store/store';
import type { MessageInfo } from './types';
import { durationMs, optionalIdempotencyKey, optionalTopic, requireNonEmptyString, typeError } from './validate';

class EngineEnvironment implements OperationEnvironment {
  readonly store: Store;
  readonly clock: Clock;
  readonly wheel: TimerWheel;
  readonly waiters: Waiters;
  readonly options: ResolvedOptions;
  readonly running = new Map<string, Promise<void>>();
  stepsInFlight = 0;
  /** Workflow outcomes recorded so far (a progress counter for test tools). */
  finished = 0;
  isOpen = true;

  constructor(options: ResolvedOptions, store: Store) {
    this.options = options;
    this.store = store;
    this.clock = options.clock;
    this.wheel = new TimerWheel(options.clock);
    this.waiters = new Waiters(this.wheel);
  }

  /**
   * Stops this engine as a killed process would: nothing more is written and no timer fires, but
   * no promise is settled and no cleanup runs. Test tools use it to simulate a crash.
   */
  halt(): void {
    this.isOpen = false;
    this.wheel.clear();
  }

  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[]): void {
    this.run(workflowUUID, workflow, args, false);
  }

  /** Runs workflow code to its end and records the outcome; never rejects. */
  run(workflowUUID: string, workflow: WorkflowRef, args: unknown[], recovered: boolean): void {
    const recorded = recovered ? this.store.operations.listForWorkflow(workflowUUID) : [];
    const execution = new WorkflowExecution(this, workflowUUID, workflow.name, recorded, recovered);
    const context = new WorkflowContextImpl(this, execution);
    const done = (async () => {
      let output: unknown;
      let thrown: unknown;
      let failed = false;
      try {
        output = await workflow.fn(context, ...args);
      } catch (error) {
        failed = true;
        thrown = error;
      }
      // Closed or crashed: the workflow stays PENDING and resumes on the next open.
      if (!this.isOpen) return;
      if (execution.fatalError !== null) {
        failed = true;
        thrown = execution.fatalError;
      }
      let outputText: string | null = null;
      if (!failed) {
        try {
          outputText = encodePayload(this, output, `result of workflow ${workflow.name}`);
        } catch (error) {
          failed = true;
          thrown = error;
        }
      }
      const errorText = failed ? encodeError(thrown) : null;
      this.store.finishWorkflow(workflowUUID, failed ? 'ERROR' : 'SUCCESS', outputText, errorText, this.clock.now());
      this.finished++;
      this.waiters.notify(workflowKey(workflowUUID));
    })()
      .catch((error: unknown) => {
        if (!this.isOpen) return;
        this.options.onWarning({
          code: 'WORKFLOW_NOT_RECORDED',
          workflowUUID,
          workflowName: workflow.name,
          message: `Could not record the outcome of workflow "${workflowUUID}" (${(error as Error)?.message}); it stays PENDING and resumes on the next open.`,
        });
      })
      .finally(() => this.running.delete(workflowUUID));
    this.running.set(workflowUUID, done);
  }
}

/** Engine internals, for durablite/testing only. */
export const engineInternals = new WeakMap<Engine, EngineEnvironment>();

/**
 * The durable workflow engine on one SQLite file, and the {@link HandlerContext} for code outside
 * workflows.
 *
 * @example
 * const engine = await Engine.open({ database: 'shop.db' });
 * const handle = await engine.invoke(Shop).checkout('o-1');
 * console.log(await handle.getResult());
 * await engine.close();
 */
export class Engine implements HandlerContext {
  readonly #env: EngineEnvironment;
  /** What the recovery pass at open did. */
  readonly recovery: RecoveryReport;

  /**
   * Opens (or creates) the database, then resumes every unfinished workflow. Register workflows
   * (import their modules) before opening, so recovery can find them by name.
   *
   * @throws TypeError/RangeError for bad options; DatabaseOpenError; SchemaVersionError.
   */
  static async open(options: EngineOptions): Promise<Engine> {
    const resolved = resolveOptions(options);
    return new Engine(resolved, Store.open(resolved.database, resolved.synchronous));
  }

  /** @internal Use {@link Engine.open}. */
  constructor(options: ResolvedOptions, store: Store) {
    const env = new EngineEnvironment(options, store);
    this.#env = env;
    engineInternals.set(this, env);
    this.recovery = options.recover
      ? recoverPendingWorkflows(env, (uuid, workflow, args) => env.run(uuid, workflow, args, true))
      : { resumed: [], unregistered: [], givenUp: [] };
  }

  /** Whether the engine is open. */
  get isOpen(): boolean {
    return this.#env.isOpen;
  }

  /**
   * Starts workflows of a decorated class: `engine.invoke(Shop).checkout(...)` resolves to a handle
   * as soon as the workflow is recorded. With `workflowUUID`, that identity is used (idempotently).
   *
   * @example
   * const handle = await engine.invoke(Shop, 'order-o-1').checkout('o-1');
   */
  invoke<T extends object>(target: T, workflowUUID?: string): HandlerInvoker<T> {
    if ((typeof target !== 'function' && typeof target !== 'object') || target === null) throw typeError('target', 'a class', target);
    return new Proxy({}, {
      get: (_, property) => {
        const registration = registrationOf((target as Record<string | symbol, unknown>)[property]);
        if (registration === undefined) return undefined;
        if (registration.kind === 'step') {
          return () => Promise.reject(new TypeError(`${registration.name} is a step; steps run inside workflows. Call it from a workflow with ctxt.invoke().`));
        }
        return (...args: unknown[]) => this.startWorkflow(registration, { workflowUUID }, ...args);
      },
    }) as HandlerInvoker<T>;
  }

  /**
   * Starts a workflow and resolves to its handle once it is recorded (before it finishes). Starting
   * a UUID that already exists runs nothing and returns the existing workflow's handle.
   *
   * @example
   * const handle = await engine.startWorkflow(greet, { workflowUUID: 'greet-ada' }, 'Ada');
   * @throws RegistrationError when `workflow` is not registered; WorkflowConflictError when the UUID
   *   belongs to a workflow of another name; SerializationError/PayloadTooLargeError for inputs.
   */
  async startWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, options?: StartWorkflowOptions, ...args: Args): Promise<WorkflowHandle<R>> {
    const env = this.#env;
    assertOpen(env, 'startWorkflow');
    const registration = requireWorkflow(workflow);
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw typeError('options', 'an object like { workflowUUID } or undefined', options);
    }
    const workflowUUID = options?.workflowUUID === undefined ? nanoid() : requireNonEmptyString('workflowUUID', options.workflowUUID);
    const inputs = encodePayload(env, args, `inputs of workflow ${registration.name}`);
    if (env.store.startWorkflow(workflowUUID, registration.name, inputs, env.clock.now())) {
      // The workflow sees its inputs as recorded, exactly as a recovered run would.
      env.run(workflowUUID, registration, decode<unknown[]>(inputs), false);
    } else {
      const existing = env.store.workflows.get(workflowUUID);
      if (existing !== undefined && existing.workflowName !== registration.name) {
        throw new WorkflowConflictError(workflowUUID, existing.workflowName, registration.name);
      }
    }
    return new WorkflowHandle<R>(env, workflowUUID);
  }

  /** A handle to the workflow with this UUID (which may not exist: see `getStatus`/`getResult`). */
  retrieveWorkflow<R = unknown>(workflowUUID: string): WorkflowHandle<R> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    return new WorkflowHandle<R>(this.#env, workflowUUID);
  }

  /**
   * Sends a message to a workflow, queued per topic. Resolves once it is committed. With an
   * `idempotencyKey`, at most one message per (key, destination) is ever stored: a repeat resolves
   * and stores nothing, even if its payload differs.
   *
   * @example
   * await engine.send(orderUUID, { paid: true }, 'checkout_complete', `delivery-${deliveryId}`);
   * @throws WorkflowNotFoundError when no workflow has `destinationUUID` (nothing is stored).
   */
  async send<T>(destinationUUID: string, message: T, topic?: string | null, idempotencyKey?: string | null): Promise<void> {
    requireNonEmptyString('destinationUUID', destinationUUID);
    const checkedTopic = optionalTopic(topic);
    const key = optionalIdempotencyKey(idempotencyKey);
    assertOpen(this.#env, 'send');
    const text = encodePayload(this.#env, message, 'message');
    sendFromHandler(this.#env, destinationUUID, text, checkedTopic, key);
  }

  /**
   * Waits for the event `key` of workflow `workflowUUID` (which may not exist yet) and resolves to its
   * value, or `null` after `timeoutSeconds` (default 60; 0 checks once).
   *
   * @example
   * const url = await engine.getEvent<string>(handle.getWorkflowUUID(), 'checkout_url', 10);
   */
  async getEvent<T>(workflowUUID: string, key: string, timeoutSeconds?: number): Promise<T | null> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    requireNonEmptyString('key', key);
    return getEventFromHandler<T>(this.#env, workflowUUID, key, durationMs('timeoutSeconds', timeoutSeconds));
  }

  /** Every event the workflow set, as `{ key: value }` (empty for an unknown UUID). Read-only. */
  async listEvents(workflowUUID: string): Promise<Record<string, unknown>> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    assertOpen(this.#env, 'listEvents');
    const events: Record<string, unknown> = {};
    for (const event of this.#env.store.events.listForWorkflow(workflowUUID)) events[event.key] = decode(event.value);
    return events;
  }

  /**
   * The workflow's messages in queue order, consumed ones included. `topic` omitted: every topic;
   * `null`: messages sent without a topic; a string: that topic. Read-only.
   */
  async listMessages(workflowUUID: string, topic?: string | null): Promise<MessageInfo[]> {
    requireNonEmptyString('workflowUUID', workflowUUID);
    const checkedTopic = topic === undefined ? undefined : optionalTopic(topic);
    assertOpen(this.#env, 'listMessages');
    return this.#env.store.messages.list(workflowUUID, checkedTopic).map((record) => ({
      topic: record.topic,
      message: decode(record.message),
      consumed: record.consumed,
      createdAt: record.createdAt,
    }));
  }

  /**
   * Closes the engine. Not a failure: running workflows stay PENDING and resume on the next open;
   * promises still waiting on this engine reject with EngineClosedError. Idempotent.
   */
  async close(): Promise<void> {
    const env = this.#env;
    if (!env.isOpen) return;
    env.isOpen = false;
    env.wheel.clear();
    env.waiters.failAll(new EngineClosedError());
    env.store.close();
  }
}

export { EngineEnvironment };
