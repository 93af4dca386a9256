/**
 * Words and times for the Registration page. Times are shown in UTC with the ISO time
 * in a `datetime` attribute, so an on-call engineer in another time zone reads the same
 * thing as the runbook and the metrics.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "5 h 40 min", "2 d 4 h", "35 min", "40 s". */
export function spanWords(ms: number): string {
  const abs = Math.max(0, Math.floor(ms));
  if (abs < MINUTE) return `${Math.floor(abs / 1000)} s`;
  if (abs < HOUR) return `${Math.floor(abs / MINUTE)} min`;
  if (abs < DAY) return `${Math.floor(abs / HOUR)} h ${Math.floor((abs % HOUR) / MINUTE)} min`;
  return `${Math.floor(abs / DAY)} d ${Math.floor((abs % DAY) / HOUR)} h`;
}

/** "2026-12-01 15:04 UTC" from an ISO time or ms. */
export function utc(time: string | number): string {
  const iso = new Date(time).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** "3 h ago", "in 2 d 1 h" relative to `now`. */
export function relative(time: string | number, now: number): string {
  const delta = new Date(time).getTime() - now;
  return delta <= 0 ? `${spanWords(-delta)} ago` : `in ${spanWords(delta)}`;
}
