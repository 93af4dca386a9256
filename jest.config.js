/** Jest runs the TypeScript sources through SWC; `tsc --noEmit` checks the types. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // Most suites spend their time waiting on real processes (heartbeats, leases,
  // Prometheus and Alertmanager timers), not on the CPU: a whole run used about 0.6 of
  // the 2 cores with 2 workers. Four workers overlap those waits; every suite waits on
  // events, not time margins, and the whole suite passes with both cores busy beside it
  // (docs/benchmarks.md, "Test suite").
  maxWorkers: 4,
  testTimeout: 60000,
  // The longest suites start first, also on a fresh clone without jest's timing cache.
  testSequencer: '<rootDir>/test/support/slow-first-sequencer.js',
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
};
