// What every durable operation needs from its engine: the store, time, wake-ups, options, and a way
// to launch workflow code. The Session (lib/session.ts) builds one and hands it down; ops never
// reach back up.
import type { EventEmitter } from 'eventemitter3';
import type { EngineEvents, ResolvedOptions, WorkflowRef } from '../contracts';
import { EngineClosedError, safeString } from '../errors';
import { pauseRealTime, type Clock } from '../runtime/clock';
import type { TimerWheel } from '../runtime/timer-wheel';
import type { Waiters } from '../runtime/waiters';
import type { Awaitable } from '../awaitable';
import type { Commit, ControlState } from '../store/store';
import type { Store } from '../store/store';
import type { OperationPosition, OperationRecord } from '../types';

export interface OperationEnvironment {
  readonly store: Store;
  readonly clock: Clock;
  /** Deadlines on the engine's clock (the waits' own, and pauses such as a resume's backoff). */
  readonly wheel: TimerWheel;
  readonly waiters: Waiters;
  readonly options: ResolvedOptions;
  /** The typed events of the engine (or client): see EngineEvents. */
  readonly events: EventEmitter<EngineEvents>;
  /** False once the engine closed (or, in tests, crashed): nothing may be written any more. */
  readonly isOpen: boolean;
  /** The last handler write waiting for another connection's lock (see writeWhenUnlocked), or null. */
  lockQueue: Promise<void> | null;
  /**
   * Runs the code of a workflow whose row was just written in the batch of `commit` (not yet
   * committed). If that commit fails, the run is abandoned before it records anything. A Client
   * never runs workflows: its starts never call this.
   */
  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[], commit: Commit, deadlineMs: number | null): void;
  /**
   * As launch, for a fork: runs workflow `workflowName`, if registered here, from `recorded` (written
   * with its row in the batch of `commit`), with its serialized `inputs`. A Client does nothing: the
   * owner picks the fork up as it does a client's start.
   */
  launchFork(workflowUUID: string, workflowName: string, inputs: string, recorded: OperationRecord[], commit: Commit, deadlineMs: number | null): void;
  /**
   * After a cancel or resume of these workflows committed: an Engine stops or runs them again (see
   * WorkflowRunner.reconcile); both wake whoever awaits their results here. `known`: the rows as the
   * committed write left them (a cancel's), so that its runs stop at once, with no read first.
   */
  reconcile(workflowUUIDs: readonly string[], known?: ReadonlyMap<string, ControlState>): void;
}

/**
 * Runs a read whose value is reported, when it can see committed rows only (see Store.readCommitted):
 * a write of the same turn whose commit later fails is never shown. `workflowUUID`: the read is about
 * that workflow only (see Store.readCommitted).
 * @throws EngineClosedError when the engine is closed.
 */
export function readCommitted<T>(env: OperationEnvironment, what: string, read: () => Awaitable<T>, workflowUUID?: string): Promise<T> {
  assertOpen(env, what);
  return env.store.readCommitted(read, workflowUUID);
}

/**
 * Emits a typed event. A listener that throws cannot break the engine (a commit's callers, a start):
 * its error is printed with console.error and the engine goes on, as with a throwing onWarning.
 */
export function emitEvent<K extends keyof EngineEvents>(events: EventEmitter<EngineEvents>, name: K, ...args: Parameters<EngineEvents[K]>): void {
  try {
    (events.emit as (event: K, ...rest: unknown[]) => boolean)(name, ...args);
  } catch (error) {
    console.error(`durablite: a listener of the "${name}" event threw (${safeString(() => (error as Error)?.message ?? error)}); the engine goes on.`);
  }
}

/** Tells the typed events that the operation at `position` was recorded: its commit landed. */
export function operationRecorded(env: OperationEnvironment, position: OperationPosition): void {
  if (env.events.listenerCount('operationRecorded') === 0) return;
  const { workflowUUID, operationIndex, kind, name } = position;
  emitEvent(env.events, 'operationRecorded', { workflowUUID, operationIndex, kind, name });
}

/** Throws EngineClosedError when the engine can no longer write. */
export function assertOpen(env: OperationEnvironment, what: string): void {
  if (!env.isOpen) throw new EngineClosedError(what);
}

/** How long a client's write waits for another connection's lock before it fails, as an owner's busy timeout. */
export const LOCK_WAIT_MS = 5000;

/**
 * Runs the write of a call outside workflows (a send, a start). On a client's store a write that
 * finds the lock held fails at once; it is tried again after short real-time pauses, for up to
 * LOCK_WAIT_MS, without blocking the event loop, and later writes wait behind it so that they keep
 * their call order. On an owner's store this is the write itself.
 * Returns the write's value itself when it could write at once, else a promise of it.
 * @throws StorageError (SQLITE_BUSY) when the lock stays held for LOCK_WAIT_MS.
 */
export function writeWhenUnlocked<T>(env: OperationEnvironment, write: () => Awaitable<T>): Awaitable<T> {
  if (env.lockQueue === null) {
    // Written at once when it can be, synchronously: an owner's start launches its workflow inside
    // the very transaction that records it.
    try {
      return write();
    } catch (error) {
      if (!env.store.isLockHeld(error)) throw error;
    }
  }
  const previous = env.lockQueue ?? Promise.resolve();
  const mine = previous.then(() => retryWhileLocked(env, write));
  const tail = mine.then(() => {}, () => {});
  env.lockQueue = tail;
  void tail.then(() => {
    if (env.lockQueue === tail) env.lockQueue = null;
  });
  return mine;
}

async function retryWhileLocked<T>(env: OperationEnvironment, write: () => Awaitable<T>): Promise<T> {
  let waitedMs = 0;
  for (let pauseMs = 1; ; pauseMs = Math.min(2 * pauseMs, 50)) {
    await pauseRealTime(pauseMs);
    waitedMs += pauseMs;
    assertOpen(env, 'A write waiting for the database lock');
    try {
      return await write();
    } catch (error) {
      if (!env.store.isLockHeld(error) || waitedMs >= LOCK_WAIT_MS) throw error;
    }
  }
}
