import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { Registry } from 'prom-client';
import { SidecarServer } from '../../daemon/http/sidecar-server';
import { loadWebConfig } from '../../daemon/http/web-config';
import type { StatusJson } from '../../daemon/view/status-json';
import { silentLog } from '../../harness/sidecar-parts';

/**
 * `GET /` is built from the very status `/status` serves: the HTTP server asks the one
 * status source once per page and hands that promise to the page, which computes no
 * status of its own.
 */
const STATUS = { project: 'p', status: 'registered', nodes: [] } as unknown as StatusJson;
const PAGE = { code: 200, html: '<!doctype html><main>page</main>' };

type ServerOptions = ConstructorParameters<typeof SidecarServer<StatusJson>>[0];

/** A sidecar HTTP server on a free loopback port serving STATUS, with what a test changes. */
function pageServer(options: Partial<ServerOptions>): SidecarServer<StatusJson> {
  return new SidecarServer<StatusJson>({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    logger: silentLog,
    readiness: () => ({ ready: true, checks: {} }),
    status: async () => STATUS,
    ...options,
  });
}

it('hands the page the status /status serves, asked once per request, with the query', async () => {
  let asked = 0;
  const seen: Array<{ status: StatusJson; node: string | null }> = [];
  const server = pageServer({
    status: async () => {
      asked += 1;
      return STATUS;
    },
    page: async (status, search) => {
      seen.push({ status: await status, node: search.get('node') });
      return PAGE;
    },
  });
  await server.start();
  try {
    const page = await fetch(`http://127.0.0.1:${server.port}/?node=n2`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('<main>page</main>');
    expect(asked).toBe(1);
    expect(seen).toEqual([{ status: STATUS, node: 'n2' }]);
    expect(seen[0]?.status).toBe(STATUS);
    const json = await fetch(`http://127.0.0.1:${server.port}/status`);
    expect(await json.json()).toEqual(STATUS);
    expect(asked).toBe(2);
  } finally {
    await server.close();
  }
});

it('is protected like /metrics: 401 without the web configuration credential, the page with it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-page-webcfg-'));
  const file = path.join(dir, 'web.yml');
  writeFileSync(file, `basic_auth_users:\n  oncall: ${bcrypt.hashSync('page-Pw-4k', 10)}\n`);
  let rendered = 0;
  const server = pageServer({
    page: async () => {
      rendered += 1;
      return PAGE;
    },
    webConfig: loadWebConfig(file),
  });
  await server.start();
  try {
    const url = `http://127.0.0.1:${server.port}/`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('page');
    const wrong = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('oncall:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    expect(rendered).toBe(0);
    const allowed = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('oncall:page-Pw-4k').toString('base64')}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('<main>page</main>');
    expect(rendered).toBe(1);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('says what failed in its own words: /status without Redis words, /readyz "not ready" naming the check, never a path or an OS error (issue 28)', async () => {
  const lines: string[] = [];
  const { createLogger } = await import('../../shared/logger');
  const { Writable } = await import('node:stream');
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    }),
  });
  const redisWords = 'NOAUTH Authentication required. rediss://10.0.0.9:6380 CLUSTERDOWN';
  const server = pageServer({
    logger,
    status: () => Promise.reject(new Error(redisWords)),
    readiness: () => ({ ready: false, checks: { redis: true, schedule: true, localState: false } }),
  });
  await server.start();
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const status = await fetch(`${base}/status`);
    const statusText = await status.text();
    expect(status.status).toBe(503);
    expect(JSON.parse(statusText)).toEqual({ error: expect.stringMatching(/^status unavailable: the project could not be read from Redis/) });
    expect(statusText).not.toMatch(/NOAUTH|10\.0\.0\.9|CLUSTERDOWN/);
    expect(lines.join('')).toContain('NOAUTH');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', failing: ['localState'], checks: { redis: true, schedule: true, localState: false } });
  } finally {
    await server.close();
  }
});

it('serves the runbook at /runbook with the page headers, and answers 404 when it has none', async () => {
  const server = pageServer({ runbook: () => '<!doctype html><main class="runbook">runbook</main>' });
  const bare = pageServer({});
  await Promise.all([server.start(), bare.start()]);
  try {
    const runbook = await fetch(`http://127.0.0.1:${server.port}/runbook`);
    expect(runbook.status).toBe(200);
    expect(runbook.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(runbook.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await runbook.text()).toContain('runbook</main>');
    expect((await fetch(`http://127.0.0.1:${bare.port}/runbook`)).status).toBe(404);
  } finally {
    await Promise.all([server.close(), bare.close()]);
  }
});
