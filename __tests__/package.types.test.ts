// `durablite` and `durablite/testing` resolve with their types in a consumer project under every
// moduleResolution TypeScript users meet: node10 (the default for "module": "commonjs"), node16,
// nodenext and bundler. The package is built and packed with `npm pack`, installed into a fresh
// consumer folder, and a consumer file is compiled there, strictly, under each setting.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installPacked, packDurablite, tscPath as tsc } from './packed';

const consumer = `
import { Engine, Workflow, registerWorkflow, type WorkflowContext, type EngineOptions } from 'durablite';
import { TestEngine, VirtualClock, type TestEngineOptions, type WaitDescription } from 'durablite/testing';

export const greet = registerWorkflow('greet', async (_ctxt: WorkflowContext, name: string) => 'hello ' + name);

export async function check(options: EngineOptions): Promise<string> {
  const testOptions: TestEngineOptions = { autoSkip: true, clock: new VirtualClock() };
  const t: TestEngine = await TestEngine.open(testOptions);
  const waits: WaitDescription[] = t.waits();
  const engine: Engine = t.engine;
  const handle = await engine.startWorkflow(greet, {}, 'Ada');
  // A wrong argument type must be an error: the types are real, not any.
  // @ts-expect-error the workflow takes a string
  await engine.startWorkflow(greet, {}, 42);
  await t.close();
  return (await handle.getResult()) + waits.length + options.database + typeof Workflow;
}
`;

// skipLibCheck is off (declarations are checked too) except in the bare node10 case: there the
// declarations' `import Database from 'better-sqlite3'` needs esModuleInterop, which `tsc --init` sets.
const settings: [string, Record<string, string | boolean>, 'commonjs' | 'module'][] = [
  ['node10, module commonjs alone', { module: 'commonjs', skipLibCheck: true }, 'commonjs'],
  ['node10, as tsc --init sets it up', { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, 'commonjs'],
  ['node16', { module: 'node16', moduleResolution: 'node16' }, 'commonjs'],
  ['node16, an ES module package', { module: 'node16', moduleResolution: 'node16' }, 'module'],
  ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }, 'commonjs'],
  ['bundler', { module: 'esnext', moduleResolution: 'bundler' }, 'module'],
];

describe('durablite/testing resolves with types in a consumer of the packed package', () => {
  let work: string;
  let installed: string;

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'durablite-test-pack-'));
    installPacked(work, packDurablite(work), ['@types']);
    installed = path.join(work, 'node_modules', 'durablite');
  }, 180_000);

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds the build, the declarations of both entry points, and the typesVersions map', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    expect(manifest.typesVersions).toEqual({ '*': { testing: ['./dist/lib/testing.d.ts'] } });
    for (const file of ['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/testing.js', 'dist/lib/testing.d.ts', 'dist/lib/cli/main.js']) {
      expect({ file, exists: fs.existsSync(path.join(installed, file)) }).toEqual({ file, exists: true });
    }
  });

  test.each(settings)('a consumer compiles under moduleResolution %s', (name, options, type) => {
    const project = path.join(work, `consumer-${name.replace(/\W+/g, '-')}`);
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }));
    fs.writeFileSync(path.join(project, 'index.ts'), consumer);
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], experimentalDecorators: true, ...options },
      files: ['index.ts'],
    }));
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe('');
  }, 60_000);
});
