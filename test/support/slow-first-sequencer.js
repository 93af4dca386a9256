// Runs the longest suites first, so the end of a run is not one long suite alone on
// one worker while the others idle. Jest's own sequencer does this only from the
// durations in its cache, which a fresh clone (CI) does not have: it then orders by
// file size, and the benchmark smoke test (about a minute) or the 20 s fail-over
// suites could start last. The estimates below (seconds, from a fresh-clone CI run
// on the 2-core machine beside other work, load average 8-10; suites under 5 s are
// left out) fill that gap; a
// duration jest has cached from an earlier run on this machine wins over them.
// Refresh them after a change that makes a suite much slower or faster:
//   npx jest --json --outputFile=/tmp/jest.json, then each suite's endTime - startTime.
const Sequencer = require('@jest/test-sequencer').default;
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

const ESTIMATED_SECONDS = {
  'test/bench/quick.test.ts': 101,
  'test/reliability/cluster-verdict-e2e.test.ts': 60,
  'test/aggregator/stale-rule.test.ts': 55,
  'test/reliability/local-disk.test.ts': 50,
  'test/agent/failures.test.ts': 47,
  'test/agent/data-loss-failed.test.ts': 47,
  'test/page/browser.test.ts': 46,
  'test/cli/credentials.test.ts': 46,
  'test/reliability/cluster-e2e.test.ts': 45,
  'test/reliability/redis-cluster.test.ts': 40,
  'test/agent/data-loss.test.ts': 32,
  'test/agent/schedule.test.ts': 30,
  'test/reliability/sentinel-lag.test.ts': 29,
  'test/reliability/redis-cluster-failover.test.ts': 28,
  'test/reliability/partition.test.ts': 28,
  'test/alerting/oncall-e2e.test.ts': 28,
  'test/protocol/fuzz-classify.test.ts': 27,
  'test/security/full-cycle-secrets.test.ts': 26,
  'test/reliability/hostile-network.test.ts': 26,
  'test/alerting/prometheus-e2e.test.ts': 25,
  'test/reliability/sentinel.test.ts': 24,
  'test/authserver/fuzz.test.ts': 24,
  'test/security/secured-sidecar-e2e.test.ts': 22,
  'test/credentials/crypto-switch-nodes.test.ts': 21,
  'test/cli/module-loading.test.ts': 21,
  'test/deploy/deploy.test.ts': 20,
  'test/cli/demo.test.ts': 18,
  'test/agent/bad-answers.test.ts': 18,
  'test/cli/config.test.ts': 17,
  'test/alerting/oncall-probe-e2e.test.ts': 17,
  'test/cli/daemon-exit.test.ts': 13,
  'test/security/sidecar-web-config.test.ts': 12,
  'test/security/redis-tls.test.ts': 12,
  'test/deploy/dockerfile.test.ts': 11,
  'test/cli/status.test.ts': 10,
  'test/cli/doctor.test.ts': 10,
  'test/alerting/alerts.test.ts': 10,
  'test/credentials/credentials.test.ts': 9,
  'test/authserver/protocol.test.ts': 9,
  'test/agent/shutdown.test.ts': 9,
  'test/authserver/hardening.test.ts': 8,
  'test/authserver/logs.test.ts': 7,
  'test/aggregator/leader-election.test.ts': 6,
};

class SlowFirstSequencer extends Sequencer {
  /** Expected seconds of a suite: jest's cached duration, else the estimate, else 0. */
  expected(test) {
    const cached = this.time(test);
    if (cached !== undefined) return cached / 1000;
    return ESTIMATED_SECONDS[path.relative(ROOT, test.path).split(path.sep).join('/')] ?? 0;
  }

  sort(tests) {
    // Jest's order first (failed suites first, then by its cached time or file size);
    // a stable sort by expected duration keeps it among suites expected to be equal.
    const ordered = super.sort([...tests]);
    const seconds = new Map(ordered.map((t) => [t, this.expected(t)]));
    return ordered.sort((a, b) => seconds.get(b) - seconds.get(a));
  }
}

module.exports = SlowFirstSequencer;
