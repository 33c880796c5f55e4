// Two projects: unit specs beside the code (no I/O), and integration/e2e specs against the
// real PostgreSQL and Redis, in a database and a BullMQ prefix unique to the run.
const moduleNameMapper = {
  '^@ipm/([a-z-]+)$': '<rootDir>/libs/$1/src',
};
// Nest 12 and jose ship ESM only: compile them to CommonJS for jest (../shared/TOOLCHAIN.md, trap 4).
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json', diagnostics: false }],
  '^.+\\.m?js$': ['@swc/jest', { module: { type: 'commonjs' } }],
};
const transformIgnorePatterns = [
  '/node_modules/(?!(@nestjs|jose|content-disposition|cookie|file-type|strtok3|token-types|@tokenizer|@borewit|uint8array-extras|ulid)/)',
];
const common = { rootDir: __dirname, moduleNameMapper, transform, transformIgnorePatterns, testEnvironment: 'node' };

module.exports = {
  // A global option (jest ignores it inside a project): e2e tests start apps and workers.
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts', '<rootDir>/{apps,libs,test}/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
