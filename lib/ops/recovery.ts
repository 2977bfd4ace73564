// The startup pass: every PENDING workflow is resumed from the top with its recorded inputs; its
// recorded operations replay and its unfinished wait re-arms with the deadline recorded before the
// crash. A workflow that keeps crashing the process without progress is given up. The pass reads,
// decides and commits in one transaction before any workflow code runs, so a workflow that kills the
// process synchronously is still counted, and the change feed starts from the same snapshot.
//
// Counting is per workflow, not per open: workflows with no failed recovery behind them are counted
// together in the pass and run at once (the common case, fast for 100,000 of them). Suspects, those
// already counted by an open that did not end well, run one at a time, each counted in a commit of
// its own just before its code runs, the next starting once the one before is under way. So a
// workflow that kills the process every time is the only one whose count grows, and is given up
// after maxRecoveryAttempts while the others run.
import type { RecoveryReport, WorkflowRef, WorkflowRegistry } from '../contracts';
import { MaxRecoveryAttemptsExceededError, type UnreadableRecordError } from '../errors';
import type { OperationEnvironment } from './environment';
import { decodeRecord, encodeError } from './payload';
import type { EngineWarning } from '../contracts';
import { workflowKey } from '../runtime/waiters';
import type { FeedPosition } from '../store/changes';
import type { RecoveryDecisions } from '../store/store';
import type { OperationRecord } from '../types';


/** A workflow to resume that was already counted by an earlier open: counted and run on its own. */
export interface SuspectRun {
  workflowUUID: string;
  workflow: WorkflowRef;
  args: unknown[];
  /** Its recovery attempt count once this run is counted. */
  attempt: number;
  recorded: OperationRecord[];
  /** How many times counting this run failed already (a storage fault). */
  countTries?: number;
}

interface Plan extends RecoveryDecisions {
  attempts: [string, number][];
  givenUp: [string, string][];
  failed: [string, string][];
  toRun: { workflowUUID: string; workflow: WorkflowRef; args: unknown[] }[];
  suspects: Omit<SuspectRun, 'recorded'>[];
  warnings: EngineWarning[];
  report: RecoveryReport;
}

/**
 * Resumes every PENDING workflow not under suspicion through `run` (which starts its code and
 * returns at once), after committing the pass's bookkeeping, and returns the suspects for the caller
 * to count and run one by one. Also returns where a change feed must start to miss no commit made
 * by another process since the pass read the workflows.
 * @throws StorageError when the pass cannot be committed; no workflow ran then.
 */
export function recoverPendingWorkflows(
  env: OperationEnvironment,
  registry: WorkflowRegistry,
  run: (workflowUUID: string, workflow: WorkflowRef, args: unknown[], recorded: OperationRecord[]) => void,
): { report: RecoveryReport; feedStart: FeedPosition; suspects: SuspectRun[] } {
  const { store, options } = env;
  const snapshot = store.recover((pending) => {
    const plan: Plan = {
      attempts: [], givenUp: [], failed: [], toRun: [], suspects: [], warnings: [], readOperations: false,
      report: { resumed: [], unregistered: [], givenUp: [], failed: [] },
    };
    for (const record of pending) {
      const { workflowUUID, workflowName } = record;
      const registration = registry.workflowNamed(workflowName);
      if (registration === undefined) {
        plan.report.unregistered.push(workflowUUID);
        plan.warnings.push({
          code: 'WORKFLOW_NOT_REGISTERED',
          workflowUUID,
          workflowName,
          message: `Workflow "${workflowUUID}" is PENDING but no workflow named "${workflowName}" is registered; it stays PENDING. ${registry.unregisteredHint(workflowName)}`,
        });
        continue;
      }
      let args: unknown[];
      try {
        args = decodeRecord<unknown[]>(record.inputs, workflowUUID, 'inputs');
      } catch (error) {
        plan.failed.push([workflowUUID, encodeError(error)]);
        plan.report.failed.push(workflowUUID);
        plan.warnings.push({
          code: 'UNREADABLE_RECORD',
          workflowUUID,
          workflowName,
          message: `${(error as UnreadableRecordError).message} Workflow "${workflowUUID}" is marked ERROR.`,
        });
        continue;
      }
      const attempt = record.recoveryAttempts + 1;
      if (attempt > options.maxRecoveryAttempts) {
        plan.givenUp.push([workflowUUID, encodeError(new MaxRecoveryAttemptsExceededError(workflowUUID, record.recoveryAttempts))]);
        plan.report.givenUp.push(workflowUUID);
        continue;
      }
      if (record.recoveryAttempts === 0) {
        plan.attempts.push([workflowUUID, attempt]);
        plan.toRun.push({ workflowUUID, workflow: registration, args });
      } else {
        plan.suspects.push({ workflowUUID, workflow: registration, args, attempt });
      }
    }
    plan.readOperations = plan.toRun.length > 0 || plan.suspects.length > 0;
    return plan;
  }, env.clock.now());

  // Committed: now tell, wake whoever awaits the workflows that ended, and run the others.
  const { report, warnings, toRun, suspects } = snapshot.decisions;
  for (const warning of warnings) options.onWarning(warning);
  for (const uuid of report.givenUp) env.waiters.notify(workflowKey(uuid));
  for (const uuid of report.failed) env.waiters.notify(workflowKey(uuid));
  for (const { workflowUUID, workflow, args } of toRun) {
    run(workflowUUID, workflow, args, snapshot.operations.get(workflowUUID) ?? []);
    report.resumed.push(workflowUUID);
  }
  for (const suspect of suspects) report.resumed.push(suspect.workflowUUID);
  const suspectRuns = suspects.map((suspect) => ({ ...suspect, recorded: snapshot.operations.get(suspect.workflowUUID) ?? [] }));
  return { report, feedStart: snapshot.feedStart, suspects: suspectRuns };
}
