// @Workflow() and @Step() (alias @Communicator()) and the function API registerWorkflow/registerStep.
// The registry they fill is durablite's only module-level state: recovery finds a workflow's code
// by its registered name, so names must be unique for the whole process.
import { RegistrationError } from './errors';
import type { StepContext, WorkflowContext } from './context';
import { requireNonEmptyString, typeError } from './validate';

/** A workflow function: deterministic code that calls durable operations on its context. */
export type WorkflowFunction<Args extends unknown[] = any[], R = any> = (ctxt: WorkflowContext, ...args: Args) => Promise<R>;

/** A step function: arbitrary code (I/O, randomness) whose result is recorded once. */
export type StepFunction<Args extends unknown[] = any[], R = any> = (ctxt: StepContext, ...args: Args) => Promise<R> | R;

/** A registered workflow, as returned by {@link registerWorkflow}. */
export interface WorkflowRef<Args extends unknown[] = any[], R = any> {
  readonly kind: 'workflow';
  readonly name: string;
  readonly fn: WorkflowFunction<Args, R>;
}

/** A registered step, as returned by {@link registerStep}. */
export interface StepRef<Args extends unknown[] = any[], R = any> {
  readonly kind: 'step';
  readonly name: string;
  readonly fn: StepFunction<Args, R>;
}

type Registration = WorkflowRef | StepRef;

const byName = new Map<string, Registration>();
const byFunction = new WeakMap<Function, Registration>();

function register<T extends Registration>(registration: T): T {
  const existing = byName.get(registration.name);
  if (existing !== undefined) {
    if (existing.fn === registration.fn && existing.kind === registration.kind) return existing as T;
    throw new RegistrationError(
      'DUPLICATE_REGISTRATION',
      registration.name,
      `Another ${existing.kind} is already registered as "${registration.name}". Names must be unique: recovery finds code by name. Rename the class, method or registration.`,
    );
  }
  const frozen = Object.freeze(registration) as T;
  byName.set(frozen.name, frozen);
  byFunction.set(frozen.fn, frozen);
  return frozen;
}

/**
 * Registers a workflow without decorators.
 *
 * @example
 * const greet = registerWorkflow('greet', async (ctxt: WorkflowContext, name: string) => `hello ${name}`);
 * const handle = await engine.startWorkflow(greet, {}, 'Ada');
 * @throws RegistrationError (`DUPLICATE_REGISTRATION`) when another function has this name.
 */
export function registerWorkflow<Args extends unknown[], R>(name: string, fn: WorkflowFunction<Args, R>): WorkflowRef<Args, R> {
  requireNonEmptyString('name', name);
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  return register({ kind: 'workflow', name, fn: fn as WorkflowFunction }) as WorkflowRef<Args, R>;
}

/**
 * Registers a step without decorators; run it from a workflow with `ctxt.runStep(ref, ...args)`.
 *
 * @example
 * const charge = registerStep('charge', async (ctxt: StepContext, cents: number) => paymentApi.charge(cents));
 * @throws RegistrationError (`DUPLICATE_REGISTRATION`) when another function has this name.
 */
export function registerStep<Args extends unknown[], R>(name: string, fn: StepFunction<Args, R>): StepRef<Args, R> {
  requireNonEmptyString('name', name);
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  return register({ kind: 'step', name, fn: fn as StepFunction }) as StepRef<Args, R>;
}

/** The registration of a function (decorated method or registered function), if any. */
export function registrationOf(target: unknown): Registration | undefined {
  if (typeof target === 'function') return byFunction.get(target);
  if (typeof target === 'object' && target !== null && 'kind' in target && 'name' in target) {
    const found = byName.get((target as Registration).name);
    return found !== undefined && found === target ? found : undefined;
  }
  return undefined;
}

/** The registration under `name`, if any (recovery uses this). */
export function registrationNamed(name: string): Registration | undefined {
  return byName.get(name);
}

type LegacyMethodDecorator = (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor) => void;
type StandardMethodDecorator = (value: Function, context: ClassMethodDecoratorContext) => void;
/** A method decorator that works under both `experimentalDecorators` and standard decorators. */
export type MethodDecorator = LegacyMethodDecorator & StandardMethodDecorator;

function isStandardContext(value: unknown): value is ClassMethodDecoratorContext {
  return typeof value === 'object' && value !== null && 'kind' in value && 'addInitializer' in value;
}

function decorator(kind: 'workflow' | 'step', decoratorName: string): MethodDecorator {
  const registerMethod = (owner: Function, methodName: string | symbol, fn: unknown): void => {
    if (typeof fn !== 'function') throw new TypeError(`@${decoratorName}() can only decorate methods.`);
    const name = `${owner.name}.${String(methodName)}`;
    if (kind === 'workflow') register({ kind, name, fn: fn as WorkflowFunction });
    else register({ kind, name, fn: fn as StepFunction });
  };
  return ((...args: unknown[]) => {
    const [first, second, third] = args;
    if (isStandardContext(second)) {
      if (second.kind !== 'method' || !second.static) {
        throw new TypeError(`@${decoratorName}() must decorate a static method, not ${second.static ? 'a static' : 'an instance'} ${second.kind}.`);
      }
      // Standard decorators see the class only once it exists: register from a static initializer.
      second.addInitializer(function (this: unknown) {
        registerMethod(this as Function, second.name, first);
      });
      return;
    }
    if (typeof first !== 'function') {
      throw new TypeError(`@${decoratorName}() must decorate a static method; "${String(second)}" is an instance method.`);
    }
    registerMethod(first, second as string | symbol, (third as PropertyDescriptor).value);
  }) as MethodDecorator;
}

/**
 * Marks a static method as a workflow, registered as `ClassName.methodName`. Its first parameter is a
 * {@link WorkflowContext}. Works with `experimentalDecorators` and with standard decorators.
 *
 * @example
 * class Shop {
 *   @Workflow() static async checkout(ctxt: WorkflowContext, orderId: string) { ... }
 * }
 * @throws TypeError on a non-static member; RegistrationError when the name is taken.
 */
export function Workflow(): MethodDecorator {
  return decorator('workflow', 'Workflow');
}

/**
 * Marks a static method as a step, registered as `ClassName.methodName`. Its result (or error) is
 * recorded once, and a recovered workflow gets it back without running the step again. A step that
 * was running when the process died (its result not yet recorded) runs again: execution is
 * at-least-once, recording exactly-once. Its first parameter is a {@link StepContext}.
 *
 * @example
 * class Shop {
 *   @Step() static async reserve(ctxt: StepContext, orderId: string) { return inventory.reserve(orderId); }
 * }
 */
export function Step(): MethodDecorator {
  return decorator('step', 'Step');
}

/** The seed-era name of {@link Step}. */
export function Communicator(): MethodDecorator {
  return decorator('step', 'Communicator');
}
