import Database from 'better-sqlite3';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Client, registerWorkflow, type WorkflowContext } from '../lib';
import { openTestEngine, spawnFixture, tempDatabasePath, tsxLoader, type Child } from './helpers';
import { blockedInRecv } from './wait-helpers';

const cliPath = path.join(__dirname, '..', 'lib', 'cli', 'main.ts');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from `cwd` (default: the repository), as a user's shell would. */
function cli(...args: string[]): Promise<CliResult> {
  return cliIn(path.join(__dirname, '..'), ...args);
}

function cliIn(cwd: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', tsxLoader, cliPath, ...args], { cwd }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

describe('the durablite command line, against a database a running owner is using', () => {
  let database: string;
  let owner: Child;

  beforeAll(async () => {
    database = tempDatabasePath('cli');
    owner = spawnFixture('owner', [database, 'start-approval', 'deploy-7']);
    await owner.waitForLine('started deploy-7');
  }, 30_000);

  afterAll(async () => {
    await owner.kill();
  });

  test('workflows lists the running workflow, as a table and as JSON, and filters by status', async () => {
    const human = await cli('workflows', '--db', database);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/UUID\s+NAME\s+STATUS/);
    expect(human.stdout).toMatch(/deploy-7\s+Approvals\.waitForApproval\s+PENDING/);

    const json = await cli('workflows', '--db', database, '--json', '--status', 'PENDING');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ workflowUUID: 'deploy-7', status: 'PENDING', inputs: ['deploy v1'] })]);

    const none = await cli('workflows', '--db', database, '--json', '--status', 'SUCCESS');
    expect(JSON.parse(none.stdout)).toEqual([]);
  }, 30_000);

  test('show prints status, inputs, operations, events, messages by topic, streams and what the workflow waits on now', async () => {
    const shown = await cli('show', 'deploy-7', '--db', database);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('Status:    PENDING');
    expect(shown.stdout).toContain('Inputs:    ["deploy v1"]');
    expect(shown.stdout).toMatch(/Waiting:\s+#1 recv on topic "approval" until \d{4}-/);
    // Each setEvent operation names the key it set.
    expect(shown.stdout).toMatch(/0\s+setEvent\s+key "requested"/);
    expect(shown.stdout).toMatch(/Events:\nKEY\s+VALUE\n-+\s+-+\nrequested\s+deploy v1\n/);
    expect(shown.stdout).toMatch(/\nMessages: none\n/);
    expect(shown.stdout).toMatch(/\nStreams: none\n$/);

    const json = JSON.parse((await cli('show', 'deploy-7', '--db', database, '--json')).stdout);
    expect(json.operations[0]).toMatchObject({ kind: 'setEvent', key: 'requested' });
    expect(json.waitingOn).toEqual([expect.objectContaining({ kind: 'recv', waitingFor: { topic: 'approval' } })]);
    expect(json).toMatchObject({ events: { requested: 'deploy v1' }, messagesByTopic: [], streams: [] });
    expect(json.waits).toEqual([{ workflowUUID: 'deploy-7', workflowName: 'Approvals.waitForApproval', operationIndex: 1, kind: 'recv', topic: 'approval', deadlineMs: expect.any(Number), startedAt: expect.any(Number) }]);
  }, 30_000);

  test('waits lists every wait under way of the owner\'s workflows, as a table and as JSON', async () => {
    const human = await cli('waits', '--db', database);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^WORKFLOW\s+NAME\s+#\s+KIND\s+WAITING ON\s+DEADLINE\n/);
    expect(human.stdout).toMatch(/\ndeploy-7\s+Approvals\.waitForApproval\s+1\s+recv\s+topic "approval"\s+\d{4}-\d\d-\d\dT/);

    const json = JSON.parse((await cli('waits', '--db', database, '--json')).stdout);
    expect(json).toEqual([{ workflowUUID: 'deploy-7', workflowName: 'Approvals.waitForApproval', operationIndex: 1, kind: 'recv', topic: 'approval', deadlineMs: expect.any(Number), startedAt: expect.any(Number) }]);
    expect(json[0].deadlineMs - json[0].startedAt).toBe(120_000);
    expect(JSON.parse((await cli('waits', '--db', database, '--json', '--workflow', 'deploy-7')).stdout)).toEqual(json);
    expect(await cli('waits', '--db', database, '--workflow', 'someone-else')).toMatchObject({ code: 0, stdout: 'No waits.\n' });
  }, 30_000);

  test('events and get-event read the events the owner set; get-event times out with exit 1', async () => {
    const events = await cli('events', 'deploy-7', '--db', database, '--json');
    expect(JSON.parse(events.stdout)).toEqual({ requested: 'deploy v1' });

    const value = await cli('get-event', 'deploy-7', 'requested', '--db', database);
    expect(value).toMatchObject({ code: 0, stdout: 'deploy v1\n' });

    const missing = await cli('get-event', 'deploy-7', 'nothing-here', '--db', database, '--timeout', '0.2');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);

  test('send --json delivers a JSON message once per idempotency key and reports the repeat as a duplicate', async () => {
    const first = await cli('send', 'deploy-7', '{"by":"grace"}', '--json', '--topic', 'approval', '--idempotency-key', 'k-1', '--db', database);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ sent: true, duplicate: false, destinationUUID: 'deploy-7', topic: 'approval' });
    const again = await cli('send', 'deploy-7', '{"by":"mallory"}', '--json', '--topic', 'approval', '--idempotency-key', 'k-1', '--db', database);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ sent: false, duplicate: true, destinationUUID: 'deploy-7', topic: 'approval' });
    const againHuman = await cli('send', 'deploy-7', 'x', '--topic', 'approval', '--idempotency-key', 'k-1', '--db', database);
    expect(againHuman.stdout).toMatch(/^Not sent again: a message with this idempotency key was already sent/);

    expect(await owner.waitForLine(/^result /)).toBe('result approved by grace');
    const messages = JSON.parse((await cli('messages', 'deploy-7', '--db', database, '--topic', 'approval', '--json')).stdout);
    expect(messages).toEqual([expect.objectContaining({ topic: 'approval', message: { by: 'grace' }, consumed: true })]);

    const client = await Client.open({ database });
    try {
      expect(await client.retrieveWorkflow('deploy-7').getResult()).toBe('approved by grace');
    } finally {
      await client.close();
    }
    const shown = await cli('show', 'deploy-7', '--db', database);
    expect(shown.stdout).toContain('Result:    approved by grace');
    expect(shown.stdout).not.toContain('Waiting:');
    expect(shown.stdout).toMatch(/\nMessages, by topic: "approval" 0 pending, 1 consumed\nTOPIC\s+STATE\s+SENT\s+MESSAGE\n-+.*\napproval\s+consumed\s+\S+\s+\{"by":"grace"\}\n/);
    expect(await cli('waits', '--db', database)).toMatchObject({ code: 0, stdout: 'No waits.\n' });
  }, 30_000);

  test('send --json refuses invalid JSON with exit 2 and sends nothing', async () => {
    const before = JSON.parse((await cli('messages', 'deploy-7', '--db', database, '--json')).stdout).length;
    const broken = await cli('send', 'deploy-7', '{"by":', '--json', '--db', database);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^durablite send: MESSAGE is not valid JSON/);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse((await cli('messages', 'deploy-7', '--db', database, '--json')).stdout)).toHaveLength(before);
  }, 30_000);

  test('without --json, MESSAGE is sent as the string given, even when it looks like JSON', async () => {
    const sent = await cli('send', 'deploy-7', '{"by":', '--db', database);
    expect(sent.code).toBe(0);
    const messages = JSON.parse((await cli('messages', 'deploy-7', '--db', database, '--json')).stdout);
    expect(messages.at(-1)).toMatchObject({ topic: null, message: '{"by":', consumed: false });
  }, 30_000);

  test('a plain-string message is sent as a string', async () => {
    const sent = await cli('send', 'deploy-7', 'hello there', '--db', database);
    expect(sent.code).toBe(0);
    const messages = JSON.parse((await cli('messages', 'deploy-7', '--db', database, '--json')).stdout);
    expect(messages.at(-1)).toMatchObject({ topic: null, message: 'hello there', consumed: false });
  }, 30_000);

  test('not found is exit 1, bad usage is exit 2, each with one line on stderr, and every command has --help', async () => {
    const notFound = await cli('show', 'no-such-workflow', '--db', database);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr.trim().split('\n')).toHaveLength(1);

    const sendMissing = await cli('send', 'no-such-workflow', '1', '--db', database);
    expect(sendMissing.code).toBe(1);

    const usages: [string[], RegExp][] = [
      [['workflows'], /--db FILE is required/],
      [['show', '--db', database], /expected UUID, got 0 argument/],
      [['nonsense', '--db', database], /unknown command "nonsense"/],
      [['workflows', '--db', database, '--bogus'], /^durablite workflows: unknown option "--bogus"\. It takes --status, --name, --limit, --db, --json, --help\./],
      [['workflows', '--db'], /--db needs a value/],
      [['workflows', '--db', database, '--json=yes'], /--json takes no value/],
      [['get-event', 'a', 'b', '--db', database, '--timeout', '-1'], /--timeout must be a number of seconds >= 0, got "-1"/],
    ];
    for (const [usage, message] of usages) {
      const result = await cli(...usage);
      expect({ usage, code: result.code }).toEqual({ usage, code: 2 });
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/ERR_PARSE_ARGS|ambiguous|parseArgs/);
    }

    // A negative number is the option's value, not an option: --timeout -1 is judged as -1.
    expect((await cli('get-event', 'deploy-7', 'requested', '--db', database, '--timeout', '-0.5')).stderr).toMatch(/got "-0.5"/);

    for (const command of ['workflows', 'show', 'waits', 'events', 'get-event', 'messages', 'send', 'cancel', 'resume', 'delete', 'prune', 'fork']) {
      const help = await cli(command, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: durablite ${command}`);
    }
    expect((await cli('--help')).stdout).toContain('Commands:');
    const version = await cli('--version');
    expect(version).toMatchObject({ code: 0, stdout: `${(require('../package.json') as { version: string }).version}\n` });
  }, 60_000);
});

describe('cancel and resume from the command line', () => {
  test('cancel ends the owner\'s wait at once and says what it did; resume has the owner run it on; a finished or unknown workflow is reported', async () => {
    const database = tempDatabasePath('cli-control');
    const owner = spawnFixture('owner-control', [database]);
    try {
      await owner.waitForLine('ready');
      const client = await Client.open({ database });
      try {
        const handle = await client.startWorkflow('control.mp.wait', { workflowUUID: 'cli-cancel' });
        await owner.waitForLine('wait-started cli-cancel recv');

        const cancelled = await cli('cancel', 'cli-cancel', '--db', database, '--children');
        expect(cancelled).toMatchObject({ code: 0, stdout: 'Cancelled cli-cancel.\n' });
        await owner.waitForLine('wait-ended cli-cancel recv failed');
        const again = await cli('cancel', 'cli-cancel', '--db', database, '--json');
        expect(JSON.parse(again.stdout)).toEqual({ workflowUUID: 'cli-cancel', previousStatus: 'CANCELLED', cancelled: [] });
        expect((await cli('workflows', '--db', database, '--status', 'CANCELLED')).stdout).toMatch(/cli-cancel\s+control\.mp\.wait\s+CANCELLED/);

        const resumed = await cli('resume', 'cli-cancel', '--db', database);
        expect(resumed.code).toBe(0);
        expect(resumed.stdout).toMatch(/^Resumed cli-cancel \(was CANCELLED\)/);
        await owner.waitForLine('started cli-cancel resumed');
        await client.send('cli-cancel', 'go', 'go');
        expect(await handle.getResult()).toBe('went go');
        expect(await cli('cancel', 'cli-cancel', '--db', database)).toMatchObject({ code: 0, stdout: 'cli-cancel is SUCCESS: left as it is.\n' });
        expect(JSON.parse((await cli('resume', 'cli-cancel', '--db', database, '--json')).stdout)).toEqual({ workflowUUID: 'cli-cancel', previousStatus: 'SUCCESS', resumed: false });

        for (const command of ['cancel', 'resume']) {
          const unknown = await cli(command, 'no-such-workflow', '--db', database);
          expect(unknown.code).toBe(1);
          expect(unknown.stderr).toMatch(/No workflow with UUID "no-such-workflow"/);
        }
      } finally {
        await client.close();
      }
    } finally {
      await owner.kill();
    }
  }, 60_000);
});

const finishAtOnce = registerWorkflow('cli.finishAtOnce', async () => 'done');

describe('delete, prune and fork from the command line', () => {
  const child = registerWorkflow('cli.manage.child', async () => 'child done');
  /** Sets an event, runs a child to its end, then waits for 'go'. */
  const parent = registerWorkflow('cli.manage.parent', async (ctxt: WorkflowContext, label: string) => {
    await ctxt.setEvent('label', label);
    const started = await ctxt.startChildWorkflow(child);
    await started.getResult();
    const go = await ctxt.recv<string>('go', 60);
    return `${label} ${go}`;
  });

  test('delete refuses a PENDING workflow without --force (exit 1), --dry-run says what would go and writes nothing, and delete takes it and its descendants', async () => {
    const database = tempDatabasePath('cli-delete');
    const engine = await openTestEngine({ database });
    const handle = await engine.startWorkflow(parent, { workflowUUID: 'order-1' }, 'a');
    await blockedInRecv(engine, 'order-1');
    const [childUUID] = (await engine.listWorkflows({ workflowName: 'cli.manage.child' })).map((workflow) => workflow.workflowUUID);

    const refused = await cli('delete', 'order-1', '--db', database);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('durablite delete: order-1 is PENDING; nothing was deleted. Use --force to cancel and delete, or cancel first (durablite cancel).\n');
    const plan = await cli('delete', 'order-1', '--children', '--dry-run', '--json', '--db', database);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toEqual({
      dryRun: true,
      workflowUUID: 'order-1',
      workflows: [{ workflowUUID: 'order-1', status: 'PENDING' }, { workflowUUID: childUUID, status: 'SUCCESS' }],
      refused: ['order-1'],
      cancelled: [],
      rows: expect.objectContaining({ workflows: 2, events: 1 }),
    });
    expect((await cli('delete', 'order-1', '--dry-run', '--db', database)).stdout).toMatch(/^Would refuse, deleting nothing: PENDING order-1\. Use --force/);
    expect((await engine.retrieveWorkflow('order-1').getStatus())?.status).toBe('PENDING');

    await engine.send('order-1', 'go', 'go');
    expect(await handle.getResult()).toBe('a go');
    const forked = await cli('fork', 'order-1', '--from', '1', '--new-uuid', 'order-1-again', '--db', database);
    expect(forked).toMatchObject({ code: 0, stdout: 'Forked order-1 from operation 1: order-1-again (PENDING; the owner runs it).\n' });
    await blockedInRecv(engine, 'order-1-again');
    expect(await engine.getEvent('order-1-again', 'label', 0)).toBe('a');
    const random = JSON.parse((await cli('fork', 'order-1', '--from', '0', '--json', '--db', database)).stdout) as { newWorkflowUUID: string };
    expect(random).toEqual({ workflowUUID: 'order-1', fromOperation: 0, newWorkflowUUID: expect.any(String) });
    await blockedInRecv(engine, random.newWorkflowUUID);

    const forced = await cli('delete', 'order-1-again', '--force', '--json', '--db', database);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({ workflowUUID: 'order-1-again', deleted: ['order-1-again'], cancelled: ['order-1-again'], rows: expect.objectContaining({ workflows: 1 }) });
    expect(await engine.retrieveWorkflow('order-1-again').getStatus()).toBeNull();

    const deleted = await cli('delete', 'order-1', '--children', '--db', database);
    expect(deleted).toMatchObject({ code: 0, stderr: '' });
    expect(deleted.stdout).toMatch(new RegExp(`^Deleted 2 workflows: order-1, ${childUUID!}\\.\nRows: workflows 2, operations \\d+, events 1, stream entries 0, messages 1, controls 0\\.\n$`));
    expect(await engine.retrieveWorkflow(childUUID!).getStatus()).toBeNull();
    for (const args of [['delete', 'order-1'], ['delete', 'order-1', '--dry-run'], ['fork', 'order-1', '--from', '0']]) {
      const unknown = await cli(...args, '--db', database);
      expect({ args, code: unknown.code }).toEqual({ args, code: 1 });
      expect(unknown.stderr).toMatch(/No workflow with UUID "order-1"/);
    }
    await engine.cancelWorkflow(random.newWorkflowUUID);
    await engine.close();
  }, 60_000);

  test('prune --dry-run counts what would go and writes nothing; prune deletes it, in batches', async () => {
    const database = tempDatabasePath('cli-prune');
    const engine = await openTestEngine({ database });
    for (const uuid of ['done-1', 'done-2', 'done-3']) await engine.startWorkflow(finishAtOnce, { workflowUUID: uuid }).then((handle) => handle.getResult());
    await engine.startWorkflow(parent, { workflowUUID: 'still-running' }, 'b');
    await blockedInRecv(engine, 'still-running');
    const finished = (await engine.listWorkflows({ status: 'SUCCESS' })).length; // the three, and the child
    expect(finished).toBe(4);

    const past = await cli('prune', '--before', '2000-01-01', '--dry-run', '--json', '--db', database);
    expect(JSON.parse(past.stdout)).toEqual({ dryRun: true, before: '2000-01-01T00:00:00.000Z', statuses: ['SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED'], deleted: 0 });
    const future = String(Date.now() + 60_000);
    const counted = await cli('prune', '--before', future, '--status', 'SUCCESS', '--status', 'ERROR', '--dry-run', '--json', '--db', database);
    expect(JSON.parse(counted.stdout)).toMatchObject({ dryRun: true, statuses: ['SUCCESS', 'ERROR'], deleted: 4 });
    expect(await engine.listWorkflows({ status: 'SUCCESS' })).toHaveLength(4);

    const pruned = await cli('prune', '--before', future, '--status', 'SUCCESS', '--batch-size', '3', '--json', '--db', database);
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ statuses: ['SUCCESS'], deleted: 4, batches: 2, rows: { workflows: 4 } });
    expect((await engine.listWorkflows()).map((workflow) => workflow.workflowUUID)).toEqual(['still-running']);
    const again = await cli('prune', '--before', future, '--db', database);
    expect(again.stdout).toMatch(/^Deleted 0 workflows \(SUCCESS, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED, CANCELLED\) last changed before .*, in 0 batches\.\nRows: workflows 0/);
    await engine.cancelWorkflow('still-running');
    await engine.close();
  }, 60_000);

  test('bad arguments are exit 2, with one line on stderr, and change nothing', async () => {
    const database = tempDatabasePath('cli-manage-usage');
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(finishAtOnce, { workflowUUID: 'done-1' }).then((handle) => handle.getResult());
    const usages: [string[], RegExp][] = [
      [['delete'], /expected UUID, got 0 argument/],
      [['delete', 'done-1', '--children=yes'], /--children takes no value/],
      [['prune'], /--before is required/],
      [['prune', '--before', 'last week'], /--before must be an ISO date like 2026-11-01 or 2026-11-01T12:00:00Z, or epoch milliseconds, got "last week"/],
      [['prune', '--before', '2026-01-01', '--status', 'PENDING'], /--status PENDING is refused: prune deletes finished workflows only/],
      [['prune', '--before', '2026-01-01', '--status', 'DONE'], /--status must be one of SUCCESS, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED, CANCELLED, got "DONE"/],
      [['prune', '--before', '2999-01-01', '--batch-size', '0'], /--batch-size must be an integer >= 1, got "0"/],
      [['fork', 'done-1'], /--from N is required/],
      [['fork', 'done-1', '--from', '-1'], /--from must be a number of operations, an integer >= 0, got "-1"/],
      [['fork', 'done-1', '--from', '5'], /fromOperation/],
      [['fork', 'done-1', '--from', '0', '--new-uuid', ''], /--new-uuid must not be empty/],
    ];
    for (const [usage, message] of usages) {
      const result = await cli(...usage, '--db', database);
      expect({ usage, code: result.code }).toEqual({ usage, code: 2 });
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
    expect((await engine.listWorkflows()).map((workflow) => workflow.workflowUUID)).toEqual(['done-1']);
    await engine.close();
  }, 60_000);
});

describe('the command line leaves files it only reads as they were', () => {
  let folder: string;
  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-test-cli-'));
  });
  afterEach(() => {
    fs.rmSync(folder, { recursive: true, force: true });
  });

  /** Every file of the folder and its bytes. */
  function snapshot(): Record<string, string> {
    return Object.fromEntries(fs.readdirSync(folder).sort().map((name) => [name, fs.readFileSync(path.join(folder, name)).toString('base64')]));
  }

  test('every command refuses another application\'s SQLite file with exit 1, and leaves it byte for byte unchanged', async () => {
    const notes = path.join(folder, 'notes.db');
    const db = new Database(notes);
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('buy milk');");
    db.close();
    const before = snapshot();

    for (const args of [['workflows'], ['show', 'w-1'], ['waits'], ['events', 'w-1'], ['get-event', 'w-1', 'k'], ['messages', 'w-1'], ['send', 'w-1', 'hello'], ['send', 'w-1', '{}', '--json'], ['cancel', 'w-1'], ['resume', 'w-1'], ['delete', 'w-1'], ['delete', 'w-1', '--dry-run'], ['prune', '--before', '2026-01-01'], ['fork', 'w-1', '--from', '0']]) {
      const result = await cliIn(folder, ...args, '--db', 'notes.db');
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toMatch(/not a durablite database/);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(snapshot()).toEqual(before);
    }
    // Not SQLite at all: refused the same way.
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'just text\n'.repeat(100));
    const text = await cliIn(folder, 'workflows', '--db', 'notes.txt');
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/not a SQLite database/);
    expect(fs.readFileSync(path.join(folder, 'notes.txt'), 'utf8')).toBe('just text\n'.repeat(100));
  }, 60_000);

  test('reading commands leave a durablite database file byte for byte unchanged', async () => {
    const database = path.join(folder, 'app.db');
    const engine = await openTestEngine({ database });
    await engine.close();
    const before = fs.readFileSync(database);
    for (const args of [['workflows'], ['show', 'w-1'], ['waits'], ['events', 'w-1'], ['get-event', 'w-1', 'k'], ['messages', 'w-1']]) {
      const result = await cliIn(folder, ...args, '--db', 'app.db');
      expect({ args, code: result.code }).toEqual({ args, code: ['events', 'messages', 'workflows', 'waits'].includes(args[0]!) ? 0 : 1 });
      expect(fs.readFileSync(database).equals(before)).toBe(true);
    }
  }, 60_000);

  test('delete --dry-run and prune --dry-run leave a durablite database file byte for byte unchanged', async () => {
    const database = path.join(folder, 'app.db');
    const engine = await openTestEngine({ database });
    await engine.startWorkflow(finishAtOnce, { workflowUUID: 'done-1' }).then((handle) => handle.getResult());
    await engine.close();
    const before = fs.readFileSync(database);
    const deleting = await cliIn(folder, 'delete', 'done-1', '--dry-run', '--db', 'app.db');
    expect(deleting).toMatchObject({ code: 0, stderr: '' });
    expect(deleting.stdout).toMatch(/^Would delete 1 workflow: done-1 \(SUCCESS\)\.\nRows: workflows 1, operations 0/);
    const pruning = await cliIn(folder, 'prune', '--before', '2999-01-01', '--dry-run', '--db', 'app.db');
    expect(pruning).toMatchObject({ code: 0, stdout: 'Would delete 1 workflow (SUCCESS, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED, CANCELLED) last changed before 2999-01-01T00:00:00.000Z.\n' });
    expect(fs.readFileSync(database).equals(before)).toBe(true);
  }, 60_000);

  test('a missing file is exit 1 with the way forward, and is not created', async () => {
    const result = await cliIn(folder, 'workflows', '--db', 'typo.db');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no database at "typo.db"/);
    expect(result.stderr).toMatch(/Engine\.open/);
    expect(result.stderr).not.toMatch(/create: true/);
    expect(fs.readdirSync(folder)).toEqual([]);
  }, 30_000);

  test('bench --help describes the installed command, without repository-only flags', async () => {
    const help = await cliIn(folder, 'bench', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: durablite bench');
    expect(help.stdout).not.toMatch(/npm run bench|--tsx|--dbos/);
  }, 30_000);
});

describe('durablite stream', () => {
  /** Writes each message on 'next' to its stream 'progress' until 'stop'. */
  const exportJob = registerWorkflow('cli.exportJob', async (ctxt: WorkflowContext) => {
    for (;;) {
      const next = await ctxt.recv<unknown>('next', 60);
      if (next === 'stop' || next === null) return 'exported';
      await ctxt.writeStream('progress', next);
    }
  });

  /** The CLI in its own process, with each stdout line as it is printed. */
  function follow(...args: string[]): { lines: string[]; nextLine(): Promise<string>; exited: Promise<number | null> } {
    const child = spawn(process.execPath, ['--import', tsxLoader, cliPath, ...args], { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const waiting: ((line: string) => void)[] = [];
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      waiting.shift()?.(line);
    });
    let read = 0;
    return {
      lines,
      nextLine: () => (read < lines.length ? Promise.resolve(lines[read++]!) : new Promise((resolve) => waiting.push((line) => resolve(lines[read++] ?? line)))),
      exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    };
  }

  test('prints what is committed, one value a line (JSON with --json); --follow prints each new value until the workflow ends', async () => {
    const database = tempDatabasePath('cli-stream');
    const engine = await openTestEngine({ database });
    const handle = await engine.startWorkflow(exportJob, { workflowUUID: 'export-3' });
    for (const value of ['10%', { percent: 20, at: new Date('2026-01-01T00:00:00Z') }]) {
      await blockedInRecv(engine, 'export-3');
      await engine.send('export-3', value, 'next');
    }
    await blockedInRecv(engine, 'export-3');

    const now = await cli('stream', 'export-3', 'progress', '--db', database);
    expect(now).toMatchObject({ code: 0, stderr: '' });
    expect(now.stdout.split('\n')).toEqual(['10%', '{"percent":20,"at":"2026-01-01T00:00:00.000Z"}', '(stream "progress" is still open: 2 values so far; --follow waits for more)', '']);
    const json = await cli('stream', 'export-3', 'progress', '--db', database, '--json', '--from', '1');
    expect(json.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([{ percent: 20, at: '2026-01-01T00:00:00.000Z' }]);

    const followed = follow('stream', 'export-3', 'progress', '--db', database, '--follow', '--json');
    expect([await followed.nextLine(), await followed.nextLine()]).toEqual(['"10%"', '{"percent":20,"at":"2026-01-01T00:00:00.000Z"}']);
    await engine.send('export-3', '90%', 'next');
    expect(await followed.nextLine()).toBe('"90%"');
    await blockedInRecv(engine, 'export-3');
    await engine.send('export-3', 'stop', 'next');
    expect(await handle.getResult()).toBe('exported');
    expect(await followed.exited).toBe(0);
    expect(followed.lines).toHaveLength(3);

    const ended = await cli('stream', 'export-3', 'progress', '--db', database, '--from', '2');
    expect(ended.stdout).toBe('90%\n(end of stream "progress": 1 value from offset 2)\n');
    const unknown = await cli('stream', 'nobody', 'progress', '--db', database);
    expect(unknown).toMatchObject({ code: 1, stderr: 'durablite stream: No workflow with UUID "nobody".\n' });
    const badOffset = await cli('stream', 'export-3', 'progress', '--db', database, '--from', '-1');
    expect(badOffset.code).toBe(2);
    expect(badOffset.stderr).toMatch(/--from must be an offset, an integer >= 0, got "-1"/);
    await engine.close();
  }, 60_000);
});
