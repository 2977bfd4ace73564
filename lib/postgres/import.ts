// Fills an empty durablite schema with another store's rows (`durablite migrate`), in one transaction:
// every row is there after COMMIT, or none is. The tables are locked against writers first, and a
// schema that already holds any row is refused, so that two copies can never both land.
import type pg from 'pg';
import { DurabliteError } from '../errors';
import { COPIED_TABLES, type CopiedRow, type CopiedTable } from '../store/export';
import type { PostgresDatabase } from './database';
import { changeChannel, RESYNC_PAYLOAD } from './notifications';

/** Where the rows come from: each table's rows in batches, and the next id of each table with a sequence. */
export interface RowSource {
  batches(table: CopiedTable, size: number): Iterable<CopiedRow[]>;
  nextId(table: CopiedTable): number;
}

/** Rows copied per table, by table name. */
export type CopiedCounts = Record<string, number>;

/** PostgreSQL takes at most 65535 parameters per statement; a batch stays well below. */
const MAX_PARAMETERS_PER_INSERT = 20_000;

/** `INSERT INTO table (columns) VALUES ($1, ...), (...)` for `rows` rows. */
function insertStatement(table: CopiedTable, rows: number): string {
  const width = table.columns.length;
  const tuples = Array.from({ length: rows }, (_row, row) => `(${table.columns.map((_column, column) => `$${row * width + column + 1}`).join(', ')})`);
  return `INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES ${tuples.join(', ')}`;
}

/** The rows each copied table holds now, by table name. */
async function countRows(client: pg.PoolClient): Promise<CopiedCounts> {
  const { rows: [counts] } = await client.query<CopiedCounts>(
    `SELECT ${COPIED_TABLES.map((table) => `(SELECT count(*) FROM ${table.name}) AS ${table.name}`).join(', ')}`,
  );
  return counts!;
}

/** The error for a schema that holds rows already: nothing is copied into it. */
function notEmpty(database: PostgresDatabase, counts: CopiedCounts): DurabliteError {
  const held = Object.entries(counts).filter(([, count]) => count > 0).map(([table, count]) => `${table} ${count}`).join(', ');
  return new DurabliteError(
    'MIGRATE_TARGET_NOT_EMPTY',
    `The schema "${database.schema}" of ${database.name} already holds rows (${held}). migrate copies into an empty schema only, so that running it twice cannot double anything; nothing was copied. Name another schema (--schema), or drop this one if what it holds is not wanted.`,
  );
}

/**
 * Copies every row of `source` into `database`'s schema, which must hold no row of any copied table,
 * in one transaction, and sets each id sequence past the copied ids. Resolves with the rows copied
 * per table once COMMIT answered. Engines already running on the schema wait on its locks until the
 * commit, and are then asked to look again at everything: they claim the PENDING workflows copied
 * (which no executor holds) as they would any a Client started.
 *
 * @throws DurabliteError `MIGRATE_TARGET_NOT_EMPTY` when the schema holds rows; nothing is written.
 * @throws DurabliteError `MIGRATE_FAILED` when the server refuses a row or the connection fails; the
 *   transaction is rolled back (its message says when a failure during COMMIT leaves that unknown).
 * @example
 * const counts = await importRows(await openPostgresDatabase(url), SqliteExport.open('app.db'));
 */
export async function importRows(database: PostgresDatabase, source: RowSource): Promise<CopiedCounts> {
  const client = await database.pool.connect();
  let released = false;
  let phase: 'work' | 'commit' = 'work';
  let where = 'locking the tables';
  try {
    await client.query('BEGIN');
    // EXCLUSIVE lets others read but not write until COMMIT: a second migrate, or an engine starting
    // a workflow, waits here, then finds the rows of this one.
    await client.query(`LOCK TABLE ${COPIED_TABLES.map((table) => table.name).join(', ')} IN EXCLUSIVE MODE`);
    const before = await countRows(client);
    if (Object.values(before).some((count) => count > 0)) throw notEmpty(database, before);
    const copied: CopiedCounts = {};
    for (const table of COPIED_TABLES) {
      copied[table.name] = 0;
      const size = Math.floor(MAX_PARAMETERS_PER_INSERT / table.columns.length);
      for (const rows of source.batches(table, size)) {
        where = `copying ${table.name} (rows ${copied[table.name]! + 1} to ${copied[table.name]! + rows.length})`;
        await client.query(insertStatement(table, rows.length), rows.flat());
        copied[table.name]! += rows.length;
      }
      if (table.serial !== undefined) {
        where = `setting the sequence of ${table.name}`;
        await client.query(`SELECT setval(pg_get_serial_sequence($1, $2), $3, false)`, [table.name, table.serial, source.nextId(table)]);
      }
    }
    // Engines already listening re-check at once rather than at their next beat.
    where = 'announcing the copy';
    await client.query('SELECT pg_notify($1, $2)', [changeChannel(database.schema), RESYNC_PAYLOAD]);
    phase = 'commit';
    where = 'committing';
    await client.query('COMMIT');
    return copied;
  } catch (error) {
    const broken = await client.query('ROLLBACK').then(() => false, () => true);
    client.release(broken);
    released = true;
    if (error instanceof DurabliteError && error.code === 'MIGRATE_TARGET_NOT_EMPTY') throw error;
    const message = (error as Error)?.message ?? String(error);
    const outcome = phase === 'commit' && broken
      ? `The connection failed during COMMIT, so whether the copy committed is unknown: list the schema's workflows (durablite workflows --db URL) to see; a second migrate refuses a schema that holds them.`
      : 'Nothing was copied: the transaction rolled back, and the schema is as it was.';
    throw new DurabliteError('MIGRATE_FAILED', `Migrating into the schema "${database.schema}" of ${database.name} failed while ${where}: ${message}. ${outcome}`, {}, { cause: error });
  } finally {
    if (!released) client.release();
  }
}
