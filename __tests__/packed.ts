// The package as a user gets it: built, packed with `npm pack`, and installed into a fresh project
// folder, with the dev tools a reader of the docs installs (linked from this checkout's node_modules).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..');

/** `tsc`, run with this process's Node. */
export const tscPath = require.resolve('typescript/bin/tsc');

/**
 * Builds the package into a scratch copy (so a parallel test's dist/ is untouched), packs it with
 * `npm pack` into `folder`, and returns the tarball's path.
 */
export function packDurablite(folder: string): string {
  const staging = path.join(folder, 'staging');
  execFileSync(process.execPath, [tscPath, '-p', 'tsconfig.build.json', '--outDir', path.join(staging, 'dist')], { cwd: root, stdio: 'pipe' });
  for (const file of ['package.json', 'README.md']) fs.copyFileSync(path.join(root, file), path.join(staging, file));
  fs.cpSync(path.join(root, 'docs'), path.join(staging, 'docs'), { recursive: true });
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', folder], { cwd: staging, encoding: 'utf8' })) as { filename: string }[];
  fs.rmSync(staging, { recursive: true, force: true });
  return path.join(folder, packed[0]!.filename);
}

/**
 * Makes `project` (created if needed) a project with the packed durablite installed as npm would
 * (the tarball's package/ folder as node_modules/durablite, its dependencies beside it) and the
 * given dev packages. Dependencies and dev packages are links to this checkout's node_modules.
 */
export function installPacked(project: string, tarball: string, devPackages: string[] = []): void {
  const modules = path.join(project, 'node_modules');
  fs.mkdirSync(modules, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', modules]);
  fs.renameSync(path.join(modules, 'package'), path.join(modules, 'durablite'));
  const manifest = JSON.parse(fs.readFileSync(path.join(modules, 'durablite', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies), ...devPackages]) {
    const link = path.join(modules, name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules', name), link, 'dir');
  }
}
