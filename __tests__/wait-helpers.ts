// Engine signals for the communication tests: wait until a workflow (or a caller) is blocked in a
// wait, read recorded operations, count rows. Tests wait on these, not on sleeps, and see the engine
// only as users do: its typed events (engine.events) and its listing methods.
import type { Engine, OperationInfo } from '../lib';
import type { WaitDescription } from '../lib/runtime/waiters';

/** The waits under way in each tracked engine, kept from its waitStarted and waitEnded events. */
const liveWaits = new WeakMap<Engine, Set<WaitDescription>>();

/**
 * Starts keeping `engine`'s waits under way from its events (openTestEngine does this for every
 * engine it opens). Waits are reported from the first listener of a wait event: call this right after
 * the engine opened. A wait that a workflow resumed by that open began before is not seen (see
 * {@link blockedInRecv}).
 */
export function trackWaits(engine: Engine): void {
  if (liveWaits.has(engine)) return;
  const live = new Set<WaitDescription>();
  liveWaits.set(engine, live);
  engine.events.on('waitStarted', (wait) => live.add(wait));
  engine.events.on('waitEnded', (wait) => live.delete(wait));
}

/** The waits under way in `engine` (one tracked since it opened: see {@link trackWaits}). */
export function waitsOf(engine: Engine): WaitDescription[] {
  const live = liveWaits.get(engine);
  if (live === undefined) throw new Error('The waits of this engine are not tracked: open it with openTestEngine, or call trackWaits(engine) right after it opened.');
  return [...live];
}

/**
 * Resolves with the first wait (already under way or started later) that `match` accepts.
 * Rejects after `timeoutMs` so a test fails with a message instead of hanging.
 */
export function waitStarted(engine: Engine, match: (wait: WaitDescription) => boolean, timeoutMs = 5_000): Promise<WaitDescription> {
  const existing = waitsOf(engine).find(match);
  if (existing !== undefined) return Promise.resolve(existing);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`No matching wait started within ${timeoutMs} ms; waits under way: ${JSON.stringify(waitsOf(engine))}`));
    }, timeoutMs);
    const stop = onWaitStarted(engine, (wait) => {
      if (!match(wait)) return;
      stop();
      clearTimeout(timer);
      resolve(wait);
    });
  });
}

/**
 * Resolves once workflow `workflowUUID` is blocked in a wait of `kind` that `match` accepts. A
 * workflow resumed by the engine's open may have reached its wait before the events were first read:
 * for one, the wait it recorded counts once the open's work has settled (a turn of the event loop).
 */
async function blockedIn(engine: Engine, workflowUUID: string, kind: 'recv' | 'getEvent', match: (wait: WaitDescription) => boolean): Promise<WaitDescription> {
  const accepts = (wait: WaitDescription) => wait.workflowUUID === workflowUUID && wait.kind === kind && match(wait);
  if (!engine.recovery.resumed.includes(workflowUUID)) return waitStarted(engine, accepts);
  await new Promise((resolve) => setImmediate(resolve));
  const live = waitsOf(engine).find(accepts);
  if (live !== undefined) return live;
  for (const operation of await engine.listOperations(workflowUUID)) {
    if (operation.completedAt !== null || operation.kind !== kind) continue;
    // What the wait recorded: `{ topic }` for recv, `{ workflowUUID, key }` (the target's) for getEvent.
    const detail = (operation.waitingFor ?? {}) as { topic?: string | null; workflowUUID?: string; key?: string };
    const recorded: WaitDescription = kind === 'recv'
      ? { workflowUUID, kind, topic: detail.topic ?? null, deadlineMs: operation.deadlineMs }
      : { workflowUUID, kind, targetUUID: detail.workflowUUID!, key: detail.key!, deadlineMs: operation.deadlineMs };
    if (accepts(recorded)) return recorded;
  }
  return waitStarted(engine, accepts);
}

/** Resolves once workflow `workflowUUID` is blocked in recv (on `topic`, when given). */
export function blockedInRecv(engine: Engine, workflowUUID: string, topic?: string | null): Promise<WaitDescription> {
  return blockedIn(engine, workflowUUID, 'recv', (wait) => topic === undefined || wait.topic === topic);
}

/** Resolves once workflow `workflowUUID` is blocked in getEvent. */
export function blockedInGetEvent(engine: Engine, workflowUUID: string): Promise<WaitDescription> {
  return blockedIn(engine, workflowUUID, 'getEvent', () => true);
}

/** The workflow's recorded operations, in index order, as `engine.listOperations` reports them. */
export function operationsOf(engine: Engine, workflowUUID: string): Promise<OperationInfo[]> {
  return engine.listOperations(workflowUUID);
}

/** Number of committed rows in one of the store's tables, counted through the engine's listings. */
export async function countRows(engine: Engine, table: 'messages' | 'events' | 'operations' | 'workflows'): Promise<number> {
  const workflows = await engine.listWorkflows();
  if (table === 'workflows') return workflows.length;
  // Every message, event and operation belongs to a workflow (a send to an unknown UUID stores nothing).
  const counts = await Promise.all(workflows.map(async ({ workflowUUID }) => {
    if (table === 'messages') return (await engine.listMessages(workflowUUID)).length;
    if (table === 'events') return Object.keys(await engine.listEvents(workflowUUID)).length;
    return (await engine.listOperations(workflowUUID)).length;
  }));
  return counts.reduce((sum, count) => sum + count, 0);
}

/** Calls `listener` each time a wait starts (from the engine's typed events); returns the unsubscribe. */
export function onWaitStarted(engine: Engine, listener: (wait: WaitDescription) => void): () => void {
  engine.events.on('waitStarted', listener);
  return () => {
    engine.events.off('waitStarted', listener);
  };
}
