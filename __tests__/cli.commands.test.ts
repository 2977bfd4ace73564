import { execFile } from 'node:child_process';
import path from 'node:path';
import { Client } from '../lib';
import { spawnFixture, tempDatabasePath, type Child } from './helpers';

const cliPath = path.join(__dirname, '..', 'lib', 'cli', 'main.ts');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cliPath, ...args], { cwd: path.join(__dirname, '..') }, (error, stdout, stderr) => {
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

  test('show prints status, inputs, operations and what the workflow waits on now', async () => {
    const shown = await cli('show', 'deploy-7', '--db', database);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('Status:    PENDING');
    expect(shown.stdout).toContain('Inputs:    ["deploy v1"]');
    expect(shown.stdout).toMatch(/Waiting:\s+recv \{"topic":"approval"\}/);
    expect(shown.stdout).toMatch(/0\s+setEvent\s+setEvent/);

    const json = JSON.parse((await cli('show', 'deploy-7', '--db', database, '--json')).stdout);
    expect(json.waitingOn).toEqual([expect.objectContaining({ kind: 'recv', waitingFor: { topic: 'approval' } })]);
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

  test('send delivers a JSON message once per idempotency key, the owner receives it, messages lists it', async () => {
    const first = await cli('send', 'deploy-7', '{"by":"grace"}', '--topic', 'approval', '--idempotency-key', 'k-1', '--db', database);
    expect(first.code).toBe(0);
    const again = await cli('send', 'deploy-7', '{"by":"mallory"}', '--topic', 'approval', '--idempotency-key', 'k-1', '--db', database);
    expect(again.code).toBe(0);

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

    for (const usage of [['workflows'], ['show', '--db', database], ['nonsense', '--db', database], ['workflows', '--db', database, '--bogus'], ['get-event', 'a', 'b', '--db', database, '--timeout', '-1']]) {
      const result = await cli(...usage);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }

    for (const command of ['workflows', 'show', 'events', 'get-event', 'messages', 'send']) {
      const help = await cli(command, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: durablite ${command}`);
    }
    expect((await cli('--help')).stdout).toContain('Commands:');
  }, 60_000);
});
