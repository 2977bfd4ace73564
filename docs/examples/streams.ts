// docs/events-and-messages.md#streams, runnable: every rule of the streams API, each printed.
//   node --import tsx docs/examples/streams.ts
import {
  Engine,
  registerStep,
  registerWorkflow,
  StreamClosedError,
  StreamTimeoutError,
  type StepContext,
  type WorkflowContext,
} from 'durablite';

// #region writer
const exportRows = registerWorkflow('exportRows', async (ctxt: WorkflowContext, total: number) => {
  for (let done = 25; done <= total; done += 25) {
    await ctxt.writeStream('progress', { done, total }); // recorded: a replay does not write it again
  }
  await ctxt.closeStream('progress'); // readers see the end after the last value
  return `${total} rows exported`;
});
// #endregion writer

// #region fromStep
const fetchPage = registerStep('fetchPage', async (ctxt: StepContext, page: number) => {
  // Not recorded: if the process dies before this step's result is recorded, the step runs again
  // and writes these lines again (at least once).
  await ctxt.writeStream('log', `fetching page ${page}`);
  return [`row ${page}.1`, `row ${page}.2`];
});

const crawl = registerWorkflow('crawl', async (ctxt: WorkflowContext) => {
  const rows = [...(await ctxt.runStep(fetchPage, 1)), ...(await ctxt.runStep(fetchPage, 2))];
  return rows.length; // the stream 'log' ends here, with the workflow
});
// #endregion fromStep

// #region closed
const tooLate = registerWorkflow('tooLate', async (ctxt: WorkflowContext) => {
  await ctxt.closeStream('log');
  try {
    await ctxt.writeStream('log', 'after the close');
  } catch (error) {
    if (!(error instanceof StreamClosedError)) throw error;
    return `${error.code}: ${error.key}`; // recorded: a replay meets the same error
  }
  return 'unreachable';
});
// #endregion closed

// #region inWorkflow
const summarize = registerWorkflow('summarize', async (ctxt: WorkflowContext, source: string) => {
  let last = 0;
  // Each value read is recorded with its offset: after a crash, the replay returns the same values
  // and reads on from where it was.
  for await (const progress of ctxt.readStream<{ done: number }>(source, 'progress', { fromOffset: 1 })) {
    last = progress.done;
  }
  return `read up to ${last}`;
});
// #endregion inWorkflow

/** Writes one value per message on 'next'; never closes its stream 'ticks' itself. */
const ticker = registerWorkflow('ticker', async (ctxt: WorkflowContext) => {
  for (let tick = await ctxt.recv<string>('next', 5); tick !== null; tick = await ctxt.recv<string>('next', 5)) {
    await ctxt.writeStream('ticks', tick);
  }
});

async function main(): Promise<void> {
  const engine = await Engine.open({ database: ':memory:' });

  console.log('Writing and reading');
  {
    // #region read
    const handle = await engine.startWorkflow(exportRows, { workflowUUID: 'export-1' }, 100);
    for await (const { done, total } of engine.readStream<{ done: number; total: number }>('export-1', 'progress')) {
      console.log(`${done}/${total}`); // 25/100, 50/100, 75/100, 100/100, then the loop ends at the close
    }
    console.log(await handle.getResult()); // 100 rows exported
    // #endregion read
  }
  {
    // #region readerFirst
    const reader = engine.readStream<string>('crawl-1', 'log'); // no such workflow yet: the reader waits
    const lines = (async () => {
      const seen: string[] = [];
      for await (const line of reader) seen.push(line);
      return seen;
    })();
    const handle = await engine.startWorkflow(crawl, { workflowUUID: 'crawl-1' });
    console.log(await handle.getResult()); // 4
    console.log(await lines); // [ 'fetching page 1', 'fetching page 2' ]: the workflow's end ended the stream
    // #endregion readerFirst
  }
  {
    // #region closedRun
    console.log(await (await engine.startWorkflow(tooLate, { workflowUUID: 'late-1' })).getResult()); // STREAM_CLOSED: log
    // #endregion closedRun
  }
  {
    // #region list
    console.log(await engine.listStreams('export-1')); // [ { key: 'progress', length: 4, closed: true } ]
    console.log(await engine.listStreams('nobody')); // []
    // #endregion list
  }

  console.log('Timeouts');
  {
    // #region timeout
    await engine.startWorkflow(ticker, { workflowUUID: 'ticker-1' });
    await engine.send('ticker-1', 'tick', 'next');
    const seen: string[] = [];
    try {
      for await (const tick of engine.readStream<string>('ticker-1', 'ticks', { timeoutSeconds: 0.2 })) seen.push(tick);
    } catch (error) {
      if (!(error instanceof StreamTimeoutError)) throw error;
      // Not the end: the stream is open. Read on from error.offset when you are ready.
      console.log(seen, error.code, error.offset); // [ 'tick' ] STREAM_TIMEOUT 1
    }
    // #endregion timeout
  }

  console.log('From a workflow');
  {
    // #region inWorkflowRun
    const reader = await engine.startWorkflow(summarize, { workflowUUID: 'summary-1' }, 'export-1');
    console.log(await reader.getResult()); // read up to 100
    console.log((await engine.listOperations('summary-1')).map((operation) => operation.output));
    // #endregion inWorkflowRun
  }

  console.log('Argument errors');
  {
    // #region arguments
    const calls = [
      () => engine.readStream('export-1', 'progress', { fromOffset: -1 }),
      () => engine.readStream('export-1', 42 as unknown as string),
    ];
    for (const call of calls) {
      try {
        call();
      } catch (error) {
        console.log(`${(error as Error).name}: ${(error as Error).message}`);
      }
    }
    // #endregion arguments
  }
  await engine.close();
}

void main();
