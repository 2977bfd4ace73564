// Cancel and resume, shared by Engine, Client and the deadlines of the WorkflowRunner. Each is one
// transaction committed before it returns (see Store.cancelWorkflow): it changes the workflow's row
// and appends to workflow_controls, which other processes follow through the change feed. Once it
// committed, this process reconciles what it runs (env.reconcile) and wakes whoever awaits a result.
import { WorkflowCancelledError, WorkflowNotFoundError, WorkflowTimeoutError } from '../errors';
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
  const result = pending instanceof Promise ? await pending : pending;
  if (result === undefined) throw new WorkflowNotFoundError(workflowUUID);
  // Committed: the runs of these workflows stop at once, and their result waits wake.
  if (result.cancelled.length > 0) env.reconcile(result.cancelled);
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
  const result = pending instanceof Promise ? await pending : pending;
  if (result === undefined) throw new WorkflowNotFoundError(workflowUUID);
  if (result.resumed) env.reconcile([workflowUUID]);
  return result;
}
