// Cancel, resume and fork, shared by Engine, Client and the deadlines of the WorkflowRunner. Each is one
// transaction committed before it returns (see Store.cancelWorkflow): it changes the workflow's row
// and appends to workflow_controls, which other processes follow through the change feed. Once it
// committed, this process reconciles what it runs (env.reconcile) and wakes whoever awaits a result.
import { isPromise } from '../awaitable';
import { WorkflowCancelledError, WorkflowConflictError, WorkflowNotFoundError, WorkflowTimeoutError } from '../errors';
import type { CancelResult, ResumeResult } from '../types';
import { assertOpen, writeWhenUnlocked, type OperationEnvironment } from './environment';
import { encodeError } from './payload';

/** How a cancel is asked for: with or without the descendants; by a deadline (the timeout's reason). */
export interface CancelRequest {
  cancelChildren: boolean;
  /** Set for a timeout: the deadline that passed, recorded in WorkflowTimeoutError. */
  deadlineMs?: number;
}

/**
 * Cancels a workflow (see CancelResult): a PENDING one becomes CANCELLED with its reason recorded;
 * one that already finished, or was already cancelled, is left as it is.
 * @throws WorkflowNotFoundError when no workflow has the UUID; StorageError when the commit fails
 *   (nothing changed).
 */
export async function cancelWorkflow(env: OperationEnvironment, workflowUUID: string, request: CancelRequest): Promise<CancelResult> {
  assertOpen(env, 'cancelWorkflow');
  const { deadlineMs } = request;
  const reason = (uuid: string): string => encodeError(deadlineMs === undefined ? new WorkflowCancelledError(uuid) : new WorkflowTimeoutError(uuid, deadlineMs));
  const pending = writeWhenUnlocked(env, () => env.store.cancelWorkflow(workflowUUID, request.cancelChildren, reason, deadlineMs ?? null, env.clock.now()));
  const result = isPromise(pending) ? await pending : pending;
  if (result === undefined) throw new WorkflowNotFoundError(workflowUUID);
  // Committed: the runs of these workflows stop at once, and their result waits wake.
  // The rows as this cancel left them: its runs here stop at once, with no read first.
  if (result.cancelled.length > 0) env.reconcile(result.cancelled, new Map(result.cancelled.map((uuid) => [uuid, { status: 'CANCELLED' as const, error: reason(uuid), deadlineMs: null }])));
  return result;
}

/**
 * Returns a CANCELLED, ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED workflow to PENDING, its recovery
 * count at zero and its deadline gone; the engine that owns the file runs it again from its records.
 * A PENDING or SUCCESS workflow is left as it is.
 * @throws WorkflowNotFoundError when no workflow has the UUID; StorageError when the commit fails.
 */
export async function resumeWorkflow(env: OperationEnvironment, workflowUUID: string): Promise<ResumeResult> {
  assertOpen(env, 'resumeWorkflow');
  const pending = writeWhenUnlocked(env, () => env.store.resumeWorkflow(workflowUUID, env.clock.now()));
  const result = isPromise(pending) ? await pending : pending;
  if (result === undefined) throw new WorkflowNotFoundError(workflowUUID);
  if (result.resumed) env.reconcile([workflowUUID]);
  return result;
}

/** A fork as asked for, its arguments checked: see ForkWorkflowOptions. */
export interface ForkRequest {
  fromOperation: number;
  newWorkflowUUID: string;
  /** The fork's timeout in ms (null: none); undefined: the original's. */
  timeoutMs: number | null | undefined;
}

/**
 * Forks a workflow (see Store.forkWorkflow), in one transaction committed before this resolves. An
 * Engine runs the fork at once, inside that transaction, from its copied records; a Client leaves it
 * to the owner, as it does its starts.
 * @throws WorkflowNotFoundError; RangeError when `fromOperation` is past the recorded operations;
 *   WorkflowConflictError when `newWorkflowUUID` is taken; StorageError (nothing is written).
 */
export async function forkWorkflow(env: OperationEnvironment, workflowUUID: string, request: ForkRequest): Promise<void> {
  assertOpen(env, 'forkWorkflow');
  const { fromOperation, newWorkflowUUID, timeoutMs } = request;
  const pending = writeWhenUnlocked(env, () => env.store.forkWorkflow(workflowUUID, newWorkflowUUID, fromOperation, timeoutMs, env.clock.now()));
  const { value: outcome, commit } = isPromise(pending) ? await pending : pending;
  if (outcome.kind === 'forked') {
    const { original, recorded, deadlineMs } = outcome;
    env.launchFork(newWorkflowUUID, original.workflowName, original.inputs, recorded, commit, deadlineMs);
  }
  // Judged on what committed: a refusal wrote nothing, and is reported once the batch it read in landed.
  await commit.durable;
  switch (outcome.kind) {
    case 'not-found':
      throw new WorkflowNotFoundError(workflowUUID);
    case 'out-of-range':
      throw new RangeError(
        `Expected \`fromOperation\` to be at most ${outcome.operationCount} (the operations workflow "${workflowUUID}" recorded), got \`${fromOperation}\` (number)`,
      );
    case 'conflict':
      throw new WorkflowConflictError(newWorkflowUUID, outcome.existing?.workflowName ?? 'deleted (cancelled)', `fork of workflow "${workflowUUID}"`, outcome.existing?.parentUUID ?? null);
    case 'forked':
      return;
  }
}
