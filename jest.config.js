// Two projects: most tests compile with TypeScript's experimentalDecorators; the `*.tc39.test.ts`
// files compile with standard (TC39) decorators, so both decorator flavours are exercised.
const transpileWith = (tsconfig) => ({
  '^.+\\.ts$': ['ts-jest', { tsconfig }],
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'legacy-decorators',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.tc39\\.test\\.ts$'],
      transform: transpileWith('tsconfig.json'),
    },
    {
      displayName: 'standard-decorators',
      testEnvironment: 'node',
      testMatch: ['<rootDir>/__tests__/**/*.tc39.test.ts'],
      transform: transpileWith('tsconfig.tc39.json'),
    },
  ],
};
