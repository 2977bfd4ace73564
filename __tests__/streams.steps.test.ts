// A step's writeStream is at least once: it is not recorded, so a step that runs again after a crash
// (its result was never recorded) writes its values again. The workflow's own writes stay exactly once.
import { registerStep, registerWorkflow, type StepContext, type WorkflowContext } from '../lib';
import { TestEngine } from '../lib/testing';

let stepRuns = 0;
let firstRunWrote: (() => void) | undefined;

const exportRows = registerStep('streamsSteps.exportRows', async (ctxt: StepContext) => {
  stepRuns++;
  await ctxt.writeStream('progress', '50%');
  await ctxt.writeStream('progress', '100%');
  // The first run never returns: the test crashes the engine here, before the step is recorded.
  if (stepRuns === 1) await new Promise<never>(() => firstRunWrote!());
  return stepRuns;
});

const exporter = registerWorkflow('streamsSteps.exporter', async (ctxt: WorkflowContext) => {
  await ctxt.writeStream('progress', 'started');
  const runs = await ctxt.runStep(exportRows);
  await ctxt.writeStream('progress', 'done');
  return runs;
});

describe('writeStream from a step', () => {
  test('a step that runs again after a crash writes its values again (at least once); the workflow’s writes are not repeated', async () => {
    const t = await TestEngine.open();
    const wrote = new Promise<void>((resolve) => (firstRunWrote = resolve));
    await t.engine.startWorkflow(exporter, { workflowUUID: 'export-1' });
    await wrote;
    const values = async (): Promise<unknown[]> => {
      const seen: unknown[] = [];
      for await (const value of t.engine.readStream('export-1', 'progress', { timeoutSeconds: 0 })) seen.push(value);
      return seen;
    };
    await expect(values()).rejects.toMatchObject({ code: 'STREAM_TIMEOUT', offset: 3 });

    await t.crash();
    expect(await t.engine.retrieveWorkflow('export-1').getResult()).toBe(2);
    expect(stepRuns).toBe(2);
    // Each run of the step wrote both of its values; the workflow's 'started' was replayed, not written again.
    expect(await values()).toEqual(['started', '50%', '100%', '50%', '100%', 'done']);
    expect((await t.engine.listOperations('export-1')).map((operation) => operation.kind)).toEqual(['writeStream', 'step', 'writeStream']);
    await t.close();
  });
});
