/** Jest runs the TypeScript sources through SWC; `tsc --noEmit` checks the types. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // Redis-backed suites start their own servers on free ports; two workers keep the
  // 2-core machine responsive while still overlapping slow suites.
  maxWorkers: 2,
  testTimeout: 60000,
  // The longest suites start first, also on a fresh clone without jest's timing cache.
  testSequencer: '<rootDir>/test/support/slow-first-sequencer.js',
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
};
