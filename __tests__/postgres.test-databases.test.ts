// The PostgreSQL the tests run on: a real server for the whole run (global/postgres-server.js), on
// which each test takes databases of its own that are gone after it (postgres-helpers.ts).
import pg from 'pg';
import { createTestDatabase, testPostgresServerUrl, withClient } from './postgres-helpers';

async function databaseExists(name: string): Promise<boolean> {
  return withClient(testPostgresServerUrl(), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

describe('the test PostgreSQL server', () => {
  test('is a real PostgreSQL server, version 15 or later', async () => {
    const version = await withClient(testPostgresServerUrl(), async (client) => {
      const { rows: [row] } = await client.query<{ version: string; number: string }>(
        "SELECT version() AS version, current_setting('server_version_num') AS number",
      );
      return row!;
    });
    expect(version.version).toMatch(/^PostgreSQL \d+/);
    expect(Number(version.number)).toBeGreaterThanOrEqual(150000);
  });

  test('each database a test takes is new, empty and its own', async () => {
    const first = await createTestDatabase();
    const second = await createTestDatabase();
    expect(first.name).not.toBe(second.name);
    await withClient(first.url, (client) => client.query('CREATE TABLE only_in_first (id INTEGER)'));
    const tablesOf = (url: string): Promise<string[]> => withClient(url, async (client) => {
      const { rows } = await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'");
      return rows.map((row) => row.name);
    });
    expect(await tablesOf(first.url)).toEqual(['only_in_first']);
    expect(await tablesOf(second.url)).toEqual([]);
  });

  describe('after a test', () => {
    let left = '';
    let stray: pg.Client | undefined;

    test('(a test takes a database and leaves a connection to it open)', async () => {
      const database = await createTestDatabase();
      left = database.name;
      stray = new pg.Client(database.url);
      stray.on('error', () => {}); // the drop cuts it
      await stray.connect();
      expect(await databaseExists(left)).toBe(true);
    });

    test('its databases are dropped, even with a connection left open', async () => {
      expect(left).not.toBe('');
      expect(await databaseExists(left)).toBe(false);
      await stray?.end().catch(() => {});
    });
  });
});
