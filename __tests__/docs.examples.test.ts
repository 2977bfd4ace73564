// The docs' code works: every example under docs/examples runs and prints what the pages say, every
// code block in README.md and docs/*.md is an exact region of an example file, the CLI session in
// docs/cli.md replays against a live owner, and links and cited tests exist.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { codeBlocks, documentFiles, resolveSnippet } from '../docs/examples/snippets';
import { tsxLoader } from './helpers';

const root = path.join(__dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript file the way the docs tell readers to: node --import tsx FILE ARGS (from `cwd`). */
function runTs(file: string, args: string[] = [], cwd = root): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', tsxLoader, path.join(root, file), ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

const runs = new Map<string, Promise<Run>>();
/** Each example script runs once per test file; several tests read its output. */
function runExample(file: string): Promise<Run> {
  let run = runs.get(file);
  if (run === undefined) {
    run = runTs(file);
    runs.set(file, run);
  }
  return run;
}

async function outputOf(file: string): Promise<string> {
  const { code, stdout, stderr } = await runExample(file);
  if (code !== 0) throw new Error(`${file} exited with ${String(code)}.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return stdout;
}

/** A long-running example process (the multi-process owner) whose stdout lines a test can await. */
function startOwner(database: string, version: string): { child: ChildProcess; ready: Promise<string[]>; stop(): Promise<void> } {
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'docs/examples/multi-process/owner.ts'), database, version], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<string[]>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line === 'ready') resolve(lines);
    });
    void exited.then(() => reject(new Error(`The owner exited before it was ready.\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`)));
  });
  return {
    child,
    ready,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('the example scripts run and print what the pages say', () => {
  test('readme.ts: the checkout pattern of the README', async () => {
    expect(await outputOf('docs/examples/readme.ts')).toBe('https://pay.example/o-1 paid\nmessages stored: 1\n');
  }, 60_000);

  test('getting-started.ts: steps run once, a closed engine resumes its workflow, the function API', async () => {
    expect((await outputOf('docs/examples/getting-started.ts')).split('\n')).toEqual([
      'First run:',
      '  (step) reserving mug',
      'waiting for an address',
      '  (step) shipping reservation-mug to 1 Main St',
      'parcel for 1 Main St',
      'parcel for 1 Main St',
      'Closed while waiting, then reopened:',
      '  (step) reserving tee',
      "[ 'order-2' ]",
      '  (step) shipping reservation-tee to 2 Side St',
      'parcel for 2 Side St',
      'Without decorators:',
      'reserved reservation-sticker',
      '',
    ]);
  }, 60_000);

  test('events-and-messages.ts: every rule of the two APIs', async () => {
    expect((await outputOf('docs/examples/events-and-messages.ts')).split('\n')).toEqual([
      'Events',
      'DUPLICATE_EVENT_KEY: status',
      'started',
      "{ status: 'started' }",
      '{}',
      'started',
      'null',
      'null',
      'Messages',
      "[ 'first', 'second', 'no topic' ]",
      '[ null, null ]',
      'refunds on the wrong topic false',
      '[ { paid: true }, { paid: true } ]',
      'true WORKFLOW_NOT_FOUND',
      'RangeError: Expected `timeoutSeconds` to be a finite number >= 0, got `-1` (number)',
      'TypeError: Expected `topic` to be a non-empty string, or undefined/null for no topic, got `""` (string)',
      'TypeError: Expected `key` to be a non-empty string, got `""` (string)',
      'Whichever comes first',
      'approved: {"by":"ada"}',
      'approval consumed=true, cancel consumed=false',
      "[ 'low:a', 'high:b', 'low:null' ]",
      'Many at once',
      '{ sent: 3, duplicates: 1 }',
      "[ 'first', 'second' ]",
      'true no-such-workflow',
      '[]',
      'Who waits on what',
      'watcher-1 #0 getEvent on approved of box-6, deadline 600 s after it started',
      'box-6 #0 recv on topic approval, deadline 3600 s after it started',
      'From a workflow',
      'the second send failed: no such workflow',
      'seen https://pay.example/s-1',
      '',
    ]);
  }, 60_000);

  test('streams.ts: every rule of the streams API', async () => {
    const output = await outputOf('docs/examples/streams.ts');
    expect(output).toContain('25/100\n50/100\n75/100\n100/100\n100 rows exported\n');
    expect(output).toContain("[ 'tick' ] STREAM_TIMEOUT 1\n");
  }, 60_000);

  test('progress-bar.ts: an export whose stream is rendered as a progress bar, one line per update when piped', async () => {
    const { code, stdout, stderr } = await runTs('docs/examples/progress-bar.ts', ['300']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout.split('\n')).toEqual([
      '[##########--------------------]  33%  100/300 rows',
      '[####################----------]  66%  200/300 rows',
      '[##############################] 100%  300/300 rows',
      'exported 300 rows in 3 chunks',
      '',
    ]);
  }, 60_000);

  test('guarantees.ts: a step interrupted by a crash runs twice, is recorded once, charges once', async () => {
    expect(await outputOf('docs/examples/guarantees.ts')).toBe(
      "charge-order-9/0\nrequests sent: 2, charges made: 1\n[ '#0 step chargeCard' ]\n",
    );
  }, 60_000);

  test('api.ts: handles, listings, child workflows, errors by code, a virtual clock', async () => {
    const output = await outputOf('docs/examples/api.ts');
    expect(output.split('\n')).toEqual([
      '2026-01-01T01:00:00.000Z',
      '[',
      "  'report jan (step #0 of q1-0)',",
      "  'report feb (step #0 of q1-1)',",
      "  'report mar (step #0 of q1-2)'",
      ']',
      "SUCCESS Reports.quarterly [ [ 'jan', 'feb', 'mar' ] ]",
      "[ 'q1-0 <- q1', 'q1-1 <- q1', 'q1-2 <- q1' ]",
      '[',
      "  '#0 child Reports.monthly -> q1-0',",
      "  '#1 child Reports.monthly -> q1-1',",
      "  '#2 child Reports.monthly -> q1-2'",
      ']',
      'RangeError (not a DurabliteError)',
      'WorkflowNotFoundError WORKFLOW_NOT_FOUND',
      'WorkflowConflictError WORKFLOW_CONFLICT',
      'warnings: 0',
      '',
    ]);
  }, 60_000);

  test('retries.ts: attempts at the backoff times, StepRetriesExceededError, now() and randomUUID() replayed', async () => {
    expect((await outputOf('docs/examples/retries.ts')).split('\n')).toEqual([
      'attempt 1',
      'attempt 2',
      'attempt 3',
      'gave up after 2 attempts: partner endpoint refused the connection',
      '920',
      'attempt 1 failed at +0 s: rate service unavailable (call 1)',
      'attempt 2 failed at +10 s: rate service unavailable (call 2)',
      '3 attempts, result 0.92',
      '2026-01-01T00:00:41.000Z true',
      '',
    ]);
  }, 60_000);

  test('snippets.ts: every snippet in the docs matches its example file', async () => {
    const { code, stdout } = await runTs('docs/examples/snippets.ts');
    expect(stdout).toBe('');
    expect(code).toBe(0);
  }, 60_000);
});

describe('the multi-process example', () => {
  test('a second process is refused ownership, then approves through a Client, idempotently', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-docs-'));
    const database = path.join(folder, 'deploy.db');
    const owner = startOwner(database, 'v1.2.3');
    try {
      const ownerLines = await owner.ready;
      expect(ownerLines).toEqual([`owner ${owner.child.pid} resumed []`, 'started deploy-v1.2.3', 'ready']);
      const expected = [
        `DATABASE_OWNED: run by process ${owner.child.pid}`,
        'waiting for approval of v1.2.3',
        'v1.2.3 deployed, approved by ada',
        `[ '{"by":"ada"} consumed: true' ]`,
        '',
      ];
      const first = await runTs('docs/examples/multi-process/client.ts', [database, 'deploy-v1.2.3', 'ada']);
      expect({ code: first.code, lines: first.stdout.split('\n') }).toEqual({ code: 0, lines: expected });
      // Same idempotency key: the second approval stores nothing, and the outcome is unchanged.
      const second = await runTs('docs/examples/multi-process/client.ts', [database, 'deploy-v1.2.3', 'grace']);
      expect({ code: second.code, lines: second.stdout.split('\n') }).toEqual({ code: 0, lines: expected });
    } finally {
      await owner.stop();
      fs.rmSync(folder, { recursive: true, force: true });
    }
  }, 90_000);
});

/** Splits a documented shell command line into arguments (single quotes only, as the docs use). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /'([^']*)'|(\S+)/g;
  for (let match = pattern.exec(line); match !== null; match = pattern.exec(line)) words.push(match[1] ?? match[2]!);
  return words;
}

/** Times differ from run to run; everything else must match. */
function normalize(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>')
    .replace(/\b\d{13}\b/g, '<epoch ms>')
    .trimEnd();
}

describe('docs/cli.md', () => {
  test('every durablite command of the page, replayed against the example owner, prints what the page shows', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-docs-cli-'));
    const database = path.join(folder, 'deploy.db');
    const owner = startOwner(database, 'v1.2.3');
    const checked: string[] = [];
    try {
      await owner.ready;
      const blocks = codeBlocks('docs/cli.md').filter((block) => block.language === 'console');
      expect(blocks.length).toBeGreaterThan(3);
      for (const block of blocks) {
        const lines = block.shown.split('\n');
        for (let index = 0; index < lines.length; index++) {
          if (!lines[index]!.startsWith('$ ')) continue;
          const next = lines.findIndex((line, at) => at > index && line.startsWith('$ '));
          const shown = lines.slice(index + 1, next === -1 ? lines.length : next).join('\n');
          const commandLine = lines[index]!.slice(2);
          if (!commandLine.startsWith('durablite ')) continue; // the owner's own start line
          const exitSuffix = ' || echo "exit code $?"';
          const expectsFailure = commandLine.endsWith(exitSuffix);
          // Run from the database's folder, as the reader's shell would be; the page shows that folder as /home/ada/deploy.
          const args = shellWords(expectsFailure ? commandLine.slice(0, -exitSuffix.length) : commandLine).slice(1);
          const run = await runTs('lib/cli/main.ts', args, folder);
          let actual = `${run.stdout}${run.stderr}`.split(folder).join('/home/ada/deploy').trimEnd();
          if (expectsFailure) actual += `\nexit code ${String(run.code)}`;
          else expect({ command: commandLine, code: run.code }).toEqual({ command: commandLine, code: 0 });
          expect({ command: commandLine, output: normalize(actual) }).toEqual({ command: commandLine, output: normalize(shown) });
          checked.push(commandLine);
        }
      }
    } finally {
      await owner.stop();
      fs.rmSync(folder, { recursive: true, force: true });
    }
    expect(checked.length).toBeGreaterThanOrEqual(15);
  }, 180_000);
});

describe('the pages', () => {
  const documents = documentFiles();

  test('README.md and the docs pages exist, and the pages the issue lists are all there', () => {
    for (const page of ['getting-started', 'events-and-messages', 'guarantees', 'testing', 'multi-process', 'cli', 'api']) {
      expect(documents).toContain(path.join('docs', `${page}.md`));
    }
    expect(documents).toContain('README.md');
  });

  test('every TypeScript block is a snippet of an example file that matches it, or a marked signature', () => {
    const stale: string[] = [];
    for (const document of documents) {
      for (const block of codeBlocks(document)) {
        if (block.language !== 'ts' && block.language !== 'typescript') continue;
        const where = `${document}:${block.openLine + 1}`;
        if (block.reference === null) {
          // Signatures are not runnable: api.md is made of them, other pages mark each one.
          const lines = fs.readFileSync(path.join(root, document), 'utf8').split('\n');
          let previous = block.openLine - 1;
          while (previous >= 0 && lines[previous]!.trim() === '') previous--;
          const isSignature = document === path.join('docs', 'api.md') || lines[previous]?.trim() === '<!-- signature -->';
          if (!isSignature) stale.push(`${where} has neither a <!-- snippet: FILE#REGION --> nor a <!-- signature --> marker`);
          continue;
        }
        if (resolveSnippet(block.reference) !== block.shown) stale.push(`${where} differs from ${block.reference}`);
      }
    }
    if (stale.length > 0) {
      throw new Error(`${stale.join('\n')}\nRefresh with: node --import tsx docs/examples/snippets.ts --write`);
    }
  });

  test('every output block marked <!-- output: FILE --> is printed by FILE, line for line', async () => {
    let checked = 0;
    for (const document of documents) {
      const text = fs.readFileSync(path.join(root, document), 'utf8').split('\n');
      for (const block of codeBlocks(document)) {
        let previous = block.openLine - 1;
        while (previous >= 0 && text[previous]!.trim() === '') previous--;
        const marker = /^<!-- output: (\S+) -->$/.exec(text[previous]?.trim() ?? '');
        if (marker === null) continue;
        const printed = (await outputOf(marker[1]!)).trimEnd();
        expect({ where: `${document}:${block.openLine + 1}`, contained: printed.includes(block.shown) }).toEqual({
          where: `${document}:${block.openLine + 1}`,
          contained: true,
        });
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  }, 120_000);

  test('relative links point at files that exist, and anchors at headings that exist', () => {
    const slugsOf = new Map<string, Set<string>>();
    const slugs = (file: string): Set<string> => {
      let found = slugsOf.get(file);
      if (found === undefined) {
        found = new Set();
        const counts = new Map<string, number>();
        for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
          const heading = /^#{1,6}\s+(.*)$/.exec(line);
          if (heading === null) continue;
          const base = heading[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
          const seen = counts.get(base) ?? 0;
          counts.set(base, seen + 1);
          found.add(seen === 0 ? base : `${base}-${seen}`);
        }
        slugsOf.set(file, found);
      }
      return found;
    };
    const broken: string[] = [];
    for (const document of documents) {
      const file = path.join(root, document);
      const prose = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [linkPath, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = linkPath === '' ? file : path.resolve(path.dirname(file), linkPath);
        // docs/benchmarks.md is written with the benchmarks, by their own issue.
        if (resolved === path.join(root, 'docs', 'benchmarks.md') && !fs.existsSync(resolved)) continue;
        if (!fs.existsSync(resolved)) {
          broken.push(`${document}: ${target} (no such file)`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !slugs(resolved).has(anchor)) {
          broken.push(`${document}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  test('the guarantees table cites test files and test names that exist', () => {
    const page = fs.readFileSync(path.join(root, 'docs', 'guarantees.md'), 'utf8');
    const citations = [...page.matchAll(/\[`([\w.-]+\.test\.ts)`\]\(\.\.\/__tests__\/([\w.-]+\.test\.ts)\): "([^"]+)"/g)];
    expect(citations.length).toBeGreaterThanOrEqual(20);
    const missing: string[] = [];
    for (const [, shownFile, linkedFile, testName] of citations) {
      const file = path.join(root, '__tests__', linkedFile!);
      if (shownFile !== linkedFile || !fs.existsSync(file)) missing.push(`${shownFile}: no such test file`);
      else if (!fs.readFileSync(file, 'utf8').includes(`'${testName}'`)) missing.push(`${linkedFile}: no test named "${testName}"`);
    }
    expect(missing).toEqual([]);
  });
});
