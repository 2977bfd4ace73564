// Engine signals for the communication tests: wait until a workflow (or a caller) is blocked in a
// wait, read recorded operations, count rows. Tests wait on these, not on sleeps.
import { engineInternals } from '../lib/engine';
import type { Engine } from '../lib';
import type { WaitDescription } from '../lib/runtime/waiters';
import type { OperationRecord } from '../lib/types';

/** The engine's internals (store, waiters); for assertions only. */
export function internalsOf(engine: Engine) {
  const env = engineInternals.get(engine);
  if (env === undefined) throw new Error('Not an engine opened by Engine.open');
  return env;
}

/**
 * Resolves with the first wait (already under way or started later) that `match` accepts.
 * Rejects after `timeoutMs` so a test fails with a message instead of hanging.
 */
export function waitStarted(engine: Engine, match: (wait: WaitDescription) => boolean, timeoutMs = 5_000): Promise<WaitDescription> {
  const { waiters } = internalsOf(engine);
  const existing = waiters.describe().find(match);
  if (existing !== undefined) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`No matching wait started within ${timeoutMs} ms; waits under way: ${JSON.stringify(waiters.describe())}`));
    }, timeoutMs);
    const stop = onWaitStarted(engine, (wait) => {
      if (!match(wait)) return;
      stop();
      clearTimeout(timer);
      resolve(wait);
    });
  });
}

/** Resolves once workflow `workflowUUID` is blocked in recv (on `topic`, when given). */
export function blockedInRecv(engine: Engine, workflowUUID: string, topic?: string | null): Promise<WaitDescription> {
  return waitStarted(engine, (wait) => wait.workflowUUID === workflowUUID && wait.kind === 'recv' && (topic === undefined || wait.topic === topic));
}

/** Resolves once workflow `workflowUUID` is blocked in getEvent. */
export function blockedInGetEvent(engine: Engine, workflowUUID: string): Promise<WaitDescription> {
  return waitStarted(engine, (wait) => wait.workflowUUID === workflowUUID && wait.kind === 'getEvent');
}

/** The workflow's recorded operations, in index order. */
export function operationsOf(engine: Engine, workflowUUID: string): OperationRecord[] {
  return internalsOf(engine).store.operations.listForWorkflow(workflowUUID);
}

/** Number of rows in one of the store's tables. */
export function countRows(engine: Engine, table: 'messages' | 'events' | 'operations' | 'workflows'): number {
  return (internalsOf(engine).store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** Calls `listener` each time a wait starts (from the engine's typed events); returns the unsubscribe. */
export function onWaitStarted(engine: Engine, listener: (wait: WaitDescription) => void): () => void {
  engine.events.on('waitStarted', listener);
  return () => {
    engine.events.off('waitStarted', listener);
  };
}
