// What the PostgreSQL store's table modules run their statements on: a transaction's connection or the
// pool (for reads), behind one small interface, so that every failure of either reaches the store as
// its own StorageError (see PostgresStore).
import type pg from 'pg';

/** Runs one statement with positional parameters ($1, $2...). */
export interface Sql {
  /**
   * `name`: run it as a named prepared statement, parsed and planned once per connection (the
   * frequent statements; one name per text).
   */
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], name?: string): Promise<pg.QueryResult<Row>>;
}

/** The rows `text` returns. */
export async function rowsOf<Row extends pg.QueryResultRow>(sql: Sql, text: string, values: unknown[] = []): Promise<Row[]> {
  return (await sql.query<Row>(text, values)).rows;
}

/** The first row `text` returns, or undefined. `name`: as a named prepared statement (see Sql.query). */
export async function firstRow<Row extends pg.QueryResultRow>(sql: Sql, text: string, values: unknown[] = [], name?: string): Promise<Row | undefined> {
  return (await sql.query<Row>(text, values, name)).rows[0];
}

/** How many rows `text` inserted, updated or deleted. */
export async function changes(sql: Sql, text: string, values: unknown[] = []): Promise<number> {
  return (await sql.query(text, values)).rowCount ?? 0;
}
