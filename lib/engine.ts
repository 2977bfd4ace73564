// Engine: owns a database file (one per file), runs recovery, starts and runs workflows, and is the
// HandlerContext for code outside workflows. Everything hangs off an instance: two engines on two
// databases can live in one process.
import {
  requireWorkflow,
  WorkflowContextImpl,
  type HandlerContext,
  type HandlerInvoker,
  type StartWorkflowOptions,
  type WorkflowTarget,
} from './context';
import { registrationNamed, registrationOf, unregisteredWorkflowHint, type WorkflowRef } from './decorators';
import { EngineClosedError, StorageError } from './errors';
import { WorkflowHandle } from './handle';
import { checkSameWorkflow, HandlerBase, startOptionsUUID } from './handler';
import { assertOpen, committed, RuntimeEnvironment } from './ops/environment';
import { WorkflowExecution } from './ops/execution';
import { ExternalChangeSync } from './ops/external';
import { encodeError, encodePayload } from './ops/payload';
import { resolveOptions, type EngineOptions, type ResolvedOptions } from './options';
import { recoverPendingWorkflows, type RecoveryReport } from './recovery';
import { workflowKey } from './runtime/waiters';
import { decode } from './store/codec';
import { isInMemory } from './store/database';
import { acquireOwnership, type OwnershipLock } from './store/ownership';
import { Store } from './store/store';
import type { OperationRecord } from './types';
import { typeError } from './validate';

/** The runtime state of one engine, handed down to operations. */
export class EngineEnvironment extends RuntimeEnvironment {
  readonly running = new Map<string, Promise<void>>();
  readonly #lock: OwnershipLock | null;
  #external: ExternalChangeSync | null = null;
  /** Workflow outcomes recorded so far (a progress counter for test tools). */
  finished = 0;

  constructor(options: ResolvedOptions, store: Store, lock: OwnershipLock | null) {
    super(options, store);
    this.#lock = lock;
  }

  /** Starts hearing other processes' commits (file databases only). */
  watchOtherProcesses(): void {
    this.#external = new ExternalChangeSync(this, (workflow) => {
      if (this.running.has(workflow.workflowUUID)) return;
      const registration = registrationNamed(workflow.workflowName);
      if (registration?.kind !== 'workflow') {
        this.options.onWarning({
          code: 'WORKFLOW_NOT_REGISTERED',
          workflowUUID: workflow.workflowUUID,
          workflowName: workflow.workflowName,
          message: `Another process started workflow "${workflow.workflowUUID}" as "${workflow.workflowName}", which is not registered here; it stays PENDING. ${unregisteredWorkflowHint(workflow.workflowName)}`,
        });
        return;
      }
      this.run(workflow.workflowUUID, registration, decode<unknown[]>(workflow.inputs), null);
    });
  }

  /**
   * Stops this engine as a killed process would: nothing more is written, no timer fires and the
   * ownership lock is dropped, but no promise is settled and no cleanup runs. Test tools use it.
   */
  halt(): void {
    this.isOpen = false;
    this.store.halt();
    this.wheel.clear();
    this.#external?.close();
    this.#lock?.release();
  }

  /** Graceful close: pending writes commit, waiting callers are rejected with EngineClosedError. */
  close(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.wheel.clear();
    this.#external?.close();
    this.waiters.failAll(new EngineClosedError());
    this.store.close();
    this.#lock?.release();
  }

  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[]): (error: unknown) => void {
    const execution = this.run(workflowUUID, workflow, args, null);
    return (error) => execution.noteFailure(error);
  }

  /**
   * Runs workflow code to its end and records the outcome; never rejects. `recorded` is what a
   * recovered workflow recorded before (replayed, not re-run), or null for a new workflow.
   */
  run(workflowUUID: string, workflow: WorkflowRef, args: unknown[], recorded: OperationRecord[] | null): WorkflowExecution {
    const execution = new WorkflowExecution(this, workflowUUID, workflow.name, recorded ?? [], recorded !== null);
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
      execution.end();
      // Closed or crashed: the workflow stays PENDING and resumes on the next open.
      if (!this.isOpen) return;
      // A store failure is not the workflow's outcome: as after a crash, it stays PENDING (the warning below).
      if (execution.fatalError instanceof StorageError) throw execution.fatalError;
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
      await committed(this);
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
    return execution;
  }
}

/** Engine internals, for durablite/testing only. */
export const engineInternals = new WeakMap<Engine, EngineEnvironment>();

/** Opens the store and, for a file, takes ownership of it. */
export function openOwnedStore(options: ResolvedOptions): { store: Store; lock: OwnershipLock | null } {
  const store = Store.open(options.database, options.synchronous);
  if (isInMemory(options.database)) return { store, lock: null };
  try {
    return { store, lock: acquireOwnership(options.database, store.db, options.clock.now()) };
  } catch (error) {
    store.close();
    throw error;
  }
}

/**
 * The durable workflow engine on one SQLite file, and the {@link HandlerContext} for code outside
 * workflows. One Engine per file runs its workflows; other processes use {@link Client}.
 *
 * @example
 * const engine = await Engine.open({ database: 'shop.db' });
 * const handle = await engine.invoke(Shop).checkout('o-1');
 * console.log(await handle.getResult());
 * await engine.close();
 */
export class Engine extends HandlerBase implements HandlerContext {
  readonly #env: EngineEnvironment;
  /** What the recovery pass at open did. */
  readonly recovery: RecoveryReport;

  /**
   * Opens (or creates) the database, takes ownership of it, then resumes every unfinished workflow.
   * Register workflows (import their modules) before opening, so recovery can find them by name.
   *
   * @throws TypeError/RangeError for bad options; DatabaseOpenError; SchemaVersionError;
   *   DatabaseOwnedError when another live process owns the file.
   */
  static async open(options: EngineOptions): Promise<Engine> {
    const resolved = resolveOptions(options);
    const { store, lock } = openOwnedStore(resolved);
    return new Engine(resolved, store, lock);
  }

  /** @internal Use {@link Engine.open}. */
  constructor(options: ResolvedOptions, store: Store, lock: OwnershipLock | null) {
    const env = new EngineEnvironment(options, store, lock);
    super(env);
    this.#env = env;
    engineInternals.set(this, env);
    this.recovery = options.recover
      ? recoverPendingWorkflows(env, (uuid, workflow, args, recorded) => env.run(uuid, workflow, args, recorded))
      : { resumed: [], unregistered: [], givenUp: [] };
    if (!isInMemory(options.database)) env.watchOtherProcesses();
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
    const workflowUUID = startOptionsUUID(options);
    const inputs = encodePayload(env, args, `inputs of workflow ${registration.name}`);
    if (env.store.startWorkflow(workflowUUID, registration.name, inputs, env.clock.now())) {
      // The workflow sees its inputs as recorded, exactly as a recovered run would.
      // It starts at once, inside the transaction that records it; if that commit fails, the run is
      // abandoned before it can record anything for a workflow that does not exist.
      const abandon = env.launch(workflowUUID, registration, decode<unknown[]>(inputs));
      try {
        await committed(env);
      } catch (error) {
        abandon(error);
        throw error;
      }
    } else {
      checkSameWorkflow(env.store, workflowUUID, registration.name);
    }
    await committed(env);
    return new WorkflowHandle<R>(env, workflowUUID);
  }

  /**
   * Closes the engine. Not a failure: running workflows stay PENDING and resume on the next open;
   * promises still waiting on this engine reject with EngineClosedError. Idempotent.
   */
  async close(): Promise<void> {
    this.#env.close();
  }
}

