// What every durable operation needs from its engine: the store, time, wake-ups, options, and a way
// to launch workflow code. The engine builds one and hands it down; ops never reach back up.
import { EngineClosedError } from '../errors';
import type { ResolvedOptions } from '../options';
import type { Clock } from '../runtime/clock';
import { TimerWheel } from '../runtime/timer-wheel';
import { Waiters } from '../runtime/waiters';
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
   * Runs the code of a workflow whose row was just written (in the current, not yet committed,
   * transaction). Returns a function that abandons the run if that commit fails.
   */
  launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[]): (error: unknown) => void;
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

  abstract launch(workflowUUID: string, workflow: WorkflowRef, args: unknown[]): (error: unknown) => void;
}

/**
 * Resolves once everything written so far is committed; rejects when that commit failed. Every
 * operation awaits it before it reports a write, or a value it read, as done.
 */
export function committed(env: OperationEnvironment): Promise<void> | void {
  return env.store.durable();
}

/**
 * Before a read whose value is reported: lets this turn's writes commit (only committed values are
 * ever returned), then checks the engine is still open.
 */
export async function beforeRead(env: OperationEnvironment, what: string): Promise<void> {
  assertOpen(env, what);
  await committed(env);
  assertOpen(env, what);
}

/** Throws EngineClosedError when the engine can no longer write. */
export function assertOpen(env: OperationEnvironment, what: string): void {
  if (!env.isOpen) throw new EngineClosedError(what);
}
