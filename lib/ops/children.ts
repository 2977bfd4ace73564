// Child workflows: starting one is a recorded operation whose result is the child's UUID. The UUID is
// derived from the parent's UUID and the operation index when that is free (and no longer than
// MAX_KEY_BYTES), and otherwise made unique; either way it is recorded, so a replayed parent finds the
// same child and no user-chosen UUID can ever be taken over.
import { nanoid } from 'nanoid';
import { isPromise } from '../awaitable';
import type { WorkflowRef } from '../contracts';
import { WorkflowConflictError } from '../errors';
import { decode } from '../store/codec';
import { MAX_KEY_BYTES } from '../validate';
import { assertOpen, operationRecorded, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { encodePayload } from './payload';

/** The random characters of the UUID a child start tries when its derived one is taken (after a `-`). */
const RANDOM_SUFFIX_LENGTH = 12;

/** Starts (or, on replay, finds) a child workflow and resolves to its UUID once recorded. */
export async function startChild(env: OperationEnvironment, execution: WorkflowExecution, workflow: WorkflowRef, args: unknown[]): Promise<string> {
  assertOpen(env, 'startChildWorkflow');
  const inputs = encodePayload(env, args, `inputs of workflow ${workflow.name}`);
  const { position, recorded } = execution.begin('child', workflow.name);
  if (recorded !== undefined) return execution.replay<string>(recorded);
  const derivedUUID = childUUIDOf(execution.workflowUUID, position.operationIndex);
  // The earlier of the child's own deadline and its parent's: a child never outlives its parent's timeout.
  const nowMs = env.clock.now();
  const ownDeadlineMs = workflow.timeoutSeconds === undefined ? null : Math.ceil(nowMs + workflow.timeoutSeconds * 1000);
  const parentDeadlineMs = execution.deadlineMs;
  const deadlineMs = ownDeadlineMs === null ? parentDeadlineMs : parentDeadlineMs === null ? ownDeadlineMs : Math.min(ownDeadlineMs, parentDeadlineMs);
  const written = env.store.startChildWorkflow(
    position, [derivedUUID, `${derivedUUID}-${nanoid(RANDOM_SUFFIX_LENGTH)}`], workflow.name, inputs, deadlineMs, nowMs,
  );
  const { value: childUUID, commit } = isPromise(written) ? await written : written;
  if (childUUID === null) {
    // Both the derived UUID and a random one are taken: practically impossible. Nothing was recorded.
    const existing = await env.store.workflows.get(derivedUUID);
    throw new WorkflowConflictError(derivedUUID, existing?.workflowName ?? 'unknown', workflow.name, existing?.parentUUID ?? null);
  }
  execution.progressed();
  // The child sees its inputs as recorded, exactly as a recovered run would; it is abandoned if the
  // commit holding its row fails.
  env.launch(childUUID, workflow, decode<unknown[]>(inputs), commit, deadlineMs);
  await execution.committed(commit);
  operationRecorded(env, position);
  return childUUID;
}

/**
 * `<parent>-<index>`, or, when that (with the random suffix of the fallback) would be longer than
 * MAX_KEY_BYTES (a parent's UUID near the limit), `<parent's first 8 characters>-<index>-<random>`:
 * a child's UUID must be one its caller can pass back (retrieveWorkflow, send), and every store keep.
 */
function childUUIDOf(parentUUID: string, operationIndex: number): string {
  const derived = `${parentUUID}-${operationIndex}`;
  if (Buffer.byteLength(derived, 'utf8') + 1 + RANDOM_SUFFIX_LENGTH <= MAX_KEY_BYTES) return derived;
  return `${Array.from(parentUUID).slice(0, 8).join('')}-${operationIndex}-${nanoid(21)}`;
}
