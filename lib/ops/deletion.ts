// Delete and prune, shared by Engine and Client. A delete is one transaction committed before it
// returns; a prune is many, each a batch committed alone with the event loop free between them, so a
// prune of a million workflows never holds the write lock (or this process) for long, and an
// interrupted prune leaves whole workflows, deleted or not.
import { andThen, type Awaitable } from '../awaitable';
import { WorkflowNotFoundError, WorkflowPendingError } from '../errors';
import { addDeletedRows, noDeletedRows } from '../store/deletion';
import { WORKFLOW_STATUSES, type DeletedRows, type DeleteResult, type PruneResult, type WorkflowStatusName } from '../types';
import { cancelWorkflow } from './control';
import { assertOpen, writeWhenUnlocked, type OperationEnvironment } from './environment';

/** How a delete is asked for. */
export interface DeleteRequest {
  deleteChildren: boolean;
  force: boolean;
}

/** How a prune is asked for, its arguments checked. */
export interface PruneRequest {
  beforeMs: number;
  statuses: readonly WorkflowStatusName[];
  batchSize: number;
}

/** The statuses a prune deletes by default: every finished one. */
export const FINISHED_STATUSES: readonly WorkflowStatusName[] = Object.freeze(WORKFLOW_STATUSES.filter((status) => status !== 'PENDING'));

/**
 * Measured by the `prune` benchmark on 2026-11-30 on a loaded 2-core machine, 200,000 workflows of
 * two operations, an event and a message each, with a round trip running beside: a batch of 100
 * held the event loop 1.1 ms at p50 and 10 ms at p99 in NORMAL mode, 1.5 and 8 ms in FULL (the raw
 * transaction: 0.7 / 1.2 ms p50, 9 ms p99); in an earlier one-off measurement 500 a batch took about
 * 13 ms. 100 keeps a concurrent write's wait for the lock to a few milliseconds.
 */
export const DEFAULT_PRUNE_BATCH_SIZE = 100;

async function write<T>(env: OperationEnvironment, action: () => Awaitable<T>): Promise<T> {
  return await writeWhenUnlocked(env, action);
}

/**
 * Deletes a workflow that is not PENDING and all its rows (with `deleteChildren`, its descendants
 * too). With `force`, PENDING ones are cancelled first, in a commit of their own, and their runs
 * here stopped; the delete then keeps that cancel's record, so that a process running them that has
 * not yet read it still does (a later prune removes it).
 * @throws WorkflowNotFoundError; WorkflowPendingError (nothing deleted); StorageError.
 */
export async function deleteWorkflow(env: OperationEnvironment, workflowUUID: string, request: DeleteRequest): Promise<DeleteResult> {
  assertOpen(env, 'deleteWorkflow');
  let cancelled: string[] = [];
  let outcome = await write(env, () => env.store.deleteWorkflows(workflowUUID, request.deleteChildren, new Set()));
  if (outcome?.refused != null && request.force) {
    cancelled = (await cancelWorkflow(env, workflowUUID, { cancelChildren: request.deleteChildren })).cancelled;
    const keep = new Set(cancelled);
    outcome = await write(env, () => env.store.deleteWorkflows(workflowUUID, request.deleteChildren, keep));
  }
  if (outcome === undefined) throw new WorkflowNotFoundError(workflowUUID);
  // Still PENDING after a forced cancel: another process resumed it in between.
  if (outcome.refused !== null) throw new WorkflowPendingError(workflowUUID, outcome.refused);
  // Any run of these here stops now (reconcile stops the run of a workflow that no longer exists).
  env.reconcile(outcome.deleted);
  return { deleted: outcome.deleted, cancelled, rows: outcome.rows };
}

/**
 * Deletes, in batches of `batchSize` workflows each committed alone, every workflow with one of
 * `statuses` last changed before `beforeMs`, with all their rows; then the cancel records a forced
 * delete kept, older than `beforeMs`. Between batches the event loop runs (setImmediate).
 * @throws StorageError when a batch fails: the batches before it stay deleted.
 */
export async function pruneWorkflows(env: OperationEnvironment, request: PruneRequest): Promise<PruneResult> {
  assertOpen(env, 'pruneWorkflows');
  const rows = noDeletedRows();
  let deleted = 0;
  let batches = 0;
  for (;;) {
    const batch = await write(env, () => env.store.pruneBatch(request.statuses, request.beforeMs, request.batchSize));
    if (batch.deleted.length === 0) break;
    batches++;
    deleted += batch.deleted.length;
    addDeletedRows(rows, batch.rows);
    env.reconcile(batch.deleted);
    if (batch.deleted.length < request.batchSize) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
    assertOpen(env, 'pruneWorkflows');
  }
  rows.controls += await write(env, () => env.store.pruneStrayControls(request.beforeMs));
  return { deleted, batches, rows };
}

/** What a delete would do now (the CLI's --dry-run): see {@link planDelete}. */
export interface DeletePlan {
  /** The workflow and, with `deleteChildren`, its descendants, each with its status now. */
  workflows: { workflowUUID: string; status: WorkflowStatusName }[];
  /** Those PENDING: refused without `force` (nothing is deleted then), cancelled first with it. */
  pending: string[];
  /** The rows the delete would remove, once the PENDING ones are cancelled when `force` is set. */
  rows: DeletedRows;
}

/**
 * What `deleteWorkflow` would delete now, writing nothing: the same set of workflows, and the rows
 * it would take from each table. Undefined when no workflow has this UUID.
 */
export function planDelete(env: OperationEnvironment, workflowUUID: string, request: DeleteRequest): Awaitable<DeletePlan | undefined> {
  return andThen(env.store.workflows.deletionTargets(workflowUUID, request.deleteChildren), (workflows) => {
    if (workflows === undefined) return undefined;
    const pending = workflows.filter((workflow) => workflow.status === 'PENDING').map((workflow) => workflow.workflowUUID);
    // A forced delete keeps the controls of the workflows it cancelled (see deleteWorkflow).
    const rows = env.store.deletion.countAll(workflows.map((workflow) => workflow.workflowUUID), request.force ? new Set(pending) : new Set());
    return andThen(rows, (counted) => ({ workflows, pending, rows: counted }));
  });
}

/** How many workflows a prune would delete now (the CLI's --dry-run). */
export function countPrunable(env: OperationEnvironment, request: Pick<PruneRequest, 'beforeMs' | 'statuses'>): Awaitable<number> {
  return env.store.deletion.countFinishedBefore(request.statuses, request.beforeMs);
}
