import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../harness/ports';
import { startServerProcess } from './server-process';

/**
 * A real Prometheus server for end-to-end tests (Debian's `prometheus` package, which
 * .ci/run and `npm test` install). Its configuration is generated from the files we
 * ship in deploy/prometheus/ — only the targets and the intervals are changed, and
 * the alerts' `for:` durations shortened — so the test exercises exactly what an
 * operator copies.
 */
const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SHIPPED_CONFIG = path.join(REPO_ROOT, 'deploy', 'prometheus', 'prometheus.yml');
export const SHIPPED_RULES = path.join(REPO_ROOT, 'deploy', 'prometheus', 'alerts.yml');

export function findPrometheus(): string {
  const candidates = [process.env.PROMETHEUS, '/usr/bin/prometheus', '/usr/local/bin/prometheus'].filter((c): c is string => Boolean(c));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  throw new Error(
    `prometheus not found (looked at ${candidates.join(', ')}): install it with \`apt-get install -y prometheus\` (npm test does, as root) or set PROMETHEUS`,
  );
}

/** deploy/prometheus/prometheus.yml with our targets and every interval set to `interval`. */
export function configFromShipped(targets: readonly string[], interval = '1s'): string {
  const shipped = readFileSync(SHIPPED_CONFIG, 'utf8');
  const targetLine = /^(\s*)- fdl-node-\d+\.example\.internal:9464\n/gm;
  const found = shipped.match(targetLine) ?? [];
  if (found.length === 0) throw new Error(`${SHIPPED_CONFIG}: no example target lines (fdl-node-N.example.internal:9464) to replace`);
  let first = true;
  let text = shipped.replace(targetLine, (_line, indent: string) => {
    if (!first) return '';
    first = false;
    return targets.map((t) => `${indent}- ${t}\n`).join('');
  });
  for (const key of ['scrape_interval', 'evaluation_interval', 'scrape_timeout']) {
    const pattern = new RegExp(`^(\\s*${key}:) \\S+$`, 'gm');
    if (key !== 'scrape_timeout' && !pattern.test(text)) throw new Error(`${SHIPPED_CONFIG}: no ${key} to shorten`);
    text = text.replace(new RegExp(`^(\\s*${key}:) \\S+$`, 'gm'), `$1 ${interval}`);
  }
  return text;
}

/**
 * deploy/prometheus/alerts.yml with every `for:` shortened to `forDuration`, except
 * the alerts named in `forOf`, which get their own. A test that shortens the leader
 * alerts must keep their `for:` longer than its own lease + renew + a scrape or two,
 * as the shipped 1 minute is longer than the default 15 s lease: a hand-over or one
 * missed scrape of the leader is not "no leader".
 */
export function rulesFromShipped(forDuration = '2s', forOf: Readonly<Record<string, string>> = {}): string {
  const shipped = readFileSync(SHIPPED_RULES, 'utf8');
  const pattern = /^(\s*for:) \S+$/gm;
  if (!pattern.test(shipped)) throw new Error(`${SHIPPED_RULES}: no \`for:\` durations found`);
  // Each rule's text runs from its `- alert:` line to the next one.
  const parts = shipped.split(/(?=^\s*- alert: )/m);
  const seen = new Set<string>();
  const out = parts.map((part) => {
    const name = /^\s*- alert: (\S+)/.exec(part)?.[1];
    const duration = name !== undefined && forOf[name] !== undefined ? forOf[name] : forDuration;
    if (name !== undefined && forOf[name] !== undefined) seen.add(name);
    return part.replace(/^(\s*for:) \S+$/gm, `$1 ${duration}`);
  });
  const unknown = Object.keys(forOf).filter((n) => !seen.has(n));
  if (unknown.length > 0) throw new Error(`${SHIPPED_RULES}: no alert named ${unknown.join(', ')}`);
  return out.join('');
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

export interface PromRule {
  name: string;
  type: 'alerting' | 'recording';
  state?: 'inactive' | 'pending' | 'firing';
  health: string;
  lastError?: string;
  /** RFC 3339 time of the rule's latest evaluation. */
  lastEvaluation?: string;
  alerts?: PromAlert[];
}

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

export interface TestPrometheus {
  readonly url: string;
  readonly dir: string;
  readonly child: ChildProcess;
  query(promql: string): Promise<PromSeries[]>;
  alerts(): Promise<PromAlert[]>;
  rules(): Promise<PromRule[]>;
  log(): string;
  /** SIGTERM, wait for exit, remove the directory. */
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${res.status} ${body.error ?? ''}`);
  return body.data;
}

export async function startPrometheus(o: { config: string; rules: string }): Promise<TestPrometheus> {
  const binary = findPrometheus();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-prometheus-'));
  writeFileSync(path.join(dir, 'prometheus.yml'), o.config);
  // The shipped config names its rule file relative to itself: alerts.yml.
  writeFileSync(path.join(dir, 'alerts.yml'), o.rules);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startServerProcess({
    name: 'prometheus',
    binary,
    args: [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=info',
    ],
    dir,
    url,
  });
  return {
    url,
    dir,
    child: server.child,
    query: async (promql) => (await api<{ result: PromSeries[] }>(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    alerts: async () => (await api<{ alerts: PromAlert[] }>(`${url}/api/v1/alerts`)).alerts,
    rules: async () => (await api<{ groups: Array<{ rules: PromRule[] }> }>(`${url}/api/v1/rules?type=alert`)).groups.flatMap((g) => g.rules),
    log: server.log,
    stop: server.stop,
  };
}
