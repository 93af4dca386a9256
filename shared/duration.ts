/**
 * Durations are written by humans as `500ms`, `15s`, `10m`, `2h`, `1d` and seen by code
 * as milliseconds. A bare number is taken as milliseconds (convenient in JSON files).
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

export class DurationFormatError extends Error {
  readonly code = 'ERR_DURATION_FORMAT';
}

export function parseDuration(value: unknown): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
    throw new DurationFormatError(`must be a non-negative duration, got ${value}`);
  }
  if (typeof value !== 'string') throw new DurationFormatError('must be a duration such as 500ms, 15s, 2h');
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const match = PATTERN.exec(trimmed);
  if (!match) {
    throw new DurationFormatError(`"${value}" is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 500ms, 15s, 2h`);
  }
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
