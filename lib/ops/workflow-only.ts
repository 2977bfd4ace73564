// Workflow-only operations called where there is no workflow (on a StepContext, an Engine or a
// Client): TypeScript refuses them, and plain JavaScript gets a WorkflowContextError naming the
// mistake instead of "ctxt.recv is not a function". The names stay absent: `'recv' in ctxt` is false.
import { WorkflowContextError } from '../errors';

/**
 * A base class for objects that do not offer `operations`. Reading one of those names yields a
 * function that fails with WorkflowContextError (`invoke` throws, as it is synchronous on a
 * WorkflowContext; the others return a rejected promise, as they do there); `in` and key listings
 * still report the name absent. Every other name reads through to Object.prototype.
 *
 * Its prototype is a Proxy because a plain class cannot do both: a method named `recv` makes
 * `'recv' in engine` true, and without one `engine.recv()` fails with a bare "is not a function".
 * Only a `get` trap can answer for a name that `has` reports absent. The Proxy is the prototype of
 * this one base, set once when it is defined; instances are plain objects of plain subclasses.
 */
export function workflowOnlyBase(operations: readonly string[], where: string): abstract new () => object {
  const refused = new Map<string | symbol, () => unknown>();
  for (const operation of operations) {
    refused.set(operation, operation === 'invoke'
      ? () => {
        throw new WorkflowContextError(operation, where);
      }
      : () => Promise.reject(new WorkflowContextError(operation, where)));
  }
  const refusing = new Proxy(Object.prototype, {
    get: (target, property, receiver) => refused.get(property) ?? Reflect.get(target, property, receiver),
    has: (target, property) => !refused.has(property) && Reflect.has(target, property),
  });
  function WithoutWorkflowOperations(): void {}
  WithoutWorkflowOperations.prototype = refusing;
  return WithoutWorkflowOperations as unknown as abstract new () => object;
}
