// The shared side of the DBOS peer scenarios (bench/dbos/scenarios/): the same child protocol as
// durablite's scenarios (one JSON line on stdout), the same timing, percentile and alternation code
// (bench/lib/harness.ts), on DBOS Transact against the PostgreSQL server named by DBOS_DATABASE_URL.
//
// Each run gets a fresh system database on that server (`durablite_bench_<scenario>_<pid>_<time>`,
// created by DBOS.launch, dropped at the end), as durablite's scenarios get a fresh temporary folder.
// Flags: `--quick`, `--samples N`, `--warmup N` as in bench/scenarios; `--notification-coalesce-ms N`
// sets DBOS's `notificationCoalesceMs` (its default: 10, minimum 1); `--dbos-log-level L` (default warn).
import fs from 'node:fs';
import path from 'node:path';
import { DBOS, type DBOSConfig } from '@dbos-inc/dbos-sdk';
import { DEFAULT_NOTIFICATION_COALESCE_MS } from '@dbos-inc/dbos-sdk/internal/system_database';
import pg from 'pg';
import { alternate, parseArguments, peakRssMebibytes, round, sizeReader, summarize, type PeerResult } from '../lib/harness';

// pg 8.23 deprecates overlapping queries on one client, which DBOS 5.3 issues: keep the runner's log
// readable (the warning says nothing about the figures).
process.noDeprecation = true;

export interface DbosScenarioContext {
  readonly name: string;
  readonly quick: boolean;
  /** A size: `full` by default, `quick` under `--quick`, or the value of `--<key> N` when given. */
  size(key: string, full: number, quick: number): number;
}

/**
 * The measured part of a DBOS scenario, with durablite's `alternate`: a warm-up, then the samples in
 * 10 chunks with a garbage collection between chunks, as the engine side of bench/scenarios runs
 * (there is no floor here: its turns are empty).
 */
export async function measure(options: { samples: number; warmup: number; run: (iterations: number) => Promise<number[]> }): Promise<number[]> {
  const measured = await alternate({ samples: options.samples, warmup: options.warmup, engine: options.run, floor: async () => [] });
  return measured.engine;
}

function dbosSdkVersion(): string {
  // The package's `exports` hide its package.json: find it next to the resolved entry point.
  let folder = path.dirname(require.resolve('@dbos-inc/dbos-sdk'));
  for (;;) {
    const candidate = path.join(folder, 'package.json');
    if (fs.existsSync(candidate)) {
      const manifest = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === '@dbos-inc/dbos-sdk') return manifest.version ?? 'unknown';
    }
    const parent = path.dirname(folder);
    if (parent === folder) return 'unknown';
    folder = parent;
  }
}

/** `url` naming database `name` instead (same server, user and options). */
function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function serverSettings(admin: pg.Client): Promise<{ postgres: string; fsync: string; synchronousCommit: string }> {
  const { rows } = await admin.query<{ version: string; fsync: string; synchronous_commit: string }>(
    `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit`,
  );
  const row = rows[0]!;
  return { postgres: row.version, fsync: row.fsync, synchronousCommit: row.synchronous_commit };
}

/**
 * The entry point of a DBOS scenario file: launches DBOS on a fresh system database, runs `body`
 * (which returns its latency samples in µs), prints the result as one JSON line in the shape of
 * bench/scenarios' results (mode `DBOS`, no floor), drops the database and exits.
 */
export function runDbosScenario(name: string, body: (context: DbosScenarioContext) => Promise<number[]>): void {
  const { flags } = parseArguments(process.argv.slice(2));
  const url = process.env.DBOS_DATABASE_URL;
  if (url === undefined || url === '') {
    console.error('Set DBOS_DATABASE_URL to a PostgreSQL URL (see bench/dbos/README.md).');
    process.exit(2);
  }
  const context: DbosScenarioContext = {
    name,
    quick: flags.quick === 'true',
    size: sizeReader(flags),
  };
  const coalesceFlag = flags['notification-coalesce-ms'];
  const notificationCoalesceMs = coalesceFlag === undefined ? undefined : Number(coalesceFlag);
  const databaseName = `durablite_bench_${name}_${process.pid}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const systemDatabaseUrl = withDatabase(url, databaseName);

  const admin = new pg.Client({ connectionString: url });
  admin.on('error', (error) => console.error(`PostgreSQL admin connection: ${error.message}`));
  let launched = false;
  let connected = false;
  const run = async (): Promise<PeerResult> => {
    await admin.connect();
    connected = true;
    const server = await serverSettings(admin);
    const config: DBOSConfig = { name: 'durablite-bench', systemDatabaseUrl, logLevel: flags['dbos-log-level'] ?? 'warn' };
    if (notificationCoalesceMs !== undefined) config.notificationCoalesceMs = notificationCoalesceMs;
    DBOS.setConfig(config);
    await DBOS.launch();
    launched = true;
    const summary = summarize(await body(context));
    return {
      scenario: name,
      mode: 'DBOS',
      unit: 'µs',
      engine: round(summary.p50, 1),
      floor: null,
      ratio: null,
      p50: round(summary.p50, 1),
      p99: round(summary.p99, 1),
      samples: summary.count,
      dbosSdk: dbosSdkVersion(),
      postgres: server.postgres,
      fsync: server.fsync,
      synchronousCommit: server.synchronousCommit,
      notificationCoalesceMs: notificationCoalesceMs ?? DEFAULT_NOTIFICATION_COALESCE_MS,
    };
  };
  const cleanUp = async (): Promise<void> => {
    if (launched) await DBOS.shutdown();
    if (connected) {
      // DBOS.shutdown may still be closing its pool: give its connections a moment to go, then force.
      for (let attempt = 0; attempt < 50; attempt++) {
        const { rows } = await admin.query('SELECT count(*)::int AS connections FROM pg_stat_activity WHERE datname = $1', [databaseName]);
        if ((rows[0] as { connections: number }).connections === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // DBOS created the database on launch; drop it as bench/scenarios remove their temporary folder.
      await admin.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
      await admin.end();
    }
  };
  run()
    .then(async (result) => {
      await cleanUp();
      result.peakRssMiB = peakRssMebibytes();
      process.stdout.write(`${JSON.stringify(result)}\n`);
    })
    .catch(async (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
      await cleanUp().catch((cleanUpError: unknown) => console.error(cleanUpError));
    })
    .finally(() => {
      // Workflows still blocked in recv must not keep the child alive.
      setImmediate(() => process.exit());
    });
}
