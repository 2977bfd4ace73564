// Another process on the owner's database: it cannot run the workflows, but a Client talks to them.
//   node --import tsx docs/examples/multi-process/client.ts <database> <workflow UUID> <approver>
import { Client, DatabaseOwnedError, Engine } from 'durablite';
import type { Approval } from './deploy';

async function main(database: string, workflowUUID: string, approver: string): Promise<void> {
  // #region owned
  try {
    await Engine.open({ database });
  } catch (error) {
    if (!(error instanceof DatabaseOwnedError)) throw error;
    console.log(`${error.code}: run by process ${error.ownerPid}`); // DATABASE_OWNED: run by process 4242
  }
  // #endregion owned

  // #region client
  const client = await Client.open({ database });
  console.log(await client.getEvent(workflowUUID, 'status')); // waiting for approval of v1.2.3

  const outcome = client.getEvent<string>(workflowUUID, 'outcome', 10); // woken by the owner's commit
  await client.send<Approval>(workflowUUID, { by: approver }, 'approval', `approval-${workflowUUID}`);
  console.log(await outcome); // v1.2.3 deployed, approved by ada

  const messages = await client.listMessages(workflowUUID, 'approval');
  console.log(messages.map((message) => `${JSON.stringify(message.message)} consumed: ${message.consumed}`));
  await client.close();
  // #endregion client
}

void main(process.argv[2]!, process.argv[3]!, process.argv[4]!);
