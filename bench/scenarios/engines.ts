// engines: throughput with engines. One, two and three engine processes (bench/lib/engines-peer.ts)
// on one PostgreSQL schema, each starting its own short workflows (a step, a setEvent, a return),
// `--concurrency` at a time, each awaited to its result: workflows per second for all of them, from
// the moment every engine is open and told to go until the last one is done. Reported as
// `engines-1`, `engines-2`, `engines-3` (`--max-engines N` for more or fewer).
//
// Floor, measured just before and just after each engine count (their mean; both reported): the
// database's own commit rate, plain single-row INSERT transactions (autocommit) from as many
// connections as there are engines, each connection committing in a loop. In the SQLite modes one
// engine owns the file, so only `engines-1` runs: one engine process on a file, beside single-row
// INSERT transactions on a connection to a file with the engine's pragmas. The floor column is
// commits/s, the figure workflows/s: their ratio is how many plain commits one workflow costs.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { openFloorDatabase } from '../lib/floor';
import { figureResult, nodeArgumentsFor, nowUs, round, runScenario, type BenchResult, type RunMode, type ScenarioContext } from '../lib/harness';
import { PostgresFloor } from '../lib/postgres-floor';

/** One engine process, spoken to a line at a time. */
class EnginePeer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #waiting: ((line: string) => void) | null = null;
  #stderr = '';
  #exited: Error | null = null;
  #onExit: ((error: Error) => void) | null = null;

  static async spawn(database: string, mode: RunMode, executorId: string, workflows: number, concurrency: number): Promise<EnginePeer> {
    const file = path.join(__dirname, '..', 'lib', `engines-peer${path.extname(__filename)}`);
    const child = spawn(process.execPath, [...nodeArgumentsFor(file), database, mode, executorId, String(workflows), String(concurrency)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new EnginePeer(child);
    await peer.next('ready');
    return peer;
  }

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      this.#lines.push(line);
      this.#deliver();
    });
    const killPeer = (): void => void child.kill();
    process.on('exit', killPeer);
    child.on('exit', (code, signal) => {
      process.off('exit', killPeer);
      this.#exited = new Error(`An engine process exited (${signal ?? code}).\n${this.#stderr.trim()}`);
      this.#onExit?.(this.#exited);
    });
  }

  /** The next line the process prints, which must start with `prefix`. */
  next(prefix: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#onExit = reject;
      this.#waiting = (line) => (line.startsWith(prefix) ? resolve(line) : reject(new Error(`Expected "${prefix}" from an engine process, got "${line}".\n${this.#stderr.trim()}`)));
      this.#deliver();
      if (this.#exited !== null && this.#waiting !== null) reject(this.#exited);
    });
  }

  go(): void {
    this.#child.stdin.write('go\n');
  }

  async exit(): Promise<void> {
    if (this.#exited !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end('exit\n');
    await exited;
  }

  #deliver(): void {
    if (this.#waiting === null || this.#lines.length === 0) return;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting(this.#lines.shift()!);
  }
}

/** Workflows/s of `engines` engine processes on `database`, `workflows` each, from go to the last done. */
async function measureEngines(context: ScenarioContext<RunMode>, database: string, engines: number, workflows: number, concurrency: number) {
  const peers: EnginePeer[] = [];
  try {
    for (let index = 0; index < engines; index++) peers.push(await EnginePeer.spawn(database, context.mode, `bench-engine-${engines}-${index + 1}`, workflows, concurrency));
    const startUs = nowUs();
    const finished = peers.map((peer) => peer.next('done'));
    for (const peer of peers) peer.go();
    const reports = (await Promise.all(finished)).map((line) => JSON.parse(line.slice('done '.length)) as { workflows: number; elapsedMs: number; commits: number });
    const elapsedSeconds = (nowUs() - startUs) / 1e6;
    const total = reports.reduce((sum, report) => sum + report.workflows, 0);
    const commits = reports.reduce((sum, report) => sum + report.commits, 0);
    return { perSecond: total / elapsedSeconds, total, commitsPerWorkflow: commits / total, elapsedSeconds, perEngineSeconds: reports.map((report) => round(report.elapsedMs / 1000, 2)) };
  } finally {
    await Promise.all(peers.map((peer) => peer.exit()));
  }
}

/** Commits/s of `connections` connections each committing `commits` single-row INSERT transactions in a loop. */
async function postgresCommitRate(url: string, connections: number, commits: number): Promise<number> {
  const floors = await Promise.all(Array.from({ length: connections }, () => PostgresFloor.open(url)));
  try {
    await Promise.all(floors.map((floor) => floor.commit('warmup', 'x')));
    const startUs = nowUs();
    await Promise.all(
      floors.map(async (floor, index) => {
        for (let commit = 0; commit < commits; commit++) await floor.commit(`connection-${index}`, String(commit));
      }),
    );
    return (connections * commits) / ((nowUs() - startUs) / 1e6);
  } finally {
    await Promise.all(floors.map((floor) => floor.close()));
  }
}

/** Commits/s of single-row INSERT transactions on one connection to a SQLite file with the engine's pragmas. */
async function sqliteCommitRate(file: string, mode: 'FULL' | 'NORMAL', commits: number): Promise<number> {
  const db = openFloorDatabase(file, mode);
  try {
    db.exec('CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT NOT NULL, created_at INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO bench_floor (key, value, created_at) VALUES (?, ?, ?)');
    const commit = db.transaction((value: string) => insert.run('floor', value, Date.now()));
    const startUs = nowUs();
    for (let index = 0; index < commits; index++) {
      commit.immediate(String(index));
      await new Promise<void>((resolve) => resolve());
    }
    return commits / ((nowUs() - startUs) / 1e6);
  } finally {
    db.close();
  }
}

runScenario(
  'engines',
  async (context) => {
    const workflows = context.size('workflows', 2_000, 20);
    const concurrency = context.size('concurrency', 32, 4);
    const floorCommits = context.size('floor-commits', 2_000, 20);
    const maxEngines = context.mode === 'POSTGRES' ? context.size('max-engines', 3, 3) : 1;
    const results: BenchResult[] = [];
    for (let engines = 1; engines <= maxEngines; engines++) {
      const commitRate = (label: string): Promise<number> =>
        context.mode === 'POSTGRES'
          ? postgresCommitRate(context.postgresUrl!, engines, floorCommits)
          : sqliteCommitRate(context.databasePath(`floor-${engines}-${label}`), context.mode, floorCommits);
      // The floor just before and just after the engines, averaged: the disk's drift over the run
      // (other work sharing it) weighs on both sides, and shows in the two figures.
      const floorBefore = await commitRate('before');
      const database = context.mode === 'POSTGRES' ? context.postgresUrl! : context.databasePath('engine');
      const measured = await measureEngines(context, database, engines, workflows, concurrency);
      const floorAfter = await commitRate('after');
      results.push({
        ...figureResult({ ...context, name: `engines-${engines}` }, { unit: 'workflows/s', engine: round(measured.perSecond, 0), floor: round((floorBefore + floorAfter) / 2, 0) }),
        floorBefore: round(floorBefore, 0),
        floorAfter: round(floorAfter, 0),
        engines,
        workflowsPerEngine: workflows,
        concurrencyPerEngine: concurrency,
        floorConnections: engines,
        floorCommitsPerConnection: floorCommits,
        engineCommitsPerWorkflow: round(measured.commitsPerWorkflow, 2),
        elapsedSeconds: round(measured.elapsedSeconds, 2),
        perEngineSeconds: measured.perEngineSeconds.join(' / '),
      });
    }
    return results;
  },
  { modes: ['FULL', 'NORMAL', 'POSTGRES'] },
);
