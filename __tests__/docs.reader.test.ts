// The docs read by a newcomer: each page's code, pasted into a fresh project the way the page says,
// against the package as npm installs it (built and packed with `npm pack`), runs.
//   getting-started.md: every TypeScript block, in order, is orders.ts; run with tsx, and compiled
//     with tsc (the page's tsconfig.json) and run with node.
//   testing.md: every TypeScript block, in order, is payment.test.ts beside the linked shop.ts; jest
//     runs it with each of the page's two setups, CommonJS and ES modules.
//   README.md: its block is a whole program, run with tsx in the getting-started project setup.
//   The other pages show excerpts of the example files they link: each such file, copied into a
//     fresh project with the files it imports, runs there with tsx.
// Blocks that are files of the reader's project (tsconfig.json, jest.config.js) open with a comment
// naming the file, e.g. `// tsconfig.json (CommonJS)`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { codeBlocks } from '../docs/examples/snippets';
import { installPacked, packDurablite, tscPath } from './packed';

const root = path.join(__dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

/** The TypeScript blocks of a page, in page order, as one file. */
function typescriptOf(page: string, from?: string): string {
  return codeBlocks(page)
    .filter((block) => block.language === 'ts' && (from === undefined || block.reference?.split('#')[0] === from))
    .map((block) => block.shown)
    .join('\n\n');
}

/** The block of a page that opens with `// <title>`: a file of the reader's project. */
function fileBlock(page: string, title: string): string {
  const found = codeBlocks(page).filter((block) => block.shown.split('\n')[0] === `// ${title}`);
  if (found.length !== 1) throw new Error(`${page} has ${found.length} blocks titled "${title}"`);
  return found[0]!.shown;
}

let work: string;
let tarball: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-test-reader-'));
  tarball = packDurablite(work);
}, 180_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** A fresh project folder with the packed durablite and the given dev packages installed. */
function newProject(name: string, manifest: Record<string, unknown>, devPackages: string[]): string {
  const project = path.join(work, name);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...manifest }, null, 2));
  installPacked(project, tarball, devPackages);
  return project;
}

const tsx = (project: string) => path.join(project, 'node_modules', 'tsx', 'dist', 'cli.mjs');

describe('docs/getting-started.md, pasted into a fresh project', () => {
  const printed = [
    '  (step) reserving mug',
    'waiting for an address',
    '  (step) shipping reservation-mug to 1 Main St',
    'parcel for 1 Main St',
    'parcel for 1 Main St',
    '  (step) reserving tee',
    "[ 'order-2' ]",
    '  (step) shipping reservation-tee to 2 Side St',
    'parcel for 2 Side St',
    'reserved reservation-sticker',
    '',
  ];
  let project: string;

  beforeAll(() => {
    // The page's set-up: npm init, "type": "module", durablite, typescript@5, tsx, @types/node.
    project = newProject('orders', { type: 'module' }, ['typescript', 'tsx', '@types']);
    fs.writeFileSync(path.join(project, 'tsconfig.json'), fileBlock('docs/getting-started.md', 'tsconfig.json'));
    fs.writeFileSync(path.join(project, 'orders.ts'), typescriptOf('docs/getting-started.md'));
  });

  const removeDatabase = () => {
    for (const file of fs.readdirSync(project).filter((name) => name.startsWith('orders.db'))) fs.rmSync(path.join(project, file));
  };

  test('npx tsx orders.ts prints what the page says', async () => {
    removeDatabase();
    const result = await run([tsx(project), 'orders.ts'], project);
    expect({ code: result.code, stderr: result.stderr, lines: result.stdout.split('\n') }).toEqual({ code: 0, stderr: '', lines: printed });
  }, 120_000);

  test('npx tsc compiles it with the page\'s tsconfig.json, and node runs the build on Node 20', async () => {
    removeDatabase();
    const compiled = await run([tscPath, '-p', '.'], project);
    expect({ code: compiled.code, output: compiled.stdout }).toEqual({ code: 0, output: '' });
    const result = await run(['dist/orders.js'], project);
    expect({ code: result.code, stderr: result.stderr, lines: result.stdout.split('\n') }).toEqual({ code: 0, stderr: '', lines: printed });
  }, 120_000);

  test('README.md\'s program runs in the same set-up', async () => {
    fs.writeFileSync(path.join(project, 'checkout.ts'), typescriptOf('README.md'));
    const result = await run([tsx(project), 'checkout.ts'], project);
    expect({ code: result.code, stderr: result.stderr, stdout: result.stdout }).toEqual({ code: 0, stderr: '', stdout: 'https://pay.example/o-1 paid\n' });
  }, 120_000);
});

describe('docs/testing.md, pasted into a fresh project', () => {
  const page = 'docs/testing.md';
  const testNames = /✓|√/;

  test.each([
    ['CommonJS', {}, {}],
    ['ES modules', { type: 'module' }, { NODE_OPTIONS: '--experimental-vm-modules' }],
  ])('with the %s setup, npx jest runs every test of the page, and they pass', async (setup, manifest, env) => {
    const project = newProject(`payments-${setup.replace(/\W/g, '')}`, manifest, ['jest', 'ts-jest', 'typescript', '@types']);
    fs.writeFileSync(path.join(project, 'jest.config.js'), fileBlock(page, `jest.config.js (${setup})`));
    fs.writeFileSync(path.join(project, 'tsconfig.json'), fileBlock(page, `tsconfig.json (${setup})`));
    fs.copyFileSync(path.join(root, 'docs', 'examples', 'shop', 'shop.ts'), path.join(project, 'shop.ts'));
    fs.writeFileSync(path.join(project, 'payment.test.ts'), typescriptOf(page));
    const tests = codeBlocks(page).filter((block) => block.language === 'ts').reduce((count, block) => count + (block.shown.match(/^test\(/gm)?.length ?? 0), 0);

    const result = await run([path.join(project, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--verbose'], project, env);
    const report = `${result.stdout}${result.stderr}`;
    expect({ code: result.code, report: result.code === 0 ? '' : report }).toEqual({ code: 0, report: '' });
    expect(report).toMatch(new RegExp(`Tests:\\s+${tests} passed, ${tests} total`));
    expect(report.split('\n').filter((line) => testNames.test(line))).toHaveLength(tests);
  }, 180_000);
});

describe('the example files the other pages quote, copied into a fresh project', () => {
  /** The files whose excerpts the pages show, with the lines each prints (checked in docs.examples.test.ts). */
  const quoted = codeBlocks('docs/events-and-messages.md')
    .concat(codeBlocks('docs/api.md'), codeBlocks('docs/guarantees.md'), codeBlocks('docs/multi-process.md'), codeBlocks('docs/managing-workflows.md'))
    .flatMap((block) => (block.reference === null ? [] : [block.reference.split('#')[0]!]))
    .filter((file, index, all) => all.indexOf(file) === index)
    .sort();

  test('the pages quote the example files this test covers', () => {
    expect(quoted).toEqual([
      'docs/examples/api.ts',
      'docs/examples/events-and-messages.ts',
      'docs/examples/guarantees.ts',
      'docs/examples/managing-workflows-control.ts',
      'docs/examples/multi-process/client.ts',
      'docs/examples/multi-process/deploy.ts',
      'docs/examples/multi-process/owner.ts',
      'docs/examples/retries.ts',
      'docs/examples/shop/server.ts',
      'docs/examples/shop/shop.ts',
      'docs/examples/streams.ts',
    ]);
  });

  let project: string;
  beforeAll(() => {
    project = newProject('examples', { type: 'module' }, ['typescript', 'tsx', '@types']);
    fs.cpSync(path.join(root, 'docs', 'examples'), path.join(project, 'examples'), { recursive: true });
    // Type-checked as the reader's project would be, with bundler resolution (the examples import
    // their siblings without extensions, as tsx allows).
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', strict: true, noEmit: true, types: ['node'], skipLibCheck: true },
      include: quoted.map((file) => file.replace(/^docs\//, '')),
    }));
  });

  test('they type-check against the installed package', async () => {
    const checked = await run([tscPath, '-p', '.'], project);
    expect({ code: checked.code, output: checked.stdout }).toEqual({ code: 0, output: '' });
  }, 120_000);

  test.each(['examples/api.ts', 'examples/events-and-messages.ts', 'examples/guarantees.ts', 'examples/managing-workflows-control.ts', 'examples/retries.ts'])('npx tsx %s runs', async (file) => {
    const result = await run([tsx(project), file], project);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout.length).toBeGreaterThan(0);
  }, 120_000);
});
