import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../shared/package-root';
import { disposeAllRedis } from '../harness/redis-server';
import { killAllTracked } from '../harness/process-registry';
import { benchAggregation } from './aggregation-bench';
import { benchAttemptCost } from './attempt-cost-bench';
import { benchAuthServer } from './authserver-bench';
import { benchCli } from './cli-bench';
import { benchDetection } from './detection-bench';
import { benchFailover } from './failover-bench';
import { benchFleet } from './fleet-bench';
import { benchFootprint } from './footprint-bench';
import { benchPage } from './page-bench';
import { benchProcessMetrics } from './process-metrics-bench';
import type { BenchContext, BenchResults, Figure } from './figure';
import { renderMarkdown } from './report';

/**
 * `npm run bench` (all benchmarks, full sizes: bench/results.json and
 * docs/benchmarks.md) and `npm run bench -- --quick` (small sizes; written under
 * .tmp/bench-quick/ unless --out/--doc say otherwise, so a quick run never replaces
 * the committed figures). `--only aggregation,failover` runs a subset;
 * `--render [results.json]` only rewrites docs/benchmarks.md from stored results.
 */
export interface BenchOptions {
  quick: boolean;
  /** results.json path; null: do not write. */
  out: string | null;
  /** Markdown path; null: do not write. */
  doc: string | null;
  only?: readonly string[];
  log?: (line: string) => void;
}

interface Bench {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export const BENCHES: readonly Bench[] = [
  { id: 'aggregation', title: '1–2. Aggregation round and scrape', run: benchAggregation },
  { id: 'detection', title: '3. Detection latency', run: benchDetection },
  { id: 'failover', title: '4. Failover', run: benchFailover },
  { id: 'footprint', title: '5. Footprint of an idle sidecar', run: benchFootprint },
  { id: 'authserver', title: '6. Reference server throughput', run: benchAuthServer },
  { id: 'attempt', title: '7. Cost of one attempt', run: benchAttemptCost },
  { id: 'page', title: '8. Registration page', run: benchPage },
  { id: 'cli', title: '9. CLI start-up', run: benchCli },
  { id: 'fleet', title: '10. Sidecars on a shared Redis', run: benchFleet },
  { id: 'process', title: '11. Process and Node.js series', run: benchProcessMetrics },
];

function redisVersion(): string {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ').trim();
  } catch {
    return 'redis (version unknown)';
  }
}

export async function runBenchmarks(options: BenchOptions): Promise<BenchResults> {
  const log = options.log ?? ((line: string) => console.log(line));
  const started = Date.now();
  const figures: Figure[] = [];
  const notes: Record<string, string[]> = {};
  const failures: string[] = [];
  for (const bench of BENCHES) {
    if (options.only && !options.only.includes(bench.id)) continue;
    const benchNotes: string[] = [];
    notes[bench.title] = benchNotes;
    const ctx: BenchContext = {
      quick: options.quick,
      log: (message) => log(`[${bench.id}] ${message}`),
      note: (paragraph) => benchNotes.push(paragraph),
    };
    const t0 = Date.now();
    log(`[${bench.id}] started`);
    try {
      figures.push(...(await bench.run(ctx)));
    } catch (error) {
      // One broken benchmark must not lose the others' figures; it is reported as such.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push(`${bench.id}: ${message}`);
      benchNotes.push(`**This benchmark failed in this run:** \`${(error as Error).message ?? String(error)}\``);
      log(`[${bench.id}] FAILED: ${message}`);
    } finally {
      await disposeAllRedis();
    }
    log(`[${bench.id}] done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const cpus = os.cpus();
  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    quick: options.quick,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      node: process.version,
      redis: redisVersion(),
      platform: `${os.platform()} ${os.release()}`,
    },
    durationSeconds: Math.round((Date.now() - started) / 1000),
    figures,
    notes,
  };
  if (options.out) {
    mkdirSync(path.dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  }
  if (options.doc) {
    mkdirSync(path.dirname(options.doc), { recursive: true });
    writeFileSync(options.doc, renderMarkdown(results));
  }
  if (failures.length > 0) log(`${failures.length} benchmark(s) failed:\n${failures.join('\n')}`);
  return results;
}

function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const root = packageRoot();
  const quickDir = path.join(root, '.tmp', 'bench-quick');
  const out = value('--out') ?? (quick ? path.join(quickDir, 'results.json') : path.join(root, 'bench', 'results.json'));
  const doc = value('--doc') ?? (quick ? path.join(quickDir, 'benchmarks.md') : path.join(root, 'docs', 'benchmarks.md'));
  const only = value('--only')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return { quick, out, doc, ...(only ? { only } : {}) };
}

/** `--render <results.json>`: rewrites the Markdown from stored results, measuring nothing. */
function render(argv: readonly string[]): boolean {
  const i = argv.indexOf('--render');
  if (i < 0) return false;
  const root = packageRoot();
  const from = argv[i + 1] ?? path.join(root, 'bench', 'results.json');
  const doc = parseArgs(argv).doc ?? path.join(root, 'docs', 'benchmarks.md');
  writeFileSync(doc, renderMarkdown(JSON.parse(readFileSync(from, 'utf8')) as BenchResults));
  console.log(`rendered ${doc} from ${from}`);
  return true;
}

if (require.main === module && !render(process.argv.slice(2))) {
  const options = parseArgs(process.argv.slice(2));
  runBenchmarks(options)
    .then((results) => {
      console.log(`wrote ${options.out} and ${options.doc} (${results.figures.length} figures)`);
      killAllTracked();
      process.exit(0);
    })
    .catch((error: unknown) => {
      console.error(error);
      killAllTracked();
      process.exit(1);
    });
}
