import { Registry } from 'prom-client';
import { ClusterMetrics } from '../daemon/aggregator/cluster-metrics';
import { monotonicClock } from '../shared/clock';
import { NodeMetrics } from '../daemon/metrics/node-metrics';
import { startRedis } from '../harness/redis-server';
import { ClusterFixture, PROJECT } from './cluster-fixture';
import { figure, median, msSince, type BenchContext, type Figure } from './figure';

/**
 * Benchmarks 1 and 2 on one fixture per cluster size.
 *
 * 1. One aggregation round (Aggregator.refresh(): ProjectViewReader.read() — ZRANGE +
 *    one pipeline — compute, and the status write when the status changed) against
 *    the raw read of the same records (one pipelined HGETALL of every node key), the
 *    two interleaved so that noise hits both alike. Round trips are counted on the
 *    leader's connection: they must not grow with the node count.
 * 2. One scrape (registry.metrics() of a leader with the cluster metrics, served from
 *    the leader's view) against the same registry with only the node-level metrics.
 *    The aggregator refreshes its view before every timed scrape (untimed), so each
 *    scrape pays for refilling the series from a new view as well as rendering them:
 *    the worst case, when the sweep or an event has just replaced the view.
 */
const SIZES = [100, 1000, 10_000] as const;
const SCRAPE_SIZES: readonly number[] = [1000, 10_000];

function repetitions(nodes: number, quick: boolean): number {
  if (quick) return nodes >= 10_000 ? 3 : 5;
  return nodes >= 10_000 ? 15 : 40;
}

async function timeIt(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return msSince(start);
}

export async function benchAggregation(ctx: BenchContext): Promise<Figure[]> {
  const redis = await startRedis();
  const figures: Figure[] = [];
  const tripsByNodes: Record<number, number> = {};
  for (const nodes of SIZES) {
    await redis.flush();
    const fixture = new ClusterFixture({ redis, nodes });
    await fixture.start();
    try {
      const aggregator = fixture.leader.aggregator;
      if (!aggregator) throw new Error('fixture has no aggregator');
      const reps = repetitions(nodes, ctx.quick);
      const rounds: number[] = [];
      const raws: number[] = [];
      // Warm-up: JIT, script cache, connection buffers.
      await fixture.rawRead();
      await aggregator.refresh();
      let roundTrips = 0;
      let commands = 0;
      for (let i = 0; i < reps; i++) {
        raws.push(await timeIt(() => fixture.rawRead()));
        const b = fixture.counter.snapshot();
        rounds.push(
          await timeIt(async () => {
            const view = await aggregator.refresh();
            if (!view || view.nodes.length !== nodes) throw new Error(`round saw ${view?.nodes.length ?? 'no'} nodes, expected ${nodes}`);
          }),
        );
        const d = fixture.counter.since(b);
        roundTrips += d.roundTrips;
        commands += d.commands;
      }
      const perRound = roundTrips / reps;
      tripsByNodes[nodes] = perRound;
      const round = median(rounds);
      const raw = median(raws);
      ctx.log(`aggregation ${nodes} nodes: round ${round.toFixed(2)} ms, raw ${raw.toFixed(2)} ms, ${perRound} round trips, ${commands / reps} commands`);
      figures.push(
        figure({
          id: `aggregation.round.${nodes}`,
          name: `Aggregation round, ${nodes.toLocaleString('en-US')} nodes (median of ${reps})`,
          value: round,
          unit: 'ms',
          baseline: raw,
          baselineText: 'one pipelined HGETALL of every node key',
          target: 'ratio ≤ 2',
          met: round <= 2 * raw,
        }),
      );
      figures.push(
        figure({
          id: `aggregation.roundTrips.${nodes}`,
          name: `Redis round trips per aggregation round, ${nodes.toLocaleString('en-US')} nodes`,
          value: perRound,
          unit: 'round trips',
          baseline: 1,
          baselineText: 'raw read: 1 pipeline',
          target: 'same at every node count',
          met: null,
          notes: `${round2(commands / reps)} commands a round: ZRANGE of the nodes, then one pipeline with the project's own keys (time, status, credential fields, leader, recovery, corrupt-record count) and one HGETALL a node`,
        }),
      );
      if (SCRAPE_SIZES.includes(nodes)) figures.push(...(await benchScrape(ctx, fixture, nodes)));
    } finally {
      await fixture.close();
    }
  }
  // Constant round trips: every size must show the same count.
  const counts = new Set(Object.values(tripsByNodes));
  for (const f of figures) if (f.id.startsWith('aggregation.roundTrips.')) f.met = counts.size === 1;
  await redis.dispose();
  return figures;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

async function benchScrape(ctx: BenchContext, fixture: ClusterFixture, nodes: number): Promise<Figure[]> {
  const aggregator = fixture.leader.aggregator;
  if (!aggregator) throw new Error('fixture has no aggregator');
  const sources = { journalPending: () => 0, redisUp: () => true, localStateWritable: () => true };
  const full = new Registry();
  new NodeMetrics(full, PROJECT, 'bench-leader', sources).attemptFinished(true, null, 0.12);
  const cluster = new ClusterMetrics(full, aggregator, fixture.leader.election, { clock: monotonicClock });
  // What the sidecar's /metrics serves: the registry, then the cluster series.
  const scrape = async () => (await full.metrics()) + cluster.text();
  const nodeOnly = new Registry();
  new NodeMetrics(nodeOnly, PROJECT, 'bench-leader', sources).attemptFinished(true, null, 0.12);

  const reps = ctx.quick ? 3 : nodes >= 10_000 ? 10 : 30;
  const scrapes: number[] = [];
  const renders: number[] = [];
  const bases: number[] = [];
  let bytes = 0;
  await aggregator.refresh();
  await scrape();
  await nodeOnly.metrics();
  let scrapeTrips = 0;
  for (let i = 0; i < reps; i++) {
    // A new view, as the sweep or a change event makes one (not timed: it is the
    // aggregation round of benchmark 1, which runs whether anyone scrapes or not).
    const view = await aggregator.refresh();
    if (!view || view.nodes.length !== nodes) throw new Error(`the leader's view has ${view?.nodes.length ?? 'no'} nodes, expected ${nodes}`);
    const before = fixture.counter.snapshot();
    bases.push(await timeIt(() => nodeOnly.metrics()));
    scrapes.push(
      await timeIt(async () => {
        const text = await scrape();
        bytes = text.length;
        if (!text.includes('node_status{')) throw new Error('the scrape has no cluster series');
      }),
    );
    // The same view scraped again: rendering only.
    renders.push(await timeIt(scrape));
    scrapeTrips += fixture.counter.since(before).roundTrips;
  }
  const value = median(scrapes);
  const base = median(bases);
  const render = median(renders);
  ctx.log(
    `scrape ${nodes} nodes: ${value.toFixed(2)} ms after a new view, ${render.toFixed(2)} ms same view (${bytes} bytes), node-level only ${base.toFixed(3)} ms, ${scrapeTrips} Redis round trips in the scrapes`,
  );
  const common = { unit: 'ms', baseline: base, baselineText: 'registry.metrics() with only the node-level metrics', digits: 3 } as const;
  return [
    figure({
      ...common,
      id: `scrape.${nodes}`,
      name: `Scrape /metrics on the leader, ${nodes.toLocaleString('en-US')} nodes, from its view (median of ${reps})`,
      value,
      target: nodes === 1000 ? '≤ 10 ms' : 'reported (target at 1,000 nodes)',
      met: nodes === 1000 ? value <= 10 : null,
      notes: `${Math.round(bytes / 1024)} KiB of text; each scrape follows a new view, so it renders the cluster text of that view once; no Redis round trip (${scrapeTrips} counted during the scrapes)`,
    }),
    figure({
      ...common,
      id: `scrape.sameView.${nodes}`,
      name: `Scrape /metrics again on an unchanged view, ${nodes.toLocaleString('en-US')} nodes (median of ${reps})`,
      value: render,
      target: 'reported',
      met: null,
      notes: 'the cluster text rendered for this view is reused; only view_age_seconds and the registry are rendered',
    }),
  ];
}
