// What the PostgreSQL store's table modules run their statements on: a transaction's connection or the
// pool (for reads), behind one small interface, so that every failure of either reaches the store as
// its own StorageError (see PostgresStore).
import type pg from 'pg';

/** Runs one statement with positional parameters ($1, $2...). */
export interface Sql {
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>;
}

/** The rows `text` returns. */
export async function rowsOf<Row extends pg.QueryResultRow>(sql: Sql, text: string, values: unknown[] = []): Promise<Row[]> {
  return (await sql.query<Row>(text, values)).rows;
}

/** The first row `text` returns, or undefined. */
export async function firstRow<Row extends pg.QueryResultRow>(sql: Sql, text: string, values: unknown[] = []): Promise<Row | undefined> {
  return (await sql.query<Row>(text, values)).rows[0];
}

/** How many rows `text` inserted, updated or deleted. */
export async function changes(sql: Sql, text: string, values: unknown[] = []): Promise<number> {
  return (await sql.query(text, values)).rowCount ?? 0;
}
