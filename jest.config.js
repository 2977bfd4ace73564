// Two projects: most tests compile with TypeScript's experimentalDecorators; the `*.tc39.test.ts`
// files compile with standard (TC39) decorators, so both decorator flavours are exercised.
const transpileWith = (tsconfig) => ({
  '^.+\\.ts$': ['ts-jest', { tsconfig }],
});

// Examples in docs/ import the package by name, exactly as users write it; map it to the sources.
const moduleNameMapper = {
  '^durablite$': '<rootDir>/lib/index.ts',
  '^durablite/testing$': '<rootDir>/lib/testing.ts',
};

/** @type {import('jest').Config} */
module.exports = {
  // One temporary folder per run, removed at the end (see __tests__/global/temp-setup.js).
  globalSetup: '<rootDir>/__tests__/global/temp-setup.js',
  globalTeardown: '<rootDir>/__tests__/global/temp-teardown.js',
  projects: [
    {
      displayName: 'legacy-decorators',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.tc39\\.test\\.ts$'],
      transform: transpileWith('tsconfig.json'),
      moduleNameMapper,
    },
    {
      displayName: 'standard-decorators',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/__tests__/**/*.tc39.test.ts'],
      transform: transpileWith('tsconfig.tc39.json'),
      moduleNameMapper,
    },
  ],
};
