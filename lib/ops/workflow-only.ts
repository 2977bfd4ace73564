// Workflow-only operations called where there is no workflow (on a StepContext, an Engine or a
// Client): TypeScript refuses them, and plain JavaScript gets a WorkflowContextError naming the
// mistake instead of "ctxt.recv is not a function". The names stay absent: `'recv' in ctxt` is false.
import { WorkflowContextError } from '../errors';

/**
 * A prototype for objects that do not offer `operations`. Reading one of those names yields a
 * function that fails with WorkflowContextError (`invoke` throws, as it is synchronous on a
 * WorkflowContext; the others return a rejected promise, as they do there); `in` and key listings
 * still report the name absent. Every other name reads through to Object.prototype.
 */
export function workflowOnlyPrototype(operations: readonly string[], where: string): object {
  const refused = new Map<string | symbol, () => unknown>();
  for (const operation of operations) {
    refused.set(operation, operation === 'invoke'
      ? () => {
        throw new WorkflowContextError(operation, where);
      }
      : () => Promise.reject(new WorkflowContextError(operation, where)));
  }
  return new Proxy(Object.prototype, {
    get: (target, property, receiver) => refused.get(property) ?? Reflect.get(target, property, receiver),
    has: (target, property) => !refused.has(property) && Reflect.has(target, property),
  });
}
