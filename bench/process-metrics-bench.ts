import { Registry } from 'prom-client';
import { NodeMetrics } from '../daemon/metrics/node-metrics';
import { registerProcessMetrics } from '../daemon/metrics/process-metrics';
import { figure, median, msSince, type BenchContext, type Figure } from './figure';

/**
 * 10. What prom-client's default process and Node.js series (issue 32) add to every
 * scrape of every sidecar: `registry.metrics()` of a sidecar's node series with them,
 * against the same series without them, alternated in one loop so both see the same
 * machine load. They are read at scrape time (memory, file descriptors from /proc, the
 * event-loop histogram), so the figure is their whole cost; the bytes are their
 * share of the text Prometheus stores.
 */
async function timeIt(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return msSince(start);
}

export async function benchProcessMetrics(ctx: BenchContext): Promise<Figure[]> {
  const sources = { journalPending: () => 0, redisUp: () => true, localStateWritable: () => true };
  const without = new Registry();
  new NodeMetrics(without, 'bench', 'n1', sources).attemptFinished(true, null, 0.12);
  const withDefaults = new Registry();
  registerProcessMetrics(withDefaults);
  new NodeMetrics(withDefaults, 'bench', 'n1', sources).attemptFinished(true, null, 0.12);

  const reps = ctx.quick ? 50 : 500;
  // Warm both paths first (JIT, the first /proc reads).
  for (let i = 0; i < 20; i++) await Promise.all([without.metrics(), withDefaults.metrics()]);
  const bases: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < reps; i++) {
    bases.push(await timeIt(() => without.metrics()));
    values.push(await timeIt(() => withDefaults.metrics()));
  }
  const baseBytes = (await without.metrics()).length;
  const bytes = (await withDefaults.metrics()).length;
  const families = [...(await withDefaults.metrics()).matchAll(/^# TYPE (process_|nodejs_)/gm)].length;
  const value = median(values);
  const base = median(bases);
  ctx.log(
    `node series ${base.toFixed(3)} ms (${baseBytes} bytes); with the process and Node.js series ${value.toFixed(3)} ms (${bytes} bytes, ${families} families)`,
  );
  return [
    figure({
      id: 'scrape.processMetrics',
      name: `Scrape of one sidecar's registry with prom-client's process and Node.js series (median of ${reps})`,
      value,
      unit: 'ms',
      baseline: base,
      baselineText: 'the same node series without them',
      digits: 3,
      target: '≤ 1 ms added',
      met: value - base <= 1,
      notes: `${families} process_/nodejs_ families, ${Math.round((bytes - baseBytes) / 1024)} KiB of text added to every scrape (${Math.round(baseBytes / 1024)} KiB without them)`,
    }),
  ];
}
