// @Workflow() and @Step() (alias @Communicator()) and the function API registerWorkflow/registerStep.
// The registry they fill is durablite's only module-level state: recovery finds a workflow's code
// by its registered name, so names must be unique for the whole process. A name is the class name as
// it is once the class is defined, whatever the compiler, or the name pinned with `{ name }`.
import { RegistrationError } from './errors';
import type { StepFunction, StepRef, StepRetryOptions, StepRetryPolicy, WorkflowFunction, WorkflowRef, WorkflowRegistry } from './contracts';

export type { StepFunction, StepRef, StepRetryOptions, WorkflowFunction, WorkflowRef } from './contracts';
import { durationMs, integerInRange, numberAtLeast, requireNonEmptyString, typeError } from './validate';

type Registration = WorkflowRef | StepRef;

/**
 * A method decorated under standard decorators, whose class name is read only when the registry is
 * next consulted. A static initializer can see a class before its compiler names it: esbuild (tsx)
 * lowers `class Backup` to `_Backup` and renames it only after the initializers run.
 */
interface UnnamedMethod {
  readonly kind: 'workflow' | 'step';
  readonly owner: Function;
  readonly methodName: string;
  readonly fn: Function;
  readonly extras: { retries?: StepRetryPolicy; timeoutSeconds?: number };
}

const byName = new Map<string, Registration>();
const byFunction = new WeakMap<Function, Registration>();
const unnamed: UnnamedMethod[] = [];
/** Decorated methods whose name turned out to be taken: using one throws this error. */
const conflicts = new WeakMap<Function, RegistrationError>();

function register<T extends Registration>(registration: T): T {
  // Methods decorated earlier take their names first, whatever order the lookups come in.
  nameDecoratedMethods();
  const existing = byName.get(registration.name);
  if (existing !== undefined) {
    if (existing.fn === registration.fn && existing.kind === registration.kind) return existing as T;
    throw new RegistrationError(
      'DUPLICATE_REGISTRATION',
      registration.name,
      `Another ${existing.kind} is already registered as "${registration.name}". Names must be unique: recovery finds code by name. Rename the class or method, or pin a name with @${registration.kind === 'workflow' ? 'Workflow' : 'Step'}({ name }).`,
    );
  }
  const frozen = Object.freeze(registration) as T;
  byName.set(frozen.name, frozen);
  byFunction.set(frozen.fn, frozen);
  return frozen;
}

/** Names the methods decorated since the last lookup, now that their classes are fully defined. */
function nameDecoratedMethods(): void {
  if (unnamed.length === 0) return; // the common case, on every lookup
  for (const method of unnamed.splice(0)) {
    const name = `${method.owner.name}.${method.methodName}`;
    try {
      register({ kind: method.kind, name, fn: method.fn, ...method.extras } as Registration);
    } catch (error) {
      // Not thrown here: this lookup may be for another name. Using the impostor throws it.
      conflicts.set(method.fn, error as RegistrationError);
    }
  }
}

/** A registration with its default timeout, when it has one. */
function withTimeout(registration: Registration, timeoutSeconds: number | undefined): Registration {
  return timeoutSeconds === undefined || registration.kind !== 'workflow' ? registration : { ...registration, timeoutSeconds };
}

/** The checked `timeoutSeconds` of workflow options (a finite number >= 0), or undefined. */
function optionalTimeoutSeconds(options: { timeoutSeconds?: unknown } | undefined): number | undefined {
  if (options?.timeoutSeconds === undefined) return undefined;
  durationMs('timeoutSeconds', options.timeoutSeconds);
  return options.timeoutSeconds as number;
}

/**
 * Registers a workflow without decorators; `options.timeoutSeconds` is its default timeout, as
 * `@Workflow({ timeoutSeconds })`.
 *
 * @example
 * const greet = registerWorkflow('greet', async (ctxt: WorkflowContext, name: string) => `hello ${name}`);
 * const handle = await engine.startWorkflow(greet, {}, 'Ada');
 * @throws RegistrationError (`DUPLICATE_REGISTRATION`) when another function has this name.
 */
export function registerWorkflow<Args extends unknown[], R>(name: string, fn: WorkflowFunction<Args, R>, options?: { timeoutSeconds?: number }): WorkflowRef<Args, R> {
  requireNonEmptyString('name', name);
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw typeError('options', 'an object like { timeoutSeconds }', options);
  return register(withTimeout({ kind: 'workflow', name, fn: fn as WorkflowFunction }, optionalTimeoutSeconds(options))) as WorkflowRef<Args, R>;
}

/** The most attempts a step may be given: each failed one is kept in the step's record. */
export const MAX_STEP_ATTEMPTS = 1000;

/** Checks retry options and fills in the defaults (see StepRetryOptions). */
export function resolveRetries(options: unknown): StepRetryPolicy {
  if (typeof options !== 'object' || options === null) throw typeError('retries', 'an object like { maxAttempts, intervalSeconds }', options);
  const given = options as StepRetryOptions;
  const maxAttempts = given.maxAttempts === undefined ? 3 : integerInRange('retries.maxAttempts', given.maxAttempts, MAX_STEP_ATTEMPTS);
  const intervalSeconds = given.intervalSeconds === undefined ? 1 : numberAtLeast('retries.intervalSeconds', given.intervalSeconds, 0, true);
  const backoffRate = given.backoffRate === undefined ? 2 : numberAtLeast('retries.backoffRate', given.backoffRate, 1);
  const maxIntervalSeconds = given.maxIntervalSeconds === undefined
    ? Math.max(3600, intervalSeconds)
    : numberAtLeast('retries.maxIntervalSeconds', given.maxIntervalSeconds, intervalSeconds, true);
  if (given.retryIf !== undefined && typeof given.retryIf !== 'function') throw typeError('retries.retryIf', 'a function', given.retryIf);
  return Object.freeze({ maxAttempts, intervalMs: intervalSeconds * 1000, backoffRate, maxIntervalMs: maxIntervalSeconds * 1000, retryIf: given.retryIf ?? null });
}

/** The step options that both `@Step()` and `registerStep` take, checked. */
function stepExtras(options: Pick<StepOptions, 'retries'> | undefined): { retries?: StepRetryPolicy } {
  return options?.retries === undefined ? {} : { retries: resolveRetries(options.retries) };
}

/** Options of {@link registerStep}. */
export interface RegisterStepOptions {
  /** Retry a failing run of the step with exponential backoff (see {@link StepRetryOptions}). @default no retries */
  retries?: StepRetryOptions;
}

/**
 * Registers a step without decorators; run it from a workflow with `ctxt.runStep(ref, ...args)`.
 * `options.retries` retries a failing run with exponential backoff (see {@link StepRetryOptions}).
 *
 * @example
 * const charge = registerStep('charge', async (ctxt: StepContext, cents: number) => paymentApi.charge(cents));
 * const fetchRate = registerStep('fetchRate', async () => rates.get('EUR'), { retries: { maxAttempts: 5, intervalSeconds: 2 } });
 * @throws TypeError/RangeError for bad options; RegistrationError (`DUPLICATE_REGISTRATION`) when
 *   another function has this name.
 */
export function registerStep<Args extends unknown[], R>(name: string, fn: StepFunction<Args, R>, options?: RegisterStepOptions): StepRef<Args, R> {
  requireNonEmptyString('name', name);
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw typeError('options', 'an object like { retries }', options);
  return register({ kind: 'step', name, fn: fn as StepFunction, ...stepExtras(options) }) as StepRef<Args, R>;
}

/** The registration of a function (decorated method or registered function), if any. */
export function registrationOf(target: unknown): Registration | undefined {
  nameDecoratedMethods();
  if (typeof target === 'function') {
    const conflict = conflicts.get(target);
    if (conflict !== undefined) throw conflict;
    return byFunction.get(target);
  }
  if (typeof target === 'object' && target !== null && 'kind' in target && 'name' in target) {
    const found = byName.get((target as Registration).name);
    return found !== undefined && found === target ? found : undefined;
  }
  return undefined;
}

/** The registration under `name`, if any (recovery uses this). */
export function registrationNamed(name: string): Registration | undefined {
  nameDecoratedMethods();
  return byName.get(name);
}

/** The names of every registered workflow, sorted. */
export function registeredWorkflowNames(): string[] {
  nameDecoratedMethods();
  return [...byName.values()].filter((registration) => registration.kind === 'workflow').map((registration) => registration.name).sort();
}

/** Edit distance between two names (insertions, deletions and substitutions each cost 1). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * What to say after "no workflow named `workflowName` is registered": the names that are, closest
 * first, so a near-miss (`_Backup.run` for `Backup.run`) is obvious, and what to do about it.
 */
export function unregisteredWorkflowHint(workflowName: string): string {
  const shownAtMost = 10;
  const names = registeredWorkflowNames();
  const fix = 'Import the module that defines it before opening the engine; if the class was renamed, pin the old name with @Workflow({ name }).';
  if (names.length === 0) return `No workflow is registered in this process. ${fix}`;
  const ranked = names
    .map((name) => ({ name, distance: editDistance(name, workflowName) }))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name));
  const nearest = ranked[0]!;
  const nearMiss = nearest.distance <= Math.max(2, Math.floor(workflowName.length / 4)) ? ` Did you mean "${nearest.name}"?` : '';
  const shown = ranked.slice(0, shownAtMost).map(({ name }) => `"${name}"`).join(', ');
  const more = names.length > shownAtMost ? ` and ${names.length - shownAtMost} more` : '';
  return `Registered workflows: ${shown}${more}.${nearMiss} ${fix}`;
}

type LegacyMethodDecorator = (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor) => void;
type StandardMethodDecorator = (value: Function, context: ClassMethodDecoratorContext) => void;
/** A method decorator that works under both `experimentalDecorators` and standard decorators. */
export type MethodDecorator = LegacyMethodDecorator & StandardMethodDecorator;

function isStandardContext(value: unknown): value is ClassMethodDecoratorContext {
  return typeof value === 'object' && value !== null && 'kind' in value && 'addInitializer' in value;
}

/** Options of {@link Workflow}. */
export interface WorkflowOptions {
  /**
   * The name the workflow is recorded and recovered under, instead of `ClassName.methodName`. Pin it
   * before renaming a class or method: workflows recorded under the old name still recover.
   * @default `ClassName.methodName`
   */
  name?: string;
  /**
   * The workflow's default timeout: started without `timeoutSeconds` of its own, it is cancelled
   * (with WorkflowTimeoutError) once this many seconds have passed since its start, wherever it is.
   * The deadline is recorded at the start; a child's is never later than its parent's.
   * @default none
   */
  timeoutSeconds?: number;
}

/** Options of {@link Step} and {@link Communicator}. */
export interface StepOptions {
  /**
   * The name the step is recorded under, instead of `ClassName.methodName`. Replay checks it, so pin
   * it before renaming a class or method that recorded workflows use.
   * @default `ClassName.methodName`
   */
  name?: string;
  /** Retry a failing run of the step with exponential backoff (see {@link StepRetryOptions}). @default no retries */
  retries?: StepRetryOptions;
}

function decorator(kind: 'workflow' | 'step', decoratorName: string, options: WorkflowOptions | StepOptions | undefined): MethodDecorator {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw typeError('options', 'an object', options);
  const pinnedName = options?.name === undefined ? undefined : requireNonEmptyString('name', options.name);
  // Checked when the decorator is applied, so bad options fail where the class is defined.
  const timeoutSeconds = kind === 'workflow' ? optionalTimeoutSeconds(options as WorkflowOptions | undefined) : undefined;
  const extras = kind === 'step' ? stepExtras(options as StepOptions | undefined) : timeoutSeconds === undefined ? {} : { timeoutSeconds };
  const registerNamed = (name: string, fn: Function): void => {
    if (kind === 'workflow') register({ kind, name, fn: fn as WorkflowFunction, ...extras });
    else register({ kind, name, fn: fn as StepFunction, ...extras });
  };
  return ((...args: unknown[]) => {
    const [first, second, third] = args;
    if (isStandardContext(second)) {
      if (second.kind !== 'method' || !second.static) {
        throw new TypeError(`@${decoratorName}() must decorate a static method, not ${second.static ? 'a static' : 'an instance'} ${second.kind}.`);
      }
      if (typeof first !== 'function') throw new TypeError(`@${decoratorName}() can only decorate methods.`);
      if (pinnedName !== undefined) {
        registerNamed(pinnedName, first);
        return;
      }
      // The class exists only from its static initializers on, and may not have its final name
      // yet (see UnnamedMethod): note it here, name it at the next lookup.
      second.addInitializer(function (this: unknown) {
        unnamed.push({ kind, owner: this as Function, methodName: String(second.name), fn: first, extras });
      });
      return;
    }
    if (typeof first !== 'function') {
      throw new TypeError(`@${decoratorName}() must decorate a static method; "${String(second)}" is an instance method.`);
    }
    const fn = (third as PropertyDescriptor).value;
    if (typeof fn !== 'function') throw new TypeError(`@${decoratorName}() can only decorate methods.`);
    // Legacy decorators run once the class is complete and named (by tsc, esbuild and Babel alike).
    registerNamed(pinnedName ?? `${first.name}.${String(second)}`, fn);
  }) as MethodDecorator;
}

/**
 * Marks a static method as a workflow, registered as `ClassName.methodName` (or `options.name`). Its
 * first parameter is a {@link WorkflowContext}. Works with `experimentalDecorators` and with standard
 * decorators, compiled by tsc or esbuild (tsx). The name is the workflow's durable identity: to
 * rename the class or method later, pin the current name first.
 *
 * @example
 * class Shop {
 *   @Workflow() static async checkout(ctxt: WorkflowContext, orderId: string) { ... }
 *   @Workflow({ name: 'Shop.refund' }) static async refundOrder(ctxt: WorkflowContext, orderId: string) { ... }
 * }
 * @throws TypeError on a non-static member or bad options; RegistrationError
 *   (`DUPLICATE_REGISTRATION`) when the name is taken, at definition for a pinned name or under
 *   experimentalDecorators, otherwise when the method is first used.
 */
export function Workflow(options?: WorkflowOptions): MethodDecorator {
  return decorator('workflow', 'Workflow', options);
}

/**
 * Marks a static method as a step, registered as `ClassName.methodName` (or `options.name`). Its
 * result (or error) is recorded once, and a recovered workflow gets it back without running the step
 * again. A step that was running when the process died (its result not yet recorded) runs again:
 * execution is at-least-once, recording exactly-once. Its first parameter is a {@link StepContext}.
 *
 * @example
 * class Shop {
 *   @Step() static async reserve(ctxt: StepContext, orderId: string) { return inventory.reserve(orderId); }
 * }
 * @throws TypeError on a non-static member or bad options; RegistrationError
 *   (`DUPLICATE_REGISTRATION`) when the name is taken (see {@link Workflow} for when).
 */
export function Step(options?: StepOptions): MethodDecorator {
  return decorator('step', 'Step', options);
}

/**
 * The seed-era name of {@link Step}.
 * @throws as {@link Step}.
 */
export function Communicator(options?: StepOptions): MethodDecorator {
  return decorator('step', 'Communicator', options);
}

/** The registry as the lifecycle in ops/ sees it (handed down by the engine). */
export const workflowRegistry: WorkflowRegistry = Object.freeze({
  registrationOf,
  workflowNamed(name: string): WorkflowRef | undefined {
    const registration = registrationNamed(name);
    return registration?.kind === 'workflow' ? registration : undefined;
  },
  unregisteredHint: unregisteredWorkflowHint,
});
