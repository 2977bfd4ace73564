// The `postgresql` jest project: the behavioural suites it lists run on PostgreSQL. Every engine a
// test opens on the default database then opens on a fresh PostgreSQL database of its own (see
// __tests__/helpers.ts: openTestEngine, openTestKit), and tests about SQLite itself are skipped
// (testOnSqlite); docs/testing.md lists those, with why.
process.env.DURABLITE_TEST_STORE = 'postgres';
