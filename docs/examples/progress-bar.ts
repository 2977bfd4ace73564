// A command-line export with a live progress bar: the export runs as a durable workflow that writes
// its progress to a stream, and the terminal renders that stream as each value commits.
//   node --import tsx docs/examples/progress-bar.ts [ROWS] [--db FILE]
// With --db, stop it (Ctrl-C) half way and run it again: the workflow resumes where it was (chunks
// already exported are not exported again) and the bar picks up from the recorded progress.
// In a terminal the bar redraws in place; piped, it prints one line per update.
import { parseArgs } from 'node:util';
import { Engine, registerStep, registerWorkflow, type StepContext, type WorkflowContext } from 'durablite';

interface Progress {
  done: number;
  total: number;
}

// #region exportWorkflow
/** One chunk of the export: the slow part, with outside effects, so a step (recorded once). */
const exportChunk = registerStep('exportChunk', async (_ctxt: StepContext, from: number, to: number) => {
  await new Promise((resolve) => setTimeout(resolve, 30)); // stands in for a query and a file write
  return to - from;
});

const exportTable = registerWorkflow('exportTable', async (ctxt: WorkflowContext, rows: number, chunk: number) => {
  let done = 0;
  while (done < rows) {
    done += await ctxt.runStep(exportChunk, done, Math.min(rows, done + chunk));
    await ctxt.writeStream<Progress>('progress', { done, total: rows });
  }
  await ctxt.closeStream('progress');
  return `exported ${rows} rows in ${Math.ceil(rows / chunk)} chunks`;
});
// #endregion exportWorkflow

// #region render
function bar({ done, total }: Progress, width = 30): string {
  const filled = Math.round((done / total) * width);
  const percent = String(Math.floor((done / total) * 100)).padStart(3);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent}%  ${done}/${total} rows`;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { db: { type: 'string' } } });
  const rows = Number(positionals[0] ?? 1000);
  const engine = await Engine.open({ database: values.db ?? ':memory:' });
  // One UUID per export: running the command again finds the same workflow, finished or not.
  const handle = await engine.startWorkflow(exportTable, { workflowUUID: `export-${rows}` }, rows, 100);
  const live = process.stdout.isTTY === true;
  for await (const progress of engine.readStream<Progress>(handle.getWorkflowUUID(), 'progress')) {
    if (live) process.stdout.write(`\r${bar(progress)}`); // redraw in place
    else console.log(bar(progress));
  }
  if (live) process.stdout.write('\n');
  console.log(await handle.getResult());
  await engine.close();
}
// #endregion render

void main();
