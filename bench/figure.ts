/**
 * One measured figure of the benchmark report: the value, the baseline measured
 * beside it in the same run (or, where no baseline can be run here, a published
 * figure given as text), their ratio and the target it is held to.
 */
export interface Figure {
  /** Stable id, e.g. `aggregation.round.1000`. */
  id: string;
  /** What is measured, for the table. */
  name: string;
  value: number;
  unit: string;
  /** The baseline's value in the same unit; null when only a text baseline exists. */
  baseline: number | null;
  baselineText: string;
  /** value / baseline; null without a numeric baseline. */
  ratio: number | null;
  /** The target, as text (e.g. `ratio ≤ 2`). */
  target: string;
  /** null when the figure is reported without a pass/fail target. */
  met: boolean | null;
  notes?: string;
}

export interface BenchContext {
  quick: boolean;
  /** Progress lines for the console (never part of the results). */
  log(message: string): void;
  /** A paragraph for this benchmark's section of docs/benchmarks.md. */
  note(paragraph: string): void;
}

export interface BenchResults {
  generatedAt: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; node: string; redis: string; platform: string };
  durationSeconds: number;
  figures: Figure[];
  /** Free-form notes per benchmark (profiles, explanations). */
  notes: Record<string, string[]>;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function ratioOf(value: number, baseline: number | null): number | null {
  if (baseline === null || !(baseline > 0)) return null;
  return round(value / baseline, 3);
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function max(samples: readonly number[]): number {
  return samples.reduce((m, v) => (v > m ? v : m), Number.NEGATIVE_INFINITY);
}

/** Milliseconds elapsed since `startNs` (process.hrtime.bigint()). */
export function msSince(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e6;
}

export function figure(f: Omit<Figure, 'ratio' | 'value' | 'baseline'> & { value: number; baseline: number | null; digits?: number }): Figure {
  const digits = f.digits ?? 2;
  const { digits: _digits, ...rest } = f;
  const value = round(f.value, digits);
  const baseline = f.baseline === null ? null : round(f.baseline, digits);
  return { ...rest, value, baseline, ratio: ratioOf(f.value, f.baseline) };
}
