// Child workflows: starting one is a recorded operation whose result is the child's UUID, derived
// from the parent's UUID and the operation index, so a replayed parent finds the same child.
import type { WorkflowRef } from '../decorators';
import { assertOpen, committed, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodePayload, outcomeOf } from './payload';
import { decode } from '../store/codec';
import { WorkflowConflictError } from '../errors';

/** Starts (or, on replay, finds) a child workflow and resolves to its UUID once recorded. */
export async function startChild(env: OperationEnvironment, execution: WorkflowExecution, workflow: WorkflowRef, args: unknown[]): Promise<string> {
  assertOpen(env, 'startChildWorkflow');
  const inputs = encodePayload(env, args, `inputs of workflow ${workflow.name}`);
  const { position, recorded } = execution.begin('child', workflow.name);
  if (recorded !== undefined) return outcomeOf<string>(recorded.output, recorded.error);
  const childUUID = `${execution.workflowUUID}-${position.operationIndex}`;
  if (!env.store.startChildWorkflow(position, childUUID, workflow.name, inputs, env.clock.now())) {
    // Not recorded: a replay meets the same taken UUID and fails the same way.
    const existing = env.store.workflows.get(childUUID);
    throw new WorkflowConflictError(childUUID, existing?.workflowName ?? 'unknown', workflow.name);
  }
  execution.progressed();
  // The child sees its inputs as recorded, exactly as a recovered run would.
  const abandon = env.launch(childUUID, workflow, decode<unknown[]>(inputs));
  try {
    await committed(env);
  } catch (error) {
    abandon(error);
    throw error;
  }
  return childUUID;
}
