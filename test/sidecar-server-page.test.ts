import { Registry } from 'prom-client';
import { SidecarServer } from '../daemon/http/sidecar-server';
import type { StatusJson } from '../daemon/view/status-json';
import { silentLog } from './support/sidecar-parts';

/**
 * `GET /` is built from the very status `/status` serves: the HTTP server asks the one
 * status source once per page and hands that promise to the page, which computes no
 * status of its own.
 */
const STATUS = { project: 'p', status: 'registered', nodes: [] } as unknown as StatusJson;

it('hands the page the status /status serves, asked once per request, with the query', async () => {
  let asked = 0;
  const seen: Array<{ status: StatusJson; node: string | null }> = [];
  const server = new SidecarServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    logger: silentLog,
    readiness: () => ({ ready: true, checks: {} }),
    status: async () => {
      asked += 1;
      return STATUS;
    },
    page: async (status, search) => {
      seen.push({ status: await status, node: search.get('node') });
      return { code: 200, html: '<!doctype html><main>page</main>' };
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
