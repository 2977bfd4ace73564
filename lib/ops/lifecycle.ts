// The start of a workflow, shared by the Engine (which runs what it starts) and the Client (which
// leaves it to the owner): record it PENDING with its inputs, launch its code in the very transaction
// that records it when this process runs workflows, and resolve once that commit landed.
import type { WorkflowRef } from '../contracts';
import { WorkflowConflictError } from '../errors';
import { decode } from '../store/codec';
import type { Store } from '../store/store';
import { assertOpen, writeWhenUnlocked, type OperationEnvironment } from './environment';
import { encodePayload } from './payload';

/**
 * Starts workflow `workflow` (a registration to run here, or only the name of one another process
 * runs) as `workflowUUID`. Starting a UUID that exists runs nothing.
 * @throws WorkflowConflictError when the UUID belongs to a workflow of another name (judged on the
 *   committed row); SerializationError/PayloadTooLargeError for the inputs; StorageError.
 */
export async function startWorkflow(env: OperationEnvironment, workflow: WorkflowRef | string, workflowUUID: string, args: unknown[]): Promise<void> {
  assertOpen(env, 'startWorkflow');
  const workflowName = typeof workflow === 'string' ? workflow : workflow.name;
  const inputs = encodePayload(env, args, `inputs of workflow ${workflowName}`);
  const pending = writeWhenUnlocked(env, () => env.store.startWorkflow(workflowUUID, workflowName, inputs, env.clock.now()));
  const { value: inserted, commit } = pending instanceof Promise ? await pending : pending;
  // The workflow sees its inputs as recorded, exactly as a recovered run would. It starts at once,
  // inside the transaction that records it; if that commit fails, the run is abandoned before it can
  // record anything, or start a step, for a workflow that does not exist.
  if (inserted && typeof workflow !== 'string') env.launch(workflowUUID, workflow, decode<unknown[]>(inputs), commit);
  await commit.durable;
  // The UUID existed: judged on the committed row, never on one that might still roll back.
  if (!inserted) checkSameWorkflow(env.store, workflowUUID, workflowName);
}

/** Throws WorkflowConflictError when an existing UUID belongs to a workflow of another name. */
export function checkSameWorkflow(store: Store, workflowUUID: string, workflowName: string): void {
  const existing = store.workflows.get(workflowUUID);
  if (existing !== undefined && existing.workflowName !== workflowName) {
    throw new WorkflowConflictError(workflowUUID, existing.workflowName, workflowName, existing.parentUUID);
  }
}
