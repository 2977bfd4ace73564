// Workflow and step names under esbuild, the compiler tsx runs, with both decorator flavours. Under
// standard decorators esbuild lowers `class Backup` to `_Backup` and renames it only after the
// static initializers run, so a name read there would be `_Backup.run`. The class below is
// compiled with tsx's own esbuild settings and run against this checkout's engine.
import { transformSync } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import * as durablite from '../lib';
import { Client, Engine, type EngineWarning } from '../lib';
import { openTestEngine, tempDatabasePath } from './helpers';

type Flavour = 'legacy' | 'standard';

/** A user's module: a workflow that calls a step and waits for an approval message. */
function source(className: string): string {
  return `
    import { Step, Workflow, type StepContext, type WorkflowContext } from 'durablite';
    export class ${className} {
      static readonly label = 'backup';
      @Workflow() static async run(ctxt: WorkflowContext, folder: string): Promise<string> {
        const copied = await ctxt.invoke(${className}).copy(folder);
        const approval = await ctxt.recv<string>('approval', 0);
        return copied + ' ' + String(approval);
      }
      @Step() static async copy(ctxt: StepContext, folder: string): Promise<string> {
        return ctxt.stepName + ' ' + folder + ' ' + ${className}.label;
      }
    }
  `;
}

/** Compiles with the options tsx gives esbuild (CommonJS, keepNames) and loads the result. */
function compileAndLoad(className: string, flavour: Flavour): { code: string; exports: Record<string, any> } {
  const { code } = transformSync(source(className), {
    loader: 'ts',
    format: 'cjs',
    target: 'node20',
    keepNames: true,
    tsconfigRaw: { compilerOptions: { experimentalDecorators: flavour === 'legacy' } },
  });
  const module = { exports: {} as Record<string, any> };
  const requireShim = (name: string) => {
    if (name !== 'durablite') throw new Error(`unexpected import ${name}`);
    return durablite;
  };
  new Function('require', 'module', 'exports', code)(requireShim, module, module.exports);
  return { code, exports: module.exports };
}

describe.each<[Flavour, string]>([
  ['legacy', 'BackupLegacy'],
  ['standard', 'BackupStandard'],
])('decorators compiled by esbuild (as tsx runs them), %s flavour', (flavour, className) => {
  const { code, exports } = compileAndLoad(className, flavour);
  const Backup = exports[className];

  test(`the workflow and its step are recorded as ${className}.run and ${className}.copy`, async () => {
    if (flavour === 'standard') {
      // The hazard is real in this build: the class is still `_${className}` while initializers run.
      expect(code).toMatch(new RegExp(`__runInitializers\\([^)]*_${className}\\)[\\s\\S]*__name\\(_${className}, "${className}"\\)`));
    }
    const engine = await openTestEngine();
    const handle = await engine.invoke(Backup, `esbuild-${flavour}`).run('/home');
    await engine.send(handle.getWorkflowUUID(), 'yes', 'approval');
    expect(await handle.getResult()).toBe(`${className}.copy /home backup yes`);
    expect(await handle.getStatus()).toMatchObject({ workflowName: `${className}.run` });
    expect((await engine.listOperations(handle.getWorkflowUUID())).map((operation) => operation.name)).toEqual([`${className}.copy`, 'recv']);
    await engine.close();
  });

  test('a workflow started by name from another process is found and recovered', async () => {
    const database = tempDatabasePath('esbuild');
    const client = await Client.open({ database, create: true });
    await client.startWorkflow(`${className}.run`, { workflowUUID: 'by-name' }, '/srv');
    await client.send('by-name', 'ok', 'approval');
    await client.close();

    const warnings: EngineWarning[] = [];
    const engine = await openTestEngine({ database, onWarning: (warning) => warnings.push(warning) });
    expect(engine.recovery.resumed).toEqual(['by-name']);
    expect(await engine.retrieveWorkflow('by-name').getResult()).toBe(`${className}.copy /srv backup ok`);
    expect(warnings).toEqual([]);
    await engine.close();
    fs.rmSync(path.dirname(database), { recursive: true, force: true });
  });
});

test('the unregistered-workflow warning lists the registered names and points at a near-miss', async () => {
  compileAndLoad('Archive', 'standard');
  const database = tempDatabasePath('near-miss');
  const client = await Client.open({ database, create: true });
  await client.startWorkflow('_Archive.run', { workflowUUID: 'recorded-by-old-build' });
  await client.close();

  const warnings: EngineWarning[] = [];
  const engine = await Engine.open({ database, onWarning: (warning) => warnings.push(warning) });
  expect(engine.recovery.unregistered).toEqual(['recorded-by-old-build']);
  await engine.close();
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ code: 'WORKFLOW_NOT_REGISTERED', workflowName: '_Archive.run' });
  expect(warnings[0]!.message).toContain('Registered workflows: "Archive.run"');
  expect(warnings[0]!.message).toContain('Did you mean "Archive.run"?');
  expect(warnings[0]!.message).toContain('@Workflow({ name })');
  fs.rmSync(path.dirname(database), { recursive: true, force: true });
});
