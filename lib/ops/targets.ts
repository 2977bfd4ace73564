// What user code names when it runs something: a ref, a decorated or registered function, or a class
// whose methods are decorated. Resolved here to registrations, through the registry handed down
// (ops never imports decorators.ts).
import type { StepRef, WorkflowRef, WorkflowRegistry } from '../contracts';
import { RegistrationError } from '../errors';
import { typeError } from '../validate';

function displayName(target: unknown): string {
  return typeof target === 'function' ? target.name : String((target as { name?: unknown })?.name ?? target);
}

/**
 * The workflow registration of a ref or decorated method.
 * @throws RegistrationError when `target` is not a registered workflow.
 */
export function requireWorkflow(registry: WorkflowRegistry, target: unknown): WorkflowRef {
  const registration = registry.registrationOf(target);
  if (registration?.kind === 'workflow') return registration;
  const name = displayName(target);
  throw new RegistrationError('NOT_REGISTERED', name, `"${name}" is not a registered workflow. Decorate it with @Workflow() or register it with registerWorkflow().`);
}

/**
 * The step registration of a ref or decorated method.
 * @throws RegistrationError when `target` is not a registered step.
 */
export function requireStep(registry: WorkflowRegistry, target: unknown): StepRef {
  const registration = registry.registrationOf(target);
  if (registration?.kind === 'step') return registration;
  const name = displayName(target);
  throw new RegistrationError('NOT_REGISTERED', name, `"${name}" is not a registered step. Decorate it with @Step() or register it with registerStep().`);
}

/**
 * The object behind `invoke(target)`: one property per member of `target` (a class and its static
 * members, or an object and its prototype chain). Reading a registered member yields `call` of its
 * registration; any other member reads as undefined. Registrations are looked up when a member is
 * read, not when the invoker is built, so a member in conflict fails only when it is used.
 * @throws TypeError when `target` is not a class or object.
 */
export function invokerOf(
  registry: WorkflowRegistry,
  target: unknown,
  call: (registration: WorkflowRef | StepRef) => (...args: unknown[]) => unknown,
): object {
  if ((typeof target !== 'function' && typeof target !== 'object') || target === null) throw typeError('target', 'a class', target);
  const invoker: Record<string | symbol, unknown> = {};
  const end = typeof target === 'function' ? Function.prototype : Object.prototype;
  for (let holder: object | null = target; holder !== null && holder !== end; holder = Object.getPrototypeOf(holder)) {
    for (const member of Reflect.ownKeys(holder)) {
      if (Object.prototype.hasOwnProperty.call(invoker, member)) continue;
      Object.defineProperty(invoker, member, {
        enumerable: true,
        get: () => {
          const registration = registry.registrationOf((target as Record<string | symbol, unknown>)[member]);
          return registration === undefined ? undefined : call(registration);
        },
      });
    }
  }
  return invoker;
}
