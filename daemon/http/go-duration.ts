/**
 * A duration as exporter-toolkit reads one from YAML (Go's time.ParseDuration): a
 * sequence of numbers with units (`1s`, `1m30s`, `250ms`, `1.5h`), or a bare integer,
 * which Go takes as nanoseconds. Returns milliseconds, or undefined when it is not one.
 */
const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseGoDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value / 1e6 : undefined;
  if (typeof value !== 'string') return undefined;
  if (value === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < value.length) {
    part.lastIndex = at;
    const match = part.exec(value);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    at = part.lastIndex;
  }
  return at > 0 ? total : undefined;
}
