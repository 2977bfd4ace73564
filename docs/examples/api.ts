// docs/api.md, runnable: handles and status, listings, child workflows, errors by code, warnings,
// and an Engine driven by a VirtualClock without TestEngine.
//   node --import tsx docs/examples/api.ts
import {
  DurabliteError,
  Engine,
  registerWorkflow,
  Step,
  Workflow,
  type EngineWarning,
  type StepContext,
  type WorkflowContext,
} from 'durablite';
import { VirtualClock } from 'durablite/testing';

class Reports {
  @Step()
  static async render(ctxt: StepContext, month: string): Promise<string> {
    return `report ${month} (step #${ctxt.operationIndex} of ${ctxt.workflowUUID})`;
  }

  // #region children
  @Workflow()
  static async monthly(ctxt: WorkflowContext, month: string): Promise<string> {
    return ctxt.invoke(Reports).render(month); // a step of the same class
  }

  @Workflow()
  static async quarterly(ctxt: WorkflowContext, months: string[]): Promise<string[]> {
    const first = await ctxt.invoke(Reports).monthly(months[0]!); // a workflow method runs as a child
    const rest = await Promise.all(months.slice(1).map((month) => ctxt.childWorkflow(Reports.monthly, month)));
    return [first, ...rest];
  }
  // #endregion children

  @Workflow()
  static async failing(_ctxt: WorkflowContext): Promise<never> {
    throw new RangeError('no such month');
  }
}

async function main(): Promise<void> {
  // #region virtualClock
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const warnings: EngineWarning[] = [];
  const engine = await Engine.open({ database: ':memory:', clock, onWarning: (warning) => warnings.push(warning) });
  const nap = registerWorkflow('nap', async (ctxt: WorkflowContext) => ctxt.sleep(3600));
  const napping = await engine.startWorkflow(nap, { workflowUUID: 'nap-1' });
  await clock.advance(3600); // fires the sleep's deadline; no real time passes
  await napping.getResult();
  console.log(new Date(clock.now()).toISOString()); // 2026-01-01T01:00:00.000Z
  // #endregion virtualClock

  // #region handles
  const handle = await engine.invoke(Reports, 'q1').quarterly(['jan', 'feb', 'mar']);
  console.log(await handle.getResult());
  const status = await handle.getStatus();
  console.log(status?.status, status?.workflowName, status?.inputs); // SUCCESS Reports.quarterly [ [ 'jan', 'feb', 'mar' ] ]
  const children = await engine.listWorkflows({ workflowName: 'Reports.monthly' });
  console.log(children.map((child) => `${child.workflowUUID} <- ${child.parentUUID}`)); // [ 'q1-0 <- q1', 'q1-1 <- q1', 'q1-2 <- q1' ]
  const operations = await engine.listOperations('q1');
  console.log(operations.map((operation) => `#${operation.operationIndex} ${operation.kind} ${operation.name} -> ${String(operation.output)}`));
  // #endregion handles

  // #region errors
  await engine.invoke(Reports, 'bad-1').failing();
  for (const attempt of [
    () => engine.retrieveWorkflow('bad-1').getResult(), // rejects with the error the workflow threw
    () => engine.retrieveWorkflow('nobody').getResult(), // WorkflowNotFoundError
    () => engine.startWorkflow(nap, { workflowUUID: 'q1' }), // WorkflowConflictError: q1 is a Reports.quarterly
  ]) {
    try {
      await attempt();
    } catch (error) {
      const code = error instanceof DurabliteError ? error.code : '(not a DurabliteError)';
      console.log(`${(error as Error).name} ${code}`);
    }
  }
  // #endregion errors
  console.log(`warnings: ${warnings.length}`);
  await engine.close();
}

void main();
