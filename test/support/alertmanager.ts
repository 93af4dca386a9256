import { spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../harness/ports';
import { startServerProcess } from './server-process';

/**
 * A real Alertmanager for tests (Debian's `prometheus-alertmanager`, which .ci/run and
 * `npm test` install) running the configuration we ship in deploy/alertmanager/ —
 * only the receivers' addresses point at a webhook receiver of the test, and the
 * group timers are shortened — plus that receiver, which keeps every notification.
 */
const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SHIPPED_ALERTMANAGER_CONFIG = path.join(REPO_ROOT, 'deploy', 'alertmanager', 'alertmanager.yml');

function firstExecutable(what: string, candidates: readonly (string | undefined)[], install: string): string {
  const files = candidates.filter((c): c is string => Boolean(c));
  for (const file of files) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  throw new Error(`${what} not found (looked at ${files.join(', ')}): install it with \`${install}\` (npm test does, as root)`);
}

export function findAlertmanager(): string {
  return firstExecutable(
    'alertmanager',
    [process.env.ALERTMANAGER, '/usr/bin/prometheus-alertmanager', '/usr/local/bin/alertmanager'],
    'apt-get install -y prometheus-alertmanager',
  );
}

export function findAmtool(): string {
  return firstExecutable('amtool', [process.env.AMTOOL, '/usr/bin/amtool', '/usr/local/bin/amtool'], 'apt-get install -y prometheus-alertmanager');
}

/** Runs amtool with args; `output` is stdout and stderr together. */
export function amtool(args: readonly string[]): { code: number; stdout: string; output: string } {
  const r = spawnSync(findAmtool(), [...args], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/**
 * The shipped configuration with every receiver's webhook sent to `receiverUrl`
 * (its path kept, so the test sees which receiver a notification went to) and the
 * group timers set to `groupTimer`.
 */
export function alertmanagerConfigFromShipped(receiverUrl: string, groupTimer = '1s'): string {
  const shipped = readFileSync(SHIPPED_ALERTMANAGER_CONFIG, 'utf8');
  const placeholder = /http:\/\/127\.0\.0\.1:9095/g;
  if (!placeholder.test(shipped)) throw new Error(`${SHIPPED_ALERTMANAGER_CONFIG}: no placeholder receiver URL to replace`);
  let text = shipped.replace(placeholder, receiverUrl);
  for (const key of ['group_wait', 'group_interval']) {
    const pattern = new RegExp(`^(\\s*${key}:) \\S+$`, 'gm');
    if (!pattern.test(text)) throw new Error(`${SHIPPED_ALERTMANAGER_CONFIG}: no ${key} to shorten`);
    text = text.replace(new RegExp(`^(\\s*${key}:) \\S+$`, 'gm'), `$1 ${groupTimer}`);
  }
  return text;
}

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

export interface Notification {
  /** Path the webhook was posted to: which receiver sent it. */
  path: string;
  /** When the test received it (ms, Date.now()). */
  receivedAt: number;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  alerts: WebhookAlert[];
}

export interface WebhookReceiver {
  readonly url: string;
  readonly notifications: Notification[];
  /** Resolves with the first notification (past or future) that `match` accepts. */
  next(what: string, match: (n: Notification) => boolean, timeoutMs?: number): Promise<Notification>;
  close(): Promise<void>;
}

/** An HTTP server on loopback that keeps the webhook notifications Alertmanager posts. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: Notification[] = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Notification, 'path' | 'receivedAt'>;
      notifications.push({ path: req.url ?? '', receivedAt: Date.now(), status: body.status, groupLabels: body.groupLabels, alerts: body.alerts });
      res.end('ok');
      for (const wake of [...waiters]) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    notifications,
    next: (what, match, timeoutMs = 60_000) =>
      new Promise<Notification>((resolve, reject) => {
        const check = () => {
          const hit = notifications.find(match);
          if (!hit) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what}; notifications so far:\n${JSON.stringify(notifications.map(summarize), null, 1)}`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A notification in one line per alert, for failure messages. */
export function summarize(n: Notification): string[] {
  return n.alerts.map((a) => `${n.path} ${a.status} ${a.labels.alertname ?? '?'} ${a.labels.project ?? ''} ${a.labels.node ?? ''}`.trim());
}

export interface AmAlert {
  labels: Record<string, string>;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[]; silencedBy: string[] };
}

export interface TestAlertmanager {
  readonly url: string;
  /** host:port, for Prometheus' alertmanagers target. */
  readonly address: string;
  readonly child: ChildProcess;
  /** Posts alerts as Prometheus does (API v2). */
  post(alerts: ReadonlyArray<{ labels: Record<string, string>; annotations?: Record<string, string>; endsAt?: string }>): Promise<void>;
  /** The alerts Alertmanager holds, inhibited ones included. */
  alerts(): Promise<AmAlert[]>;
  log(): string;
  stop(): Promise<void>;
}

export async function startAlertmanager(config: string): Promise<TestAlertmanager> {
  const binary = findAlertmanager();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-alertmanager-'));
  const configFile = path.join(dir, 'alertmanager.yml');
  writeFileSync(configFile, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startServerProcess({
    name: 'alertmanager',
    binary,
    args: [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // No gossip cluster: a single instance, and no fixed port 9094 to collide on.
      '--cluster.listen-address=',
      '--log.level=debug',
    ],
    dir,
    url,
  });
  return {
    url,
    address: `127.0.0.1:${port}`,
    child: server.child,
    post: async (alerts) => {
      const res = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) throw new Error(`POST /api/v2/alerts: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    },
    alerts: async () => {
      const res = await fetch(`${url}/api/v2/alerts?inhibited=true&silenced=true&active=true`, { signal: AbortSignal.timeout(5000) });
      return (await res.json()) as AmAlert[];
    },
    log: server.log,
    stop: server.stop,
  };
}
