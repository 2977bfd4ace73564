// Three projects: most tests compile with TypeScript's experimentalDecorators; the `*.tc39.test.ts`
// files compile with standard (TC39) decorators, so both decorator flavours are exercised; and the
// behavioural suites listed below run a second time on PostgreSQL (`postgresql`).
const transpileWith = (tsconfig) => ({
  '^.+\\.ts$': ['ts-jest', { tsconfig }],
});

// Examples in docs/ import the package by name, exactly as users write it; map it to the sources.
const moduleNameMapper = {
  '^durablite$': '<rootDir>/lib/index.ts',
  '^durablite/testing$': '<rootDir>/lib/testing.ts',
};

// A checkout may sit inside another project's node_modules. Jest's defaults ignore every file whose
// path contains /node_modules/ (none would be found or compiled); only this repository's own
// node_modules is to be ignored.
const anywhere = {
  haste: { retainAllFiles: true },
  transformIgnorePatterns: ['<rootDir>/node_modules/'],
};
const ownNodeModules = '<rootDir>/node_modules/';

// The behavioural suites that run on PostgreSQL too (docs/testing.md): every engine they open on the
// default database opens on a fresh PostgreSQL database instead (__tests__/global/on-postgres.js sets
// DURABLITE_TEST_STORE=postgres for __tests__/helpers.ts), and their tests about SQLite itself are skipped.
const onPostgresSuites = [
  'events.semantics', 'messages.semantics', 'messages.send-many', 'select.semantics', 'streams.semantics',
  'control.waits', 'control.resume', 'control.children', 'control.fork', 'control.delete',
  'steps.retries', 'steps.exactly-once', 'timeouts.deadlines',
  'workflows.start', 'workflows.determinism', 'workflows.deterministic-time',
  'testing.virtual-time', 'testing.crash', 'queues.model', 'seed.checkout', 'seed.payment-webhook',
  'waits.listing', 'faults.every-commit', 'input.key-length', 'crash.every-commit',
];

/** @type {import('jest').Config} */
module.exports = {
  // One temporary folder and one PostgreSQL server per run, both removed at the end (see
  // __tests__/global/temp-setup.js and postgres-server.js).
  globalSetup: '<rootDir>/__tests__/global/temp-setup.js',
  globalTeardown: '<rootDir>/__tests__/global/temp-teardown.js',
  projects: [
    {
      displayName: 'legacy-decorators',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
      testPathIgnorePatterns: [ownNodeModules, '\\.tc39\\.test\\.ts$'],
      transform: transpileWith('tsconfig.json'),
      moduleNameMapper,
      ...anywhere,
    },
    {
      displayName: 'standard-decorators',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/__tests__/**/*.tc39.test.ts'],
      testPathIgnorePatterns: [ownNodeModules],
      transform: transpileWith('tsconfig.tc39.json'),
      moduleNameMapper,
      ...anywhere,
    },
    {
      displayName: 'postgresql',
      testEnvironment: 'node',
      testMatch: onPostgresSuites.map((name) => `<rootDir>/__tests__/${name}.test.ts`),
      testPathIgnorePatterns: [ownNodeModules],
      setupFiles: ['<rootDir>/__tests__/global/on-postgres.js'],
      transform: transpileWith('tsconfig.json'),
      moduleNameMapper,
      ...anywhere,
    },
  ],
};
