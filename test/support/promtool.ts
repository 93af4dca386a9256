import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Runs Prometheus' `promtool`, which owns the truth about rule, test and exposition
 * formats: our own checks could only approximate it. Synchronous on purpose: each
 * call takes seconds at most, and spawnSync kills the child itself on timeout, so
 * no process outlives a failed test.
 */

export interface PromtoolResult {
  /** Exit code; -1 when promtool was killed (timeout) or could not start. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together, for assertion messages. */
  readonly output: string;
}

export class PromtoolMissingError extends Error {
  readonly code = 'PROMTOOL_MISSING';
  constructor(looked: readonly string[]) {
    super(
      `promtool not found (looked at ${looked.join(', ')}). Install it with: apt-get install -y prometheus ` +
        '(as root; or run `npm test`, which installs it), or set PROMTOOL to its path.',
    );
    this.name = 'PromtoolMissingError';
  }
}

// A bound for a stuck promtool, not a speed target: alerts.test.yml takes about 4 s of
// CPU alone (each page_url template runs a query per case), and several times that on a
// loaded 2-core machine; 30 s was hit there.
const TIMEOUT_MS = 150_000;
let found: string | undefined;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of promtool: $PROMTOOL, else the first on PATH, else /usr/bin/promtool. */
export function findPromtool(): string {
  if (found) return found;
  const candidates: string[] = [];
  if (process.env.PROMTOOL) candidates.push(process.env.PROMTOOL);
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'promtool'));
  }
  candidates.push('/usr/bin/promtool', '/usr/local/bin/promtool');
  const hit = candidates.find(executable);
  if (!hit) throw new PromtoolMissingError([...new Set(candidates)]);
  found = hit;
  return hit;
}

/** Runs promtool with args (and stdin when given) in cwd. */
export function runPromtool(args: readonly string[], options: { stdin?: string; cwd?: string } = {}): PromtoolResult {
  const result = spawnSync(findPromtool(), [...args], {
    input: options.stdin ?? '',
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  const stdout = result.stdout ?? '';
  const stderr = result.error ? `${result.stderr ?? ''}${String(result.error)}` : (result.stderr ?? '');
  return { code: result.status ?? -1, stdout, stderr, output: `${stdout}${stderr}` };
}

/** `promtool check rules FILE`. */
export function checkRules(file: string): PromtoolResult {
  return runPromtool(['check', 'rules', file]);
}

/**
 * `promtool test rules FILE`, run from the file's directory because a test file
 * names its rule files relative to itself.
 */
export function testRules(file: string): PromtoolResult {
  const absolute = path.resolve(file);
  return runPromtool(['test', 'rules', path.basename(absolute)], { cwd: path.dirname(absolute) });
}

/** `promtool check config FILE` (also checks the rule files the config names). */
export function checkConfig(file: string): PromtoolResult {
  return runPromtool(['check', 'config', file]);
}

/** `promtool check metrics` on an exposition text (stdin). Lint problems exit 1 or 3. */
export function checkMetrics(text: string): PromtoolResult {
  return runPromtool(['check', 'metrics'], { stdin: text });
}
