// The shared side of every scenario: arguments, temp folders (or a fresh PostgreSQL database),
// timing, percentiles, and the child protocol (a scenario process prints exactly one JSON line: its
// result object, or an array of them).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { EngineOptions } from '../../lib';

/** The two durability modes every SQLite scenario runs in (`PRAGMA synchronous`). */
export type Mode = 'FULL' | 'NORMAL';
export const MODES: readonly Mode[] = ['FULL', 'NORMAL'];

/**
 * Where a scenario runs: a SQLite file in one of its durability modes, or `POSTGRES`, a fresh database
 * on the PostgreSQL server named by {@link POSTGRES_URL_VARIABLE} (`npm run bench -- --store postgres`).
 */
export type RunMode = Mode | 'POSTGRES';

/** The environment variable that hands a scenario process the PostgreSQL server to run on. */
export const POSTGRES_URL_VARIABLE = 'DURABLITE_BENCH_POSTGRES_URL';

/**
 * One line of the results: a scenario in one mode, its figure next to the floor measured in the same
 * process. `ratio` is always "engine cost / floor cost": 1.0 means at the floor, 2.0 twice its cost.
 */
export interface BenchResult {
  scenario: string;
  mode: RunMode;
  unit: string;
  engine: number;
  floor: number;
  ratio: number;
  p50?: number;
  p99?: number;
  floorP50?: number;
  floorP99?: number;
  /** Extra figures (sample counts, peak RSS, per-scenario details). */
  [extra: string]: unknown;
}

/**
 * A result of the optional peer benchmark (bench/dbos): the same scenario run on DBOS Transact against
 * PostgreSQL. It has no floor of its own: `floor` and `ratio` are null.
 */
export interface PeerResult {
  scenario: string;
  mode: 'DBOS';
  unit: string;
  engine: number;
  floor: null;
  ratio: null;
  p50?: number;
  p99?: number;
  /** Extra figures (sample counts, versions, settings). */
  [extra: string]: unknown;
}

/** The keys every result has (or may have); anything else is an extra figure. */
export const STANDARD_KEYS: readonly string[] = ['scenario', 'mode', 'unit', 'engine', 'floor', 'ratio', 'p50', 'p99', 'floorP50', 'floorP99'];

export interface ScenarioContext<M extends RunMode = Mode> {
  readonly name: string;
  readonly mode: M;
  /**
   * In `POSTGRES` mode, the URL of a database made for this scenario run alone (created empty, dropped
   * when the scenario ends); null in the SQLite modes.
   */
  readonly postgresUrl: M extends 'POSTGRES' ? string : string | null;
  /** `--quick`: small sizes, for smoke runs that take seconds. */
  readonly quick: boolean;
  /** A fresh temporary folder, removed when the scenario ends. */
  readonly dir: string;
  /**
   * A size: `full` by default, `quick` under `--quick`, or the value of `--<key> N` when given
   * (`npm run bench -- send-throughput --messages 200000`).
   */
  size(key: string, full: number, quick: number): number;
  /** A database file path inside {@link dir}. */
  databasePath(label: string): string;
}

/** Options of {@link runScenario}. */
export interface ScenarioOptions<M extends RunMode = Mode> {
  /** Modes the scenario applies to; in any other mode it reports nothing. @default FULL and NORMAL */
  modes?: readonly M[];
}

type ScenarioBody<M extends RunMode> = (context: ScenarioContext<M>) => Promise<BenchResult | BenchResult[]>;

/** Flags that take no value. */
const BOOLEAN_FLAGS = new Set(['quick', 'list', 'help', 'tsx', 'dbos', 'no-dbos']);

/** Splits arguments into `--key value` / `--key=value` flags (bare boolean flags: `'true'`) and positional ones. */
export function parseArguments(argv: readonly string[]): { flags: Record<string, string>; positional: string[] } {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (!argument.startsWith('--')) {
      positional.push(argument);
      continue;
    }
    const equals = argument.indexOf('=');
    if (equals !== -1) {
      flags[argument.slice(2, equals)] = argument.slice(equals + 1);
      continue;
    }
    const key = argument.slice(2);
    const next = argv[index + 1];
    if (BOOLEAN_FLAGS.has(key) || next === undefined || next.startsWith('--')) flags[key] = 'true';
    else flags[key] = argv[++index]!;
  }
  return { flags, positional };
}

/**
 * Reads a size: `full` by default, `quick` under `--quick`, or the value of `--<key> N` when given.
 */
export function sizeReader(flags: Record<string, string>): (key: string, full: number, quick: number) => number {
  return (key, full, quick) => {
    const given = flags[key];
    if (given === undefined) return flags.quick === 'true' ? quick : full;
    const value = Number(given);
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`Expected \`--${key}\` to be an integer > 0, got \`${given}\``);
    return value;
  };
}

/**
 * The entry point of a scenario file: parses `--mode FULL|NORMAL|POSTGRES [--quick] [--<size> N]`,
 * runs `body` in a fresh temporary folder (and, in `POSTGRES` mode, on a fresh database of the server
 * in DURABLITE_BENCH_POSTGRES_URL), prints its result(s) as one JSON line and exits. A scenario runs in
 * the SQLite modes only unless `options.modes` names `POSTGRES`.
 */
export function runScenario(name: string, body: ScenarioBody<Mode>, options?: ScenarioOptions<Mode>): void;
export function runScenario<M extends RunMode>(name: string, body: ScenarioBody<M>, options: { modes: readonly M[] }): void;
export function runScenario(name: string, body: (context: never) => Promise<BenchResult | BenchResult[]>, options: ScenarioOptions<RunMode> = {}): void {
  const { flags } = parseArguments(process.argv.slice(2));
  const mode = (flags.mode ?? 'NORMAL').toUpperCase();
  if (mode !== 'FULL' && mode !== 'NORMAL' && mode !== 'POSTGRES') {
    console.error(`Expected \`--mode\` to be FULL, NORMAL or POSTGRES, got \`${mode}\``);
    process.exit(2);
  }
  if (!(options.modes ?? MODES).includes(mode)) {
    process.stdout.write('[]\n');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `durablite-bench-${name}-`));
  let database: ScenarioDatabase | null = null;
  const run = async (): Promise<BenchResult | BenchResult[]> => {
    if (mode === 'POSTGRES') database = await ScenarioDatabase.create(name);
    const context: ScenarioContext<RunMode> = {
      name,
      mode,
      postgresUrl: database?.url ?? null,
      quick: flags.quick === 'true',
      dir,
      size: sizeReader(flags),
      databasePath: (label) => path.join(dir, `${label}.db`),
    };
    return (body as ScenarioBody<RunMode>)(context);
  };
  run()
    .then((results) => {
      const list = Array.isArray(results) ? results : [results];
      const peakRssMiB = peakRssMebibytes();
      for (const result of list) result.peakRssMiB ??= peakRssMiB;
      process.stdout.write(`${JSON.stringify(Array.isArray(results) ? list : list[0])}\n`);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    })
    .finally(async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      await (database as ScenarioDatabase | null)?.drop().catch((error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      });
      // Engines left with pending timers or waiters must not keep the child alive.
      setImmediate(() => process.exit());
    });
}

/** `url` naming database `name` instead (same server, user and options). */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** The fresh PostgreSQL database of one scenario run: created empty, dropped with whatever is still connected. */
class ScenarioDatabase {
  readonly url: string;
  readonly #serverUrl: string;
  readonly #name: string;

  private constructor(serverUrl: string, name: string) {
    this.#serverUrl = serverUrl;
    this.#name = name;
    this.url = withDatabase(serverUrl, name);
  }

  static async create(scenario: string): Promise<ScenarioDatabase> {
    const serverUrl = process.env[POSTGRES_URL_VARIABLE] ?? '';
    if (serverUrl === '') throw new Error(`POSTGRES mode needs ${POSTGRES_URL_VARIABLE} set to a PostgreSQL URL (the runner sets it: npm run bench -- --store postgres).`);
    const name = `durablite_bench_${scenario}_${process.pid}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    await onServer(serverUrl, `CREATE DATABASE ${name} TEMPLATE template0`);
    return new ScenarioDatabase(serverUrl, name);
  }

  drop(): Promise<void> {
    return onServer(this.#serverUrl, `DROP DATABASE IF EXISTS ${this.#name} WITH (FORCE)`);
  }
}

async function onServer(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * The `Engine.open` options of a scenario's engine: a SQLite file `label`.db in the scenario's durability
 * mode, or, in `POSTGRES` mode, schema `label` of the scenario's database.
 */
export function engineOptions(context: ScenarioContext<RunMode>, label: string, postgres: EngineOptions['postgres'] = {}): EngineOptions {
  if (context.mode === 'POSTGRES') return { database: context.postgresUrl!, postgres: { schema: label, ...postgres } };
  return { database: context.databasePath(label), synchronous: context.mode };
}

/** Time in microseconds from an arbitrary origin, sub-microsecond resolution. */
export function nowUs(): number {
  return performance.now() * 1000;
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMebibytes(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** Current resident set size, in MiB. */
export function rssMebibytes(): number {
  return round(process.memoryUsage().rss / 1024 / 1024, 1);
}

/** Runs a full garbage collection when the process was started with --expose-gc (the runner does). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Lets pending I/O and timers run once. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The value below which `fraction` of the samples fall (nearest rank). */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), mean, max: sorted[sorted.length - 1] ?? NaN };
}

/** Engine cost over floor cost: for a rate (unit ending in `/s`) the inverse of the values' ratio. */
export function costRatio(engine: number, floor: number, unit: string): number {
  const ratio = unit.endsWith('/s') ? floor / engine : engine / floor;
  return round(ratio, 2);
}

/** A figure (throughput, duration) next to its floor. */
export function figureResult(
  context: ScenarioContext<RunMode>,
  figure: { unit: string; engine: number; floor: number },
  extra: Record<string, unknown> = {},
): BenchResult {
  return {
    scenario: context.name,
    mode: context.mode,
    unit: figure.unit,
    engine: figure.engine,
    floor: figure.floor,
    ratio: costRatio(figure.engine, figure.floor, figure.unit),
    ...extra,
  };
}

/** A latency figure in µs: `engine`/`floor` are the p50s; p99s beside them. */
export function latencyResult(
  context: ScenarioContext<RunMode>,
  engineSamplesUs: readonly number[],
  floorSamplesUs: readonly number[],
  extra: Record<string, unknown> = {},
): BenchResult {
  const engine = summarize(engineSamplesUs);
  const floor = summarize(floorSamplesUs);
  return {
    scenario: context.name,
    mode: context.mode,
    unit: 'µs',
    engine: round(engine.p50, 1),
    floor: round(floor.p50, 1),
    ratio: costRatio(engine.p50, floor.p50, 'µs'),
    p50: round(engine.p50, 1),
    p99: round(engine.p99, 1),
    floorP50: round(floor.p50, 1),
    floorP99: round(floor.p99, 1),
    samples: engine.count,
    ...extra,
  };
}

/**
 * Measures engine and floor side by side: a warm-up of each, then `rounds` alternating chunks, so
 * drift of the disk or the page cache over the run weighs on both alike. Each runner returns one
 * latency sample (µs) per iteration.
 */
export async function alternate(options: {
  samples: number;
  warmup: number;
  rounds?: number;
  engine: (iterations: number) => Promise<number[]>;
  floor: (iterations: number) => Promise<number[]>;
  /** Called once the warm-up is over, before the measured rounds (to start counters). */
  onMeasureStart?: () => void;
}): Promise<{ engine: number[]; floor: number[] }> {
  const rounds = Math.max(1, Math.min(options.rounds ?? 10, options.samples));
  await options.engine(options.warmup);
  await options.floor(options.warmup);
  options.onMeasureStart?.();
  const engine: number[] = [];
  const floor: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const count = Math.floor(options.samples / rounds) + (round < options.samples % rounds ? 1 : 0);
    engine.push(...(await options.engine(count)));
    collectGarbage();
    floor.push(...(await options.floor(count)));
    collectGarbage();
  }
  return { engine, floor };
}

/** Node arguments to run a benchmark file: TypeScript goes through tsx, built JavaScript runs as is. */
export function nodeArgumentsFor(file: string): string[] {
  const typescript = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  return ['--expose-gc', ...typescript, file];
}

/**
 * Runs a benchmark file in a fresh Node process (with environment `env`) and returns the JSON of the
 * last stdout line that holds JSON (a result object or an array). Its stderr is passed through to `stderr`.
 */
export function runJsonChild(file: string, args: readonly string[], stderr: NodeJS.WritableStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgumentsFor(file), ...args], {
      cwd: path.resolve(__dirname, '..', '..'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
      stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').reverse().find((text) => /^\s*[[{]/.test(text));
      if (code !== 0 || line === undefined) {
        const why = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new Error(`${path.basename(file)} ${args.join(' ')} ${why}${line === undefined ? ' without printing a result' : ''}.\n${errors.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(line));
      } catch (error) {
        reject(new Error(`${path.basename(file)} printed a result that is not JSON: ${line}`, { cause: error }));
      }
    });
  });
}
