// Engine: the face of a Session that runs workflows. It owns a database file (one per file), runs
// recovery at open, starts workflows, and is the HandlerContext for code outside workflows.
// Everything hangs off an instance: two engines on two databases can live in one process.
import { isPromise } from './awaitable';
import type { HandlerContext, HandlerInvoker, RecoveryReport, StartWorkflowOptions, WorkflowHandle, WorkflowTarget } from './contracts';
import { workflowRegistry } from './decorators';
import { HandlerBase, startOptionsTimeoutMs, startOptionsUUID } from './handler';
import { assertOpen } from './ops/environment';
import { WorkflowHandleImpl } from './ops/handle';
import { startWorkflow } from './ops/lifecycle';
import { invokerOf, requireWorkflow } from './ops/targets';
import { resolveOptions, type EngineOptions, type ResolvedOptions } from './options';
import { Session } from './session';
import type { CommitInterceptor } from './store/store';

/**
 * Opens an engine on the SQLite `options.database`, synchronously (its recovery pass included), with
 * `interceptor` called around each of its commits (the testing kit's fault injection, crash tests).
 * Engine.open is this without an interceptor.
 * @internal
 */
export function openEngine(options: ResolvedOptions, interceptor: CommitInterceptor | null): Engine {
  const { store, lock } = Session.openOwnedStore(options, interceptor);
  const session = Session.startOwner(options, store, lock, workflowRegistry);
  if (isPromise(session)) throw new Error('A SQLite session starts synchronously.');
  return new Engine(session);
}

/**
 * Opens an engine on the PostgreSQL `options.database` (its recovery pass included), with
 * `interceptor` called around each of its commits (crash tests). Engine.open is this without an
 * interceptor.
 * @internal
 */
export async function openPostgresEngine(options: ResolvedOptions, interceptor: CommitInterceptor | null): Promise<Engine> {
  return new Engine(await Session.openPostgresOwner(options, workflowRegistry, interceptor));
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
  readonly #session: Session;
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
    if (resolved.postgres !== null) return openPostgresEngine(resolved, null);
    return openEngine(resolved, null);
  }

  /** @internal Use {@link Engine.open}. */
  constructor(session: Session) {
    super(session);
    this.#session = session;
    this.recovery = session.recovery;
  }

  /**
   * Starts workflows of a decorated class: `engine.invoke(Shop).checkout(...)` resolves to a handle
   * as soon as the workflow is recorded. With `workflowUUID`, that identity is used (idempotently).
   *
   * @example
   * const handle = await engine.invoke(Shop, 'order-o-1').checkout('o-1');
   */
  invoke<T extends object>(target: T, workflowUUID?: string): HandlerInvoker<T> {
    return invokerOf(workflowRegistry, target, (registration) => registration.kind === 'step'
      ? () => Promise.reject(new TypeError(`${registration.name} is a step; steps run inside workflows. Call it from a workflow with ctxt.invoke().`))
      : (...args: unknown[]) => this.startWorkflow(registration, { workflowUUID }, ...args)) as HandlerInvoker<T>;
  }

  /**
   * Starts a workflow and resolves to its handle once it is recorded (before it finishes). Starting
   * a UUID that already exists runs nothing and returns the existing workflow's handle.
   *
   * With `timeoutSeconds` (or the workflow's `@Workflow({ timeoutSeconds })`), the workflow is
   * cancelled with WorkflowTimeoutError once that time has passed; the deadline is recorded at start.
   *
   * @example
   * const handle = await engine.startWorkflow(greet, { workflowUUID: 'greet-ada', timeoutSeconds: 3600 }, 'Ada');
   * @throws RegistrationError when `workflow` is not registered; WorkflowConflictError when the UUID
   *   belongs to a workflow of another name; SerializationError/PayloadTooLargeError for inputs.
   */
  async startWorkflow<Args extends unknown[], R>(workflow: WorkflowTarget<Args, R>, options?: StartWorkflowOptions, ...args: Args): Promise<WorkflowHandle<R>> {
    assertOpen(this.#session, 'startWorkflow');
    const registration = requireWorkflow(workflowRegistry, workflow);
    const workflowUUID = startOptionsUUID(options);
    const timeoutMs = startOptionsTimeoutMs(options, registration);
    await startWorkflow(this.#session, registration, workflowUUID, args, timeoutMs);
    return new WorkflowHandleImpl<R>(this.#session, workflowUUID);
  }

  /**
   * Closes the engine. Not a failure: running workflows stay PENDING and resume on the next open;
   * promises still waiting on this engine reject with EngineClosedError. Idempotent.
   */
  async close(): Promise<void> {
    await this.#session.close();
  }
}

