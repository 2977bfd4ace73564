// `durablite bench`: runs the benchmark suite shipped with the package. Installed, the package has
// the compiled runner and scenarios only, so this command's usage lists what works there; the
// repository-only flags (`--tsx`, `--dbos`) are refused with a pointer to the repository.
import fs from 'node:fs';
import path from 'node:path';

/** The usage of `durablite bench`, for the installed package. */
export const BENCH_USAGE = `durablite bench: run the benchmarks on this machine, each scenario in a fresh child process,
next to the raw SQLite floor measured in the same run.

Usage: durablite bench [scenario...] [--quick] [--mode FULL|NORMAL] [--json FILE] [--list] [--<size> N]

  scenario...   run only scenarios whose name contains one of these (default: all)
  --quick       small sizes, a smoke run of seconds
  --mode M      only this durability mode (default: FULL and NORMAL)
  --json FILE   also write the results as a JSON array to FILE
  --list        list the scenarios and exit
  --<size> N    passed to the scenarios (e.g. --samples 2000, --messages 200000)
  --help, -h    show this help

Example: npx durablite bench roundtrip --quick`;

/** Flags of the repository's `npm run bench` that need the repository's sources. */
const REPOSITORY_ONLY_FLAGS = ['--tsx', '--dbos'];

/** Runs bench/run (from the package's own files); resolves to the exit code. */
export async function runBenchCommand(argv: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(BENCH_USAGE);
    return 0;
  }
  const candidates = [path.join(__dirname, '..', '..', 'bench', 'run.js'), path.join(__dirname, '..', '..', 'bench', 'run.ts')];
  const runner = candidates.find((candidate) => fs.existsSync(candidate));
  if (runner === undefined) {
    err('durablite bench: the benchmark files are not installed with this copy of durablite.');
    return 2;
  }
  const repositoryOnly = argv.find((arg) => REPOSITORY_ONLY_FLAGS.includes(arg));
  if (repositoryOnly !== undefined && runner.endsWith('.js')) {
    err(`durablite bench: ${repositoryOnly} works only in a clone of the durablite repository (npm run bench -- ${repositoryOnly}).`);
    return 2;
  }
  // require, not import(): this package compiles to CommonJS, and the runner may be TypeScript run through tsx.
  const { runBenchmarks } = require(runner) as { runBenchmarks(argv: string[]): Promise<number | void> };
  const code = await runBenchmarks(argv);
  return typeof code === 'number' ? code : 0;
}
