import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SidecarServer } from '../../daemon/http/sidecar-server';
import { WebConfigSource } from '../../daemon/http/web-config-source';
import { registerWebConfigMetrics } from '../../daemon/metrics/web-config-metrics';
import { track } from '../../harness/process-registry';

/**
 * A web configuration re-read while another process rewrites it (issue 28, item 6).
 * Before: a reader that caught the file between its truncation and its new content
 * loaded "no users" — the endpoints open without credentials — and the stat that
 * would notice the change ran after the read, so the half-read file stayed in force
 * after the good one was completely written, with the reload metric at 1.
 *
 * A writer process rewrites the file thousands of times (truncate, write, as
 * `writeFileSync` and most editors do) while this worker asks /metrics without
 * credentials as fast as it can: never a 200. Once the writer is done, the file in
 * force is the good one. Then a truncated file and one with every user removed are
 * refused, the last good configuration stays, and the reload metric reads 0.
 */
jest.setTimeout(120_000);

const USER = 'prometheus';
const PASSWORD = 'race-Right-Pw-3';
let dir: string;
let file: string;
let server: SidecarServer;
let source: WebConfigSource;
const registry = new Registry();

function get(pathname: string, auth?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
    http
      .get({ host: '127.0.0.1', port: server.port, path: pathname, headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

async function reloadGauge(): Promise<string | undefined> {
  const text = await registry.metrics();
  return /^fdl_cloudauth_web_config_last_reload_successful (\S+)$/m.exec(text)?.[1];
}

// Two good files with the same user (different salts), so every rewrite is a change.
const goods: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-reload-race-'));
  file = path.join(dir, 'web.yml');
  for (let i = 0; i < 2; i++)
    goods.push(`# a comment that makes the file long enough to be caught half-written\nbasic_auth_users:\n  ${USER}: ${bcrypt.hashSync(PASSWORD, 4)}\n`);
  writeFileSync(file, goods[0] as string);
  source = new WebConfigSource(file, pino({ level: 'silent' }));
  registerWebConfigMetrics(registry, source);
  server = new SidecarServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    logger: pino({ level: 'silent' }),
    readiness: () => ({ ready: true, checks: {} }),
    status: () => Promise.resolve({}),
    webConfig: source,
  });
  await server.start();
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

it('never answers without credentials while the file is rewritten, and serves the good file once it is written', async () => {
  const rewrites = 4000;
  // The writer ends on goods[1]: the file in force afterwards must be exactly it.
  const script = `const fs = require('fs'); const [f, a, b, n] = process.argv.slice(1); for (let i = 0; i < Number(n); i++) fs.writeFileSync(f, i % 2 ? b : a);`;
  const writer = spawn(process.execPath, ['-e', script, file, goods[0] as string, goods[1] as string, String(rewrites)], { stdio: 'ignore' });
  track(writer);
  let done = false;
  const exited = new Promise<void>((resolve) => writer.once('exit', () => resolve()));
  void exited.then(() => (done = true));
  const open: number[] = [];
  let asked = 0;
  while (!done) {
    const status = await get('/metrics');
    asked += 1;
    if (status === 200) open.push(asked);
  }
  await exited;
  console.log(`reload race: ${rewrites} rewrites, ${asked} requests without credentials during them, ${open.length} answered 200`);
  expect(open).toEqual([]);
  // The writer is done: the good file is in force, whatever the last reader caught.
  expect(await get('/metrics')).toBe(401);
  expect(await get('/metrics', `${USER}:${PASSWORD}`)).toBe(200);
  expect(await reloadGauge()).toBe('1');
});

it('keeps the last good configuration when the file is truncated or every user is removed, with the reload metric at 0', async () => {
  const good = goods[1] as string;
  for (const bad of [good.slice(0, good.indexOf('basic_auth_users')), good.slice(0, good.indexOf(`  ${USER}`)), '', 'basic_auth_users: {}\n']) {
    writeFileSync(file, bad);
    expect([JSON.stringify(bad), await get('/metrics')]).toEqual([JSON.stringify(bad), 401]);
    expect(await reloadGauge()).toBe('0');
    expect(await get('/metrics', `${USER}:${PASSWORD}`)).toBe(200);
  }
  writeFileSync(file, good);
  expect(await get('/metrics', `${USER}:${PASSWORD}`)).toBe(200);
  expect(await reloadGauge()).toBe('1');
});
