// The owner of deploy.db: runs its workflows until stopped (SIGTERM/SIGINT, or killed).
//   node --import tsx docs/examples/multi-process/owner.ts <database> [version to deploy]
// #region owner
import { Engine } from 'durablite';
import { Deploy } from './deploy';

async function main(database: string, version: string | undefined): Promise<void> {
  const engine = await Engine.open({ database }); // takes ownership; resumes unfinished deploys
  console.log(`owner ${process.pid} resumed ${JSON.stringify(engine.recovery.resumed)}`);
  if (version !== undefined) {
    const handle = await engine.invoke(Deploy, `deploy-${version}`).run(version);
    console.log(`started ${handle.getWorkflowUUID()}`);
  }
  const serving = setInterval(() => {}, 60_000); // an owner serves until told to stop
  const stop = (): void => {
    clearInterval(serving);
    void engine.close(); // unfinished deploys stay PENDING and resume on the next open
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  console.log('ready');
}
// #endregion owner

void main(process.argv[2]!, process.argv[3]);
