// `npm start` runs the shop demo; this runs the same command and checks the timeline it prints.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..');

/** The `start` script of package.json, with `node` replaced by the Node running the tests. */
function startCommand(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.start!.split(/\s+/);
  expect(words[0]).toBe('node');
  return [process.execPath, ...words.slice(1)];
}

function run(command: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm start (the shop demo)', () => {
  test('plays both orders, the crash included, prints every timeline step in order and exits 0', async () => {
    const { code, stdout, stderr } = await run(startCommand());
    if (code !== 0) throw new Error(`The demo exited with ${String(code)}.\nstdout:\n${stdout}\nstderr:\n${stderr}`);

    const labels = stdout.split('\n').flatMap((line) => {
      const match = /^\s+\d+\.\d\ds {2}(\S.*?)\s{2,}\S/.exec(line);
      return match === null ? [] : [match[1]];
    });
    expect(labels).toEqual([
      'payment provider up',
      'shop server up',
      // order 1: the happy path
      'order placed',
      'URL published',
      'redirect',
      'webhook delivered',
      'webhook delivered again',
      'payment recorded',
      'order complete',
      'received once',
      // order 2: killed while waiting for the webhook
      'order placed',
      'URL published',
      'redirect',
      'waiting',
      'server killed',
      'server restarted',
      'recovered',
      'waiting again',
      'webhook delivered',
      'payment recorded',
      'order complete',
      // order 3: rejected, cancel path
      'order placed',
      'redirect',
      'ledger checked',
    ]);
    expect(stdout).toContain('still 1 stored');
    expect(stdout).toMatch(/recovered\s+Engine\.open resumed order-o-1002/);
    expect(stdout).toContain('303 to /checkout/cancel');
    expect(stdout).toContain(`All ${labels.length} steps seen. The demo passed.`);
  }, 90_000);
});
