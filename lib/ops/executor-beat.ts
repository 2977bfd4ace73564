// The beat of an Engine that shares a PostgreSQL schema with other engines (see postgres/executors.ts):
// every second it renews its hold on the workflows it runs, and takes over the abandoned ones (never
// claimed, or held by an engine that closed or whose heartbeat lapsed), which it then runs from
// their records like a workflow another process started. A beat that finds its own executor row
// gone (the others declared it dead after a pause longer than the lease, and took its workflows)
// joins again: its runs of the workflows taken from it stop at their next operation (the store's
// fence refuses it), and it goes on with new work.
import { MaxRecoveryAttemptsExceededError } from '../errors';
import { HEARTBEAT_INTERVAL_MS } from '../postgres/executors';
import type { PostgresStore } from '../postgres/postgres-store';
import { workflowKey } from '../runtime/waiters';
import type { OperationEnvironment } from './environment';
import type { WorkflowRunner } from './lifecycle';
import { encodeError } from './payload';

/** The most abandoned workflows one beat takes over: the next beat takes more, so one engine does not grab a whole backlog at once. */
export const TAKEOVER_BATCH = 100;

export class ExecutorBeat {
  readonly #env: OperationEnvironment;
  readonly #store: PostgresStore;
  readonly #runner: WorkflowRunner;
  readonly #timer: NodeJS.Timeout;
  #beating = false;

  constructor(env: OperationEnvironment, store: PostgresStore, runner: WorkflowRunner) {
    this.#env = env;
    this.#store = store;
    this.#runner = runner;
    // Unref'd: an engine with nothing to do does not keep its process alive (its waits' timers do).
    this.#timer = setInterval(() => void this.beat(), HEARTBEAT_INTERVAL_MS).unref();
  }

  /** One beat (also run at once after a resync); never throws: a failed beat is reported and the next one tries again. */
  async beat(): Promise<void> {
    if (this.#beating || !this.#env.isOpen) return;
    this.#beating = true;
    try {
      const renewal = await this.#store.heartbeat();
      if (renewal === 'superseded') {
        // Another process registered under this engine's executor id after this one missed its lease
        // (see registerExecutor): it runs those workflows now. This store refuses every write; the
        // waits under way end with that refusal, and the beat stops.
        this.stop();
        if (!this.#env.isOpen) return;
        this.#env.options.onWarning({
          code: 'EXECUTOR_SUPERSEDED',
          message: `Another engine process registered under this engine's executor id ("${this.#store.executorId}") after this one missed its heartbeat for longer than its lease. This engine writes nothing more: close it, and give each engine its own executorId.`,
        });
        const refusal = this.#store.supersededBy;
        if (refusal !== null) this.#env.waiters.failAll(refusal);
        return;
      }
      if (renewal === 'gone') {
        // Declared dead by the others (no beat for longer than the lease: a long pause, a network
        // cut): what it ran is theirs now. It joins again; its runs of those workflows stop at their
        // next operation, which the fence refuses (nothing of them is recorded, no step starts).
        if (!this.#env.isOpen) return;
        this.#env.options.onWarning({
          code: 'STORAGE_FAILED',
          message: `This engine ("${this.#store.executorId}") missed its heartbeat for longer than its lease; the other engines took over the workflows it ran, and its own runs of them stop. It goes on with new work.`,
        });
        await this.#store.registerExecutor();
      }
      const claimed = await this.#store.claimAbandoned(TAKEOVER_BATCH);
      const { maxRecoveryAttempts, onWarning } = this.#env.options;
      for (const { workflowUUID, workflowName, inputs, deadlineMs, recoveryAttempts } of claimed) {
        if (!this.#env.isOpen) return;
        // Taken over more often than recovery may resume a workflow, with no progress between: given up, as at open.
        if (recoveryAttempts > maxRecoveryAttempts) {
          const error = encodeError(new MaxRecoveryAttemptsExceededError(workflowUUID, recoveryAttempts - 1));
          if (await this.#store.giveUp(workflowUUID, error, this.#env.clock.now())) {
            this.#env.waiters.notify(workflowKey(workflowUUID));
            onWarning({
              code: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED',
              workflowUUID,
              workflowName,
              message: `Workflow "${workflowUUID}" was taken over from engines that stopped ${recoveryAttempts - 1} times without progress; it is marked MAX_RECOVERY_ATTEMPTS_EXCEEDED and no longer run. resumeWorkflow("${workflowUUID}") runs it again.`,
            });
          }
          continue;
        }
        this.#runner.runStartedElsewhere({ workflowUUID, workflowName, inputs, deadlineMs }, true);
      }
    } catch (error) {
      if (!this.#env.isOpen) return;
      this.#env.options.onWarning({
        code: 'STORAGE_FAILED',
        message: `This engine's heartbeat failed (${(error as Error)?.message}); it beats again in ${HEARTBEAT_INTERVAL_MS} ms. Past its lease without a beat, the other engines take its workflows over.`,
      });
    } finally {
      this.#beating = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
