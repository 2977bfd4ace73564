// Crash at every commit: the scenario in fixtures/crash-scenario.ts (every durable operation) runs once
// without a crash to count its commits K, then once per commit k and side (just before or just after
// COMMIT) in a child process that SIGKILLs itself there, and is recovered in new processes (some of
// which crash once more) until a run finishes. Each must end in the crash-free state.
//
// On PostgreSQL (the `postgresql` jest project) the same, on a fresh database per crash point, with
// three differences:
// - every write is a commit of its own (no group commit), so there are about three times as many:
//   there the crash points are every third commit, both sides, from a first commit drawn each run
//   (SAMPLE_EVERY, FIRST_COMMIT), to keep the file under two or three minutes on 2 cores;
// - commit k is not always the same write from run to run: concurrent operations take their numbers
//   in the order the pool runs them, and the engine's beat (claimAbandoned, every second of real
//   time) commits too. Every crash point is a crash all the same, and each must end in the crash-free
//   state; only the reaching of a crash point can vary (see MAY_MISS_POSTGRES);
// - every run is the same executor ('crash-scenario'), as a restarted process: it takes back the
//   killed run's workflows once that one's lease lapsed. The test stands for the lapse (at least 2 s
//   of real time per restart otherwise) by removing the killed run's executors row before the next run.
import fs from 'node:fs';
import path from 'node:path';
import { onPostgres, queryDatabase, readLog, spawnFixture, tempDatabasePath } from './helpers';
import { createTestDatabase, dropTestDatabase } from './postgres-helpers';

type Side = 'before' | 'after';

interface RunOutcome {
  /** Killed at its crash point. */
  killed: boolean;
  dump?: { state: unknown; nonces: Record<string, string> };
  commits?: number;
}

interface StepExecution {
  run: string;
  workflowUUID: string;
  operationIndex: number;
  step: string;
  nonce: string;
}

/** Child processes running at once (the machines we test on have 2 cores). */
const PARALLEL_CHILDREN = 2;

/**
 * The crash points are at every SAMPLE_EVERY-th commit, both sides: every commit on SQLite, every third
 * on PostgreSQL (DURABLITE_CRASH_SAMPLE_EVERY=1 for all of them, about three times as long).
 */
const SAMPLE_EVERY = Number(process.env.DURABLITE_CRASH_SAMPLE_EVERY ?? (onPostgres ? 3 : 1));

/**
 * The first crash point's commit: with sampling, 1 to SAMPLE_EVERY, drawn anew each run (and printed),
 * so that runs over time crash at every commit.
 */
const FIRST_COMMIT = 1 + Math.floor(Math.random() * SAMPLE_EVERY);

/**
 * On PostgreSQL, how many crash points may go unreached (the run that should crash there finishes
 * with fewer commits, e.g. one beat less): the baseline's last commits are the beat's and the close's.
 */
const MAY_MISS_POSTGRES = 4;

/** The fixture's executorId on PostgreSQL. */
const EXECUTOR_ID = 'crash-scenario';

/** A database for one crash point (or the baseline): a SQLite file, or a fresh PostgreSQL database. */
interface ScenarioDatabase {
  /** The file's path, or the database's URL. */
  readonly location: string;
  remove(): Promise<void>;
}

async function scenarioDatabase(folder: string, label: string): Promise<ScenarioDatabase> {
  if (onPostgres) {
    const database = await createTestDatabase();
    return { location: database.url, remove: () => dropTestDatabase(database) };
  }
  const file = path.join(folder, `${label}.db`);
  return { location: file, remove: async () => fs.rmSync(file, { force: true }) };
}

/**
 * Before the run that follows a killed one. On PostgreSQL this stands for the killed process's lease
 * having lapsed: its executors row goes, as if its heartbeat were older than the lease, and the next
 * run registers under the same executorId at once rather than waiting the lease out.
 */
async function leaseLapsed(database: ScenarioDatabase): Promise<void> {
  if (onPostgres) await queryDatabase(database.location, 'DELETE FROM executors WHERE executor_id = ?', [EXECUTOR_ID]);
}

/** Runs the scenario once on `database`; resolves when the process ends, killed or not. */
async function runScenario(database: string, log: string, runLabel: string, crashAt: string): Promise<RunOutcome> {
  const child = spawnFixture('crash-scenario', [database, log, runLabel, crashAt]);
  const { code, signal, stderr } = await child.exited;
  if (signal === 'SIGKILL') return { killed: true };
  const dumpLine = child.lines.find((line) => line.startsWith('dump '));
  const commitsLine = child.lines.find((line) => line.startsWith('commits '));
  if (code !== 0 || dumpLine === undefined || commitsLine === undefined) {
    throw new Error(`Run ${runLabel} (crash ${crashAt}) ended with code ${code}, signal ${signal}.\nstdout:\n${child.lines.join('\n')}\nstderr:\n${stderr}`);
  }
  return { killed: false, dump: JSON.parse(dumpLine.slice('dump '.length)), commits: Number(commitsLine.slice('commits '.length)) };
}

/** Runs `task` over `items` with at most `limit` at a time. */
async function inPool<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Checks the step log against what was recorded: the execution whose result was recorded is the last
 * execution of that step (nothing ran it again once its result was committed), and every other
 * execution happened in a run that was killed.
 */
function checkStepExecutions(log: string, nonces: Record<string, string>, killedRuns: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const executions = readLog(log).map((line) => JSON.parse(line) as StepExecution);
  for (const [position, recordedNonce] of Object.entries(nonces)) {
    const ofStep = executions.filter((execution) => `${execution.workflowUUID}#${execution.operationIndex}` === position);
    const last = ofStep[ofStep.length - 1];
    if (last?.nonce !== recordedNonce) problems.push(`${position}: the recorded result is not from its last execution (${JSON.stringify(ofStep)})`);
    for (const earlier of ofStep.slice(0, -1)) {
      if (!killedRuns.has(earlier.run)) problems.push(`${position}: ran again after run "${earlier.run}", which was not killed`);
    }
  }
  const recordedPositions = new Set(Object.keys(nonces));
  for (const execution of executions) {
    const position = `${execution.workflowUUID}#${execution.operationIndex}`;
    if (!recordedPositions.has(position)) problems.push(`${position}: executed but never recorded`);
  }
  return problems;
}

interface CrashPlan {
  first: { side: Side; commit: number };
  /** A second crash, in the first recovery run (its own commit numbering). */
  second?: { side: Side; commit: number };
}

describe(`crash at every commit (${onPostgres ? 'PostgreSQL' : 'SQLite'})`, () => {
  test('SIGKILL just before and just after each commit, then recovery, ends in the crash-free state', async () => {
    const folder = path.dirname(tempDatabasePath());
    const baselineDatabase = await scenarioDatabase(folder, 'baseline');
    const baselineLog = path.join(folder, 'baseline.log');
    const baseline = await runScenario(baselineDatabase.location, baselineLog, 'clean', 'none');
    await baselineDatabase.remove();
    const commits = baseline.commits!;
    const expected = baseline.dump!;
    expect(commits).toBeGreaterThan(10);
    // Without a crash every step runs exactly once.
    expect(readLog(baselineLog)).toHaveLength(Object.keys(expected.nonces).length);
    expect(checkStepExecutions(baselineLog, expected.nonces, new Set())).toEqual([]);

    const plans: CrashPlan[] = [];
    for (let commit = FIRST_COMMIT, sampled = 0; commit <= commits; commit += SAMPLE_EVERY, sampled++) {
      for (const side of ['before', 'after'] as const) {
        const plan: CrashPlan = { first: { side, commit } };
        // Every third crash point crashes its first recovery too, at a commit further along.
        if (sampled % 3 === 2) plan.second = { side: side === 'before' ? 'after' : 'before', commit: 1 + (commit % 5) };
        plans.push(plan);
      }
    }

    const outcomes = await inPool(plans, PARALLEL_CHILDREN, async (plan) => {
      const label = `${plan.first.side}-${plan.first.commit}`;
      const database = await scenarioDatabase(folder, label);
      const log = path.join(folder, `${label}.log`);
      const killedRuns = new Set<string>();
      const schedule = [`${plan.first.side}:${plan.first.commit}`];
      if (plan.second !== undefined) schedule.push(`${plan.second.side}:${plan.second.commit}`);
      let crashes = 0;
      let final: RunOutcome | undefined;
      for (let run = 0; final === undefined; run++) {
        const runLabel = `${label}/run-${run}`;
        if (run > 0) await leaseLapsed(database); // the run before was killed
        const outcome = await runScenario(database.location, log, runLabel, schedule[run] ?? 'none');
        if (outcome.killed) {
          killedRuns.add(runLabel);
          crashes++;
        } else {
          final = outcome;
        }
        if (run > schedule.length) throw new Error(`${label}: no run finished`);
      }
      const problems = checkStepExecutions(log, final.dump!.nonces, killedRuns);
      await database.remove();
      return { label, reached: killedRuns.has(`${label}/run-0`), crashes, state: final.dump!.state, problems };
    });

    const unreached = outcomes.filter((outcome) => !outcome.reached).map((outcome) => outcome.label);
    const totalCrashes = outcomes.reduce((sum, outcome) => sum + outcome.crashes, 0);
    const sampled = SAMPLE_EVERY === 1 ? '' : ` (every ${SAMPLE_EVERY === 3 ? 'third' : `${SAMPLE_EVERY}th`} one from commit ${FIRST_COMMIT})`;
    console.log(
      `crash.every-commit on ${onPostgres ? 'PostgreSQL' : 'SQLite'}: ${commits} commits${sampled} x 2 sides =` +
        ` ${outcomes.length - unreached.length} crash points covered${unreached.length === 0 ? '' : ` (${unreached.join(', ')} not reached)`}` +
        ` (${totalCrashes} SIGKILLs in all, ${totalCrashes - (outcomes.length - unreached.length)} of them during recovery),` +
        ` every run recovered to the crash-free state`,
    );
    if (onPostgres) {
      // Which write a commit number falls on varies a little (see the header): a few may be missed.
      expect(unreached.length).toBeLessThanOrEqual(MAY_MISS_POSTGRES);
    } else {
      // The scenario is deterministic: every crash point of the crash-free run is reached.
      expect(unreached).toEqual([]);
    }
    for (const outcome of outcomes) {
      expect({ crashPoint: outcome.label, state: outcome.state }).toEqual({ crashPoint: outcome.label, state: expected.state });
      expect({ crashPoint: outcome.label, problems: outcome.problems }).toEqual({ crashPoint: outcome.label, problems: [] });
    }
  }, 600_000);
});
