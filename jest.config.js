/** Jest runs the TypeScript sources through SWC; `tsc --noEmit` checks the types. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // Most suites spend their time waiting on real processes (heartbeats, leases,
  // Prometheus and Alertmanager timers), not on the CPU: a fresh-clone run with 4
  // workers on the quiet 2-core machine kept the load average under 3 and took 304 s,
  // the sum of its suites 1,080 s; five workers took 234-277 s and passed pinned to one
  // core (five workers on one core, 300 s). Six overlap more of those waits; every suite
  // holds the noise budget (a 3 s stall of any one process, test/README.md), and the
  // whole suite passes pinned to one core (npm run test:one-core; figures in
  // docs/benchmarks.md, "Test suite").
  maxWorkers: 6,
  testTimeout: 60000,
  // The longest suites start first, also on a fresh clone without jest's timing cache.
  testSequencer: '<rootDir>/test/support/slow-first-sequencer.js',
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
};
