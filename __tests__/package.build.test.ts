import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { tempDatabasePath } from './helpers';

const root = path.join(__dirname, '..');

function run(args: string[], cwd = root): string {
  return execFileSync(process.execPath, args, { cwd, encoding: 'utf8' });
}

describe('the built package', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  }, 120_000);

  test('plain JavaScript can require("durablite") and run a workflow with the function API', () => {
    const database = tempDatabasePath('plain-js');
    const script = `
      const { Engine, registerWorkflow, registerStep } = require('durablite');
      const { TestEngine } = require('durablite/testing');
      const double = registerStep('double', async (ctxt, n) => n * 2);
      const wf = registerWorkflow('plain', async (ctxt, n) => ctxt.runStep(double, n));
      (async () => {
        const engine = await Engine.open({ database: ${JSON.stringify(database)} });
        const handle = await engine.startWorkflow(wf, { workflowUUID: 'plain-1' }, 21);
        console.log(await handle.getResult(), typeof TestEngine.open);
        await engine.close();
      })();`;
    expect(run(['-e', script]).trim()).toBe('42 function');
  });

  test('the durablite bin runs from the build', () => {
    expect(run(['dist/lib/cli/main.js', '--help'])).toContain('Commands:');
    expect(run(['dist/lib/cli/main.js', 'bench', '--list'])).toContain('roundtrip');
  });

  test('the built bin knows its version and describes the installed bench command', () => {
    expect(run(['dist/lib/cli/main.js', '--version']).trim()).toBe((require('../package.json') as { version: string }).version);
    const help = run(['dist/lib/cli/main.js', 'bench', '--help']);
    expect(help).toContain('Usage: durablite bench');
    expect(help).not.toMatch(/npm run bench|--tsx|--dbos/);
    const repositoryOnly = spawnSync(process.execPath, ['dist/lib/cli/main.js', 'bench', '--tsx'], { cwd: root, encoding: 'utf8' });
    expect(repositoryOnly.status).toBe(2);
    expect(repositoryOnly.stderr).toMatch(/--tsx works only in a clone of the durablite repository/);
  });
});
