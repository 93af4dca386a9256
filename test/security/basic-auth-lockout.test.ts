import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SidecarServer } from '../../daemon/http/sidecar-server';
import { loadWebConfig } from '../../daemon/http/web-config';
import { request, type HttpAnswer } from '../../harness/authserver';

/**
 * Basic auth of the sidecar's endpoints over real HTTP cannot lock Prometheus out.
 * Before: after 30 wrong passwords from one address every request from it got 429 for
 * 5 minutes, the right password included, and exporter-toolkit's concurrent case
 * (150 right and 150 wrong at once) gave the right password 429s.
 */
jest.setTimeout(60_000);

const USER = 'prometheus';
const RIGHT = 'lockout-Right-Pw-7';
let dir: string;
let server: SidecarServer;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-lockout-'));
  const file = path.join(dir, 'web.yml');
  // Cost 6, not 10: the rules do not depend on the cost, and 100 guesses on a loaded machine stay short.
  writeFileSync(file, `basic_auth_users:\n  ${USER}: ${bcrypt.hashSync(RIGHT, 6)}\n`);
  server = new SidecarServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
    readiness: () => ({ ready: true, checks: {} }),
    status: () => Promise.resolve({}),
    webConfig: loadWebConfig(file),
    // 300 requests at once: above the default cap of 256 connections, which is not under test.
    limits: { maxConnections: 1024 },
  });
  await server.start();
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const login = (password: string): Promise<HttpAnswer> =>
  request(base, '/metrics', { headers: { authorization: `Basic ${Buffer.from(`${USER}:${password}`).toString('base64')}` } });

it("exporter-toolkit's concurrent case: 150 right and 150 wrong passwords at once get 150 × 200 and 150 × 401", async () => {
  expect((await login(RIGHT)).status).toBe(200);
  expect((await login('wrong-1234')).status).toBe(401);
  const answers = await Promise.all(Array.from({ length: 150 }, () => [login(RIGHT), login('wrong-1234')]).flat());
  const count = (status: number, of: number) => answers.filter((a, i) => i % 2 === of && a.status === status).length;
  expect({ right200: count(200, 0), wrong401: count(401, 1) }).toEqual({ right200: 150, wrong401: 150 });
});

it('lets the right password in after 100 different wrong ones from the same address, at its next try', async () => {
  for (let i = 0; i < 100; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => login(`guess-${i + j}`)));
  // Past the limit one check a second is made; Retry-After says when. A Prometheus scrape
  // refused now succeeds at its next one: it is never held for the 5-minute window.
  const tries: number[] = [];
  let answer = await login(RIGHT);
  tries.push(answer.status);
  while (answer.status === 429 && tries.length < 10) {
    expect(answer.headers['retry-after']).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    answer = await login(RIGHT);
    tries.push(answer.status);
  }
  expect(answer.status).toBe(200);
  expect(tries.length).toBeLessThanOrEqual(3);
  // And the success cleared the count: the next wrong password is checked again (401, not 429).
  expect((await login('one-more-wrong')).status).toBe(401);
});
