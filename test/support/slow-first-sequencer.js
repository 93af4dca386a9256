// Runs the longest suites first, so the end of a run is not one long suite alone on
// one worker while the others idle. Jest's own sequencer does this only from the
// durations in its cache, which a fresh clone (CI) does not have: it then orders by
// file size, and the benchmark smoke test (about a minute) or the 20 s fail-over
// suites could start last. The estimates below (seconds, from a fresh-clone CI run
// on the quiet 2-core machine; suites under 5 s are left out) fill that gap; a
// duration jest has cached from an earlier run on this machine wins over them.
// Refresh them after a change that makes a suite much slower or faster:
//   npx jest --json --outputFile=/tmp/jest.json, then each suite's endTime - startTime.
const Sequencer = require('@jest/test-sequencer').default;
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

const ESTIMATED_SECONDS = {
  // Builds the image with buildah (test/deploy/image.process.test.ts): about 2 min warm, 3 cold on CI's fresh clone.
  'test/deploy/image.process.test.ts': 150,
  'test/agent/failures.process.test.ts': 80,
  'test/bench/quick.process.test.ts': 73,
  'test/reliability/cluster-verdict.process.test.ts': 56,
  'test/page/browser.e2e.test.ts': 53,
  'test/reliability/local-disk.process.test.ts': 51,
  'test/view/stale-rule.process.test.ts': 50,
  'test/reliability/sentinel-lag.process.test.ts': 49,
  'test/agent/data-loss-failed.process.test.ts': 44,
  'test/reliability/sentinel.process.test.ts': 43,
  'test/reliability/verdict.process.test.ts': 41,
  'test/agent/schedule.process.test.ts': 39,
  'test/reliability/redis-cluster-failover.process.test.ts': 34,
  'test/agent/data-loss.process.test.ts': 34,
  'test/alerting/oncall.e2e.test.ts': 32,
  'test/cli/credentials.process.test.ts': 31,
  'test/reliability/hostile-network.process.test.ts': 30,
  'test/reliability/redis-cluster.process.test.ts': 26,
  'test/reliability/partition.process.test.ts': 26,
  'test/alerting/prometheus.e2e.test.ts': 25,
  'test/reliability/cluster.process.test.ts': 24,
  'test/security/full-cycle-secrets.process.test.ts': 23,
  'test/agent/bad-answers.process.test.ts': 18,
  'test/credentials/crypto-switch-nodes.process.test.ts': 16,
  'test/alerting/oncall-probe.e2e.test.ts': 15,
  'test/protocol/fuzz-classify.test.ts': 13,
  'test/demo/demo.process.test.ts': 13,
  'test/authserver/fuzz.test.ts': 11,
  'test/http/sidecar-web-config.process.test.ts': 9,
  'test/security/secured-probes.process.test.ts': 9,
  'test/cli/status.process.test.ts': 9,
  'test/cli/module-loading.process.test.ts': 9,
  'test/security/secured-sidecar.process.test.ts': 8,
  'test/deploy/deploy.process.test.ts': 8,
  'test/doctor/doctor.process.test.ts': 8,
  'test/authserver/hardening.test.ts': 8,
  'test/aggregator/leader-election.test.ts': 8,
  'test/http/basic-auth-check.test.ts': 7,
  'test/cli/config.process.test.ts': 7,
  'test/authserver/protocol.test.ts': 7,
  'test/authserver/limit-race.process.test.ts': 6,
  'test/agent/shutdown.process.test.ts': 6,
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
