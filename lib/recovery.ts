// The startup pass: every PENDING workflow is resumed from the top with its recorded inputs; its
// recorded operations replay and its unfinished wait re-arms with the deadline recorded before the
// crash. A workflow that keeps crashing the process without progress is given up.
import { registrationNamed, unregisteredWorkflowHint, type WorkflowRef } from './decorators';
import { MaxRecoveryAttemptsExceededError } from './errors';
import type { OperationEnvironment } from './ops/environment';
import { encodeError } from './ops/payload';
import { decode } from './store/codec';
import { workflowKey } from './runtime/waiters';
import type { OperationRecord } from './types';

/** What the pass did, for logs and tests. */
export interface RecoveryReport {
  resumed: string[];
  unregistered: string[];
  givenUp: string[];
}

/**
 * Resumes every PENDING workflow through `run` (which starts its code and returns at once).
 */
export function recoverPendingWorkflows(
  env: OperationEnvironment,
  run: (workflowUUID: string, workflow: WorkflowRef, args: unknown[], recorded: OperationRecord[]) => void,
): RecoveryReport {
  const report: RecoveryReport = { resumed: [], unregistered: [], givenUp: [] };
  const { store, options } = env;
  const toRun: { workflowUUID: string; workflow: WorkflowRef; args: unknown[] }[] = [];
  const attempts: [string, number][] = [];
  const givenUp: [string, string][] = [];

  for (const record of store.workflows.listPending()) {
    const registration = registrationNamed(record.workflowName);
    if (registration?.kind !== 'workflow') {
      report.unregistered.push(record.workflowUUID);
      options.onWarning({
        code: 'WORKFLOW_NOT_REGISTERED',
        workflowUUID: record.workflowUUID,
        workflowName: record.workflowName,
        message: `Workflow "${record.workflowUUID}" is PENDING but no workflow named "${record.workflowName}" is registered; it stays PENDING. ${unregisteredWorkflowHint(record.workflowName)}`,
      });
      continue;
    }
    const attempt = record.recoveryAttempts + 1;
    if (attempt > options.maxRecoveryAttempts) {
      givenUp.push([record.workflowUUID, encodeError(new MaxRecoveryAttemptsExceededError(record.workflowUUID, record.recoveryAttempts))]);
      report.givenUp.push(record.workflowUUID);
      continue;
    }
    attempts.push([record.workflowUUID, attempt]);
    toRun.push({ workflowUUID: record.workflowUUID, workflow: registration, args: decode<unknown[]>(record.inputs) });
  }
  // One commit for all the bookkeeping: 100k recovered workflows cost one commit, not 100k.
  store.recordRecovery(attempts, givenUp, env.clock.now());

  for (const uuid of report.givenUp) env.waiters.notify(workflowKey(uuid));
  // Every resumed workflow's record in one read, not one query per workflow.
  const recordedByWorkflow = toRun.length === 0 ? new Map<string, OperationRecord[]>() : store.operations.listForPendingWorkflows();
  for (const { workflowUUID, workflow, args } of toRun) {
    run(workflowUUID, workflow, args, recordedByWorkflow.get(workflowUUID) ?? []);
    report.resumed.push(workflowUUID);
  }
  return report;
}
