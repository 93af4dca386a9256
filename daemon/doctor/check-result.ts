/**
 * One line of `fdl-cloudauth doctor`: what was checked, whether it passed, and when it
 * did not, what to do. Optional checks (the management center) are shown but do not
 * decide the exit code.
 */
export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly ok: boolean;
  readonly required: boolean;
  readonly detail: string;
  /** What to do when the check fails; null when it passed. */
  readonly fix: string | null;
}

export function pass(id: string, title: string, detail: string, required = true): CheckResult {
  return { id, title, ok: true, required, detail, fix: null };
}

export function fail(id: string, title: string, detail: string, fix: string, required = true): CheckResult {
  return { id, title, ok: false, required, detail, fix };
}
