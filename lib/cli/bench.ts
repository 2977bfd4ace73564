// `durablite bench`: runs the benchmark suite shipped with the package.
import fs from 'node:fs';
import path from 'node:path';

/** Runs bench/run (from the package's own files); resolves to the exit code. */
export async function runBenchCommand(argv: string[], _out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const candidates = [path.join(__dirname, '..', '..', 'bench', 'run.js'), path.join(__dirname, '..', '..', 'bench', 'run.ts')];
  const runner = candidates.find((candidate) => fs.existsSync(candidate));
  if (runner === undefined) {
    err('durablite bench: the benchmark files are not installed with this copy of durablite.');
    return 2;
  }
  // require, not import(): this package compiles to CommonJS, and the runner may be TypeScript run through tsx.
  const { runBenchmarks } = require(runner) as { runBenchmarks(argv: string[]): Promise<number | void> };
  const code = await runBenchmarks(argv);
  return typeof code === 'number' ? code : 0;
}
