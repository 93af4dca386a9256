import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runBenchmarks } from '../../bench/run';
import type { BenchResults } from '../../bench/figure';
import { assertBuilt } from '../../harness/authserver';

/**
 * Smoke test of `npm run bench`: every benchmark runs at its quick size and reports
 * every figure with its value, baseline, ratio and target. Speed is not asserted
 * (the figures of a quick run mean nothing); the committed bench/results.json and
 * docs/benchmarks.md are left alone — the output goes to a temporary directory.
 */
// Every benchmark at its quick size, with real sidecars and servers: about two minutes on
// a quiet machine (`npm run bench -- --quick` took 146 s in CI, the fleet benchmark
// included), and more than six beside the other suites pinned to one core.
jest.setTimeout(900_000);

const EXPECTED = [
  'aggregation.round.100',
  'aggregation.round.1000',
  'aggregation.round.10000',
  'aggregation.roundTrips.100',
  'aggregation.roundTrips.1000',
  'aggregation.roundTrips.10000',
  'scrape.1000',
  'scrape.10000',
  'scrape.sameView.1000',
  'scrape.sameView.10000',
  'detection.p50',
  'detection.p99',
  'failover.graceful.median',
  'failover.graceful.max',
  'failover.crash.median',
  'failover.crash.max',
  'footprint.rss',
  'footprint.rss.max',
  'footprint.rss.tuned',
  'footprint.rss.jitless',
  'footprint.cpu',
  'authserver.throughput',
  'authserver.p99',
  'attempt.roundTrips',
  'attempt.commands',
  'page.render.100',
  'page.weight.100',
  'cli.help',
  'cli.status',
  'scrape.processMetrics',
  'fleet.connections',
  'fleet.idleCommands',
  'fleet.cpu',
  'fleet.commands',
  'fleet.memoryPerProject',
];

const ROOT = path.resolve(__dirname, '..', '..');

function read(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

it('runs every benchmark in quick mode and reports every figure with value, baseline, ratio and target', async () => {
  assertBuilt();
  const committed = { results: read(path.join(ROOT, 'bench', 'results.json')), doc: read(path.join(ROOT, 'docs', 'benchmarks.md')) };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-bench-quick-'));
  const out = path.join(dir, 'results.json');
  const doc = path.join(dir, 'benchmarks.md');
  const lines: string[] = [];
  const returned = await runBenchmarks({ quick: true, out, doc, log: (line) => lines.push(line) });

  const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
  expect(results).toEqual(JSON.parse(JSON.stringify(returned)));
  expect(results.quick).toBe(true);
  expect(lines.filter((l) => l.includes('FAILED'))).toEqual([]);
  // The Node 24 figures of benchmark 5 appear only where a Node 24 binary is found beside this process's Node.
  expect(
    results.figures
      .map((f) => f.id)
      .filter((id) => !id.startsWith('footprint.rss.node24'))
      .sort(),
  ).toEqual([...EXPECTED].sort());
  for (const f of results.figures) {
    expect(f).toEqual(
      expect.objectContaining({
        id: expect.any(String),
        name: expect.any(String),
        unit: expect.any(String),
        target: expect.any(String),
        baselineText: expect.any(String),
      }),
    );
    expect(Number.isFinite(f.value)).toBe(true);
    expect(f).toHaveProperty('baseline');
    expect(f).toHaveProperty('ratio');
    expect(f).toHaveProperty('met');
    expect(f.baseline === null || Number.isFinite(f.baseline)).toBe(true);
    // A ratio exactly when there is a numeric baseline above zero.
    if (f.baseline !== null && f.baseline > 0) expect(Number.isFinite(f.ratio)).toBe(true);
    else expect(f.ratio).toBeNull();
  }
  // Round trips of an aggregation round do not depend on the node count.
  const trips = results.figures.filter((f) => f.id.startsWith('aggregation.roundTrips.')).map((f) => f.value);
  expect(new Set(trips).size).toBe(1);

  const markdown = readFileSync(doc, 'utf8');
  expect(markdown).toContain('| figure | value | baseline | ratio | target | met? |');
  for (const f of results.figures) expect(markdown).toContain(`| ${f.name} |`);
  // The committed figures are untouched by a quick run.
  expect(read(path.join(ROOT, 'bench', 'results.json'))).toBe(committed.results);
  expect(read(path.join(ROOT, 'docs', 'benchmarks.md'))).toBe(committed.doc);
});
