// What every durable operation needs from its engine: the store, time, wake-ups, options, and a way
// to launch workflow code. The engine builds one and hands it down; ops never reach back up.
import { EngineClosedError } from '../errors';
import type { ResolvedOptions } from '../options';
import type { Clock } from '../runtime/clock';
import { TimerWheel } from '../runtime/timer-wheel';
import { Waiters } from '../runtime/waiters';
import type { Commit } from '../store/group-commit';
import type { Store } from '../store/store';
import type { WorkflowRef } from '../decorators';

export interface OperationEnvironment {
  readonly store: Store;
  readonly clock: Clock;
  readonly waiters: Waiters;
  readonly options: ResolvedOptions;
  /** Steps whose code is running now (test tools wait for them before calling the engine idle). */
  stepsInFlight: number;
  /** False once the engine closed (or, in tests, crashed): nothing may be written any more. */
  readonly isOpen: boolean;
  /**
   * Runs the code of a workflow whose row was just written in the batch of `commit` (not yet
   * committed). If that commit fails, the run is abandoned before it records anything.
   */
  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[], commit: Commit): void;
}

/** The state an Engine or a Client shares with its operations: store, clock, timer wheel, waiters. */
export abstract class RuntimeEnvironment implements OperationEnvironment {
  readonly store: Store;
  readonly clock: Clock;
  readonly wheel: TimerWheel;
  readonly waiters: Waiters;
  readonly options: ResolvedOptions;
  stepsInFlight = 0;
  isOpen = true;

  constructor(options: ResolvedOptions, store: Store) {
    this.options = options;
    this.store = store;
    this.clock = options.clock;
    this.wheel = new TimerWheel(options.clock);
    this.waiters = new Waiters(this.wheel);
  }

  abstract launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[], commit: Commit): void;
}

/**
 * Runs a read whose value is reported, when it can see committed rows only (see Store.readCommitted):
 * a write of the same turn whose commit later fails is never shown.
 * @throws EngineClosedError when the engine is closed.
 */
export function readCommitted<T>(env: OperationEnvironment, what: string, read: () => T): Promise<T> {
  assertOpen(env, what);
  return env.store.readCommitted(read);
}

/** Throws EngineClosedError when the engine can no longer write. */
export function assertOpen(env: OperationEnvironment, what: string): void {
  if (!env.isOpen) throw new EngineClosedError(what);
}
