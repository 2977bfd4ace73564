// docs/managing-workflows.md (cancel, resume, timeouts, delete and prune), runnable: a workflow
// waiting for approval is cancelled (its wait ends at once), resumed (its first step is replayed, not
// run again), then deleted; reports time out at their deadline and are pruned; under the testing
// kit's virtual clock.
//   node --import tsx docs/examples/managing-workflows-control.ts
import { registerStep, registerWorkflow, WorkflowCancelledError, WorkflowTimeoutError, type WorkflowContext } from 'durablite';
import { TestEngine } from 'durablite/testing';

let reservations = 0;
const reserve = registerStep('reserve', async () => ++reservations);

const approval = registerWorkflow('approval', async (ctxt: WorkflowContext, item: string) => {
  await ctxt.runStep(reserve);
  const decision = await ctxt.recv<string>('decision', 24 * 3600);
  return `${item}: ${decision ?? 'no answer'}`;
});

const report = registerWorkflow('report', async (ctxt: WorkflowContext) => {
  await ctxt.sleep(3600);
  return 'report ready';
}, { timeoutSeconds: 600 });

async function main(): Promise<void> {
  const t = await TestEngine.open();
  const engine = t.engine;
  await engine.startWorkflow(approval, { workflowUUID: 'order-1' }, 'lamp');
  await t.waitUntilBlocked('order-1');

  // #region cancel
  const { previousStatus, cancelled } = await engine.cancelWorkflow('order-1', { cancelChildren: true });
  console.log(previousStatus, cancelled); // PENDING [ 'order-1' ]: its recv ended already
  try {
    await engine.retrieveWorkflow('order-1').getResult();
  } catch (error) {
    console.log(error instanceof WorkflowCancelledError, (error as WorkflowCancelledError).code);
  }
  // #endregion cancel

  // #region resume
  const resumed = await engine.resumeWorkflow('order-1');
  console.log(resumed); // { previousStatus: 'CANCELLED', resumed: true }: the engine runs it on
  await engine.send('order-1', 'approved', 'decision');
  console.log(await engine.retrieveWorkflow('order-1').getResult(), `reservations: ${reservations}`);
  // #endregion resume

  // #region timeout
  const handle = await engine.startWorkflow(report, { workflowUUID: 'report-1' }); // its default: 600 s
  const urgent = await engine.startWorkflow(report, { workflowUUID: 'report-2', timeoutSeconds: 60 });
  console.log(((await urgent.getStatus())!.deadlineMs! - t.clock.now()) / 1000); // 60: recorded at start
  await t.advance(600);
  for (const timedOut of [urgent, handle]) {
    await timedOut.getResult().catch((error: unknown) => console.log(error instanceof WorkflowTimeoutError, (error as WorkflowTimeoutError).code));
  }
  // #endregion timeout

  // #region deleteAndPrune
  const removed = await engine.deleteWorkflow('order-1'); // finished: its rows all go
  console.log(removed.deleted, removed.rows);
  const pruned = await engine.pruneWorkflows({ finishedBefore: t.clock.now() + 1 });
  console.log(pruned.deleted); // 2: the reports that timed out
  console.log((await engine.listWorkflows()).length); // 0
  // #endregion deleteAndPrune
  await t.close();
}

void main();
