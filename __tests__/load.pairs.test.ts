// Load: 10,000 workflows running at once, in 5,000 pairs. In each pair A sends B a message, B
// receives it and publishes an event, and A waits for that event. Every message must arrive exactly
// once, at the right workflow, and every event must reach its partner. No timing is asserted.
import Database from 'better-sqlite3';
import { registerWorkflow, type WorkflowContext } from '../lib';
import { openTestEngine, tempDatabasePath } from './helpers';

const PAIRS = 5_000;

interface Greeting {
  from: string;
  pair: number;
}

const initiator = registerWorkflow('load.initiator', async (ctxt: WorkflowContext, partnerUUID: string, pair: number) => {
  await ctxt.send<Greeting>(partnerUUID, { from: ctxt.workflowUUID, pair }, 'greeting');
  return ctxt.getEvent<string>(partnerUUID, 'reply', 600);
});

const responder = registerWorkflow('load.responder', async (ctxt: WorkflowContext) => {
  const greeting = await ctxt.recv<Greeting>('greeting', 600);
  await ctxt.setEvent('reply', `hello ${greeting?.from} from ${ctxt.workflowUUID}`);
  return greeting;
});

const initiatorUUID = (pair: number): string => `a-${pair}`;
const responderUUID = (pair: number): string => `b-${pair}`;

describe('load', () => {
  test('10,000 concurrent workflows in pairs: every message arrives exactly once and every reply reaches its partner', async () => {
    const database = tempDatabasePath('load');
    const engine = await openTestEngine({ database });
    let commits = 0;
    engine.events.on('commit', () => commits++);
    const pairs = Array.from({ length: PAIRS }, (_, pair) => pair);
    // All 10,000 start at once: the responders first in call order, so each initiator's send finds its partner.
    const started = await Promise.all([
      ...pairs.map((pair) => engine.startWorkflow(responder, { workflowUUID: responderUUID(pair) })),
      ...pairs.map((pair) => engine.startWorkflow(initiator, { workflowUUID: initiatorUUID(pair) }, responderUUID(pair), pair)),
    ]);
    const results = await Promise.all(started.map((handle) => handle.getResult()));

    const replies = results.slice(PAIRS);
    const greetings = results.slice(0, PAIRS);
    expect(greetings).toEqual(pairs.map((pair) => ({ from: initiatorUUID(pair), pair })));
    expect(replies).toEqual(pairs.map((pair) => `hello ${initiatorUUID(pair)} from ${responderUUID(pair)}`));

    // Exactly once, as stored: one message per responder, consumed, recorded by exactly one recv.
    const db = new Database(database, { readonly: true });
    const perDestination = db
      .prepare(`SELECT destination_uuid, count(*) AS messages, sum(consumed_at IS NOT NULL) AS consumed FROM messages GROUP BY destination_uuid`)
      .all() as { destination_uuid: string; messages: number; consumed: number }[];
    expect(perDestination).toHaveLength(PAIRS);
    expect(perDestination.every((row) => row.destination_uuid.startsWith('b-') && row.messages === 1 && row.consumed === 1)).toBe(true);
    const recvs = db.prepare(`SELECT count(*) AS n FROM operations WHERE kind = 'recv' AND completed_at IS NOT NULL AND output IS NOT NULL AND output != 'null'`).get() as { n: number };
    expect(recvs.n).toBe(PAIRS);
    const events = db.prepare(`SELECT count(*) AS n FROM events WHERE key = 'reply'`).get() as { n: number };
    expect(events.n).toBe(PAIRS);
    db.close();
    expect((await engine.listWorkflows({ status: 'SUCCESS' })).length).toBe(2 * PAIRS);
    console.log(`load.pairs: ${2 * PAIRS} workflows, ${PAIRS} messages each received exactly once, ${PAIRS} replies delivered, in ${commits} commits`);
    await engine.close();
  }, 120_000);
});
