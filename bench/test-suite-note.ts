/**
 * The test suite's own timing, kept by hand beside the benchmark figures (the suite is
 * not a benchmark: it asserts no speed). Measured with `npm test` and
 * `npx jest --json` on the same 2-core machine, shared with other work.
 */
export const TEST_SUITE = `## Test suite

\`npm test\` (type check, lint, build, jest) on the 2-core machine, with other work
on it (load average 3–4):

| | before (issue 11) | after |
|---|---|---|
| \`npm test\` | about 7.5 min (jest 410 s + type check, lint and build about 35 s) | 2 min 16 s and 2 min 32 s (two runs) |
| jest | 410 s, 2 workers; 68 suites, 567 tests | 116 s and 114 s, 4 workers; 81 suites, 636 tests |
| sum of suite times | 772 s | 459 s |
| beside a CPU hog on both cores | 467 s with 2 workers (already with the fast demo), and redis-cluster-failover hung to its 300 s timeout: a sidecar logged Stopped and never exited | 147 s and 148 s, all passing (204 s before the agent tests became unit tests) |
| slowest suites | demo 151 s, agent failures 67 s, benchmark smoke test 55 s, cluster-e2e 35 s, browser 33 s | benchmark smoke test 56 s, agent failures 41 s, browser 28 s, oncall-e2e 23 s, cluster-e2e 21 s |

What changed: the demo test runs the same story at \`demo --pace fast\` (1 s heartbeat,
failed project held 1 s) and stops it with SIGTERM once the story is complete instead
of sitting out \`--duration 150s\` (151 s → 11 s); two suites stopped rebuilding
\`dist/\` in \`beforeAll\` (13 s each, and racing other workers that load it); the
test Redis harness took a NOAUTH reply for "not up yet" and waited out 100 retries
(5 s); a CLI that Redis refused sat 2 s before exiting (an ioredis disconnect timer on
a closed socket); suites start their sidecars at once; the agent's decisions became
fake-clock unit tests (the agent rebuild, the other half of issue 11); jest runs the longest suites first also on a fresh clone
(test/support/slow-first-sequencer.js) and uses 4 workers, since a run used about 0.6
of the 2 cores with 2: the suites mostly wait on heartbeats, leases and Prometheus
timers. Sleeps that stood for "a few heartbeats" or "nothing happens" became waits
on counted attempts, log lines and metrics.
`;
