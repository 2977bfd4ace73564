// Values that may come at once or later. A store answers synchronously (SQLite, on its own
// connection) or with a promise (a database server); the code above it handles both through these,
// so that a synchronous answer stays synchronous: no turn is lost, and a check and a subscription
// made in one synchronous run leave no gap for a wake-up to fall into.

/** A value, or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/** Whether `value` is a promise (or any thenable) rather than the value itself. */
export function isPromise<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * Applies `next` to the value: at once when it is there (and then its result stays synchronous if
 * `next`'s is), after it resolves when it is a promise.
 */
export function andThen<T, R>(value: Awaitable<T>, next: (value: T) => Awaitable<R>): Awaitable<R> {
  return isPromise(value) ? value.then(next) : next(value);
}
