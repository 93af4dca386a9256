import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthClient, type RawAnswer } from '../../daemon/protocol/auth-client';
import { classify, type Outcome } from '../../daemon/protocol/classify';
import { byName, CATALOG, CONNECTION_FAILED, INCORRECT_LICENSE_FORMAT, KNOWN_CODES } from '../../shared/catalog';
import { loadConfig } from '../../shared/config/load';
import { fuzzSeed, Rng, withCase } from '../support/fuzz';

/**
 * The agent's answer parser against hostile input. 12,000 random and mutated raw
 * answers go straight into classify(), and 1,500 random HTTP answers (status,
 * headers, body bytes) go through the real AuthClient over loopback first. Every
 * outcome must be a success with a well-formed license, or a failure whose name is a
 * catalog name (CONNECTION_FAILED and INCORRECT_LICENSE_FORMAT included) with a code
 * that agrees with it and a clean, short message. Nothing may throw.
 */
// CPU-bound (13,500 cases): about 10 s alone, many times that beside three other suites on one core.
jest.setTimeout(240_000);

const SEED = fuzzSeed();
const NAMES = new Set([...CATALOG.map((e) => e.name), CONNECTION_FAILED.name, INCORRECT_LICENSE_FORMAT.name]);

const VALID_OK = { code: 0, name: 'OK', message: 'authenticated', data: { licenseExpiresAt: '2099-01-01T00:00:00Z', capacity: 3, bound: 1, serverTime: '2026-01-01T00:00:00Z' } };
const VALID_FAIL = { code: 30003, name: 'LICENSE_IP_ERROR', message: 'the IP address is not within the allowed range' };

function checkOutcome(outcome: Outcome): void {
  if (outcome.ok) {
    for (const v of [outcome.license.expiresAt, outcome.license.capacity, outcome.license.bound]) {
      if (v !== null && !(typeof v === 'number' && Number.isFinite(v))) throw new Error(`license field ${String(v)} is not a finite number or null`);
    }
    return;
  }
  if (!NAMES.has(outcome.name)) throw new Error(`name ${outcome.name} is not in the catalog`);
  if (typeof outcome.message !== 'string' || outcome.message.length === 0 || outcome.message.length > 300) throw new Error(`bad message length ${outcome.message?.length}`);
  if (/[\u0000-\u001f\u007f]/.test(outcome.message)) throw new Error('message contains control characters');
  if (typeof outcome.transient !== 'boolean') throw new Error('transient is not a boolean');
  if (outcome.name === CONNECTION_FAILED.name) {
    if (outcome.code !== null) throw new Error('CONNECTION_FAILED with a numeric code');
    if (!outcome.transient) throw new Error('CONNECTION_FAILED not transient');
  } else if (outcome.name === INCORRECT_LICENSE_FORMAT.name) {
    if (outcome.code !== null && (!Number.isInteger(outcome.code) || KNOWN_CODES.includes(outcome.code))) throw new Error(`INCORRECT_LICENSE_FORMAT with code ${outcome.code}`);
  } else {
    const entry = byName(outcome.name);
    if (!entry || entry.code !== outcome.code) throw new Error(`code ${outcome.code} does not match ${outcome.name}`);
    if (entry.transient !== outcome.transient) throw new Error(`transient of ${outcome.name} differs from the catalog`);
  }
}

// What AuthClient itself writes as a network detail: the server controls none of it.
const NETWORK_DETAILS = [
  'no answer within authServer.timeout',
  'connection refused',
  'connection reset by the server',
  'host name not found (DNS)',
  'network error (EPIPE)',
  'TLS certificate not trusted (SELF_SIGNED_CERT_IN_CHAIN); set authServer.caFile to the CA that signed the server certificate',
];

function randomRaw(rng: Rng): RawAnswer {
  const status = rng.pick([200, 200, 200, 201, 204, 301, 400, 401, 404, 413, 429, 500, 502, 503, 504, rng.int(100, 599), rng.int(-5, 1000)]);
  switch (rng.pick(['answer', 'answer', 'answer', 'answer', 'unparseable', 'too-large', 'network'])) {
    case 'unparseable':
      return { kind: 'unparseable', status, detail: rng.pick(['empty body', 'body is not JSON']) };
    case 'too-large':
      return { kind: 'too-large', status };
    case 'network':
      return { kind: 'network', detail: rng.pick(NETWORK_DETAILS), timeout: rng.chance(0.5), tls: rng.chance(0.2) };
    default: {
      const base = rng.pick([VALID_OK, VALID_FAIL, { code: rng.pick([...KNOWN_CODES, 49999, -1, 0]), message: rng.string() }]);
      const body = rng.chance(0.15) ? rng.json(4) : rng.mutate(base);
      return { kind: 'answer', status, body };
    }
  }
}

it('classify() gives every random or mutated raw answer a catalog outcome (12,000 cases)', () => {
  const rng = new Rng(SEED);
  const counts = new Map<string, number>();
  const CASES = 12_000;
  for (let i = 0; i < CASES; i++) {
    const raw = randomRaw(rng);
    const outcome = withCase(SEED, i, raw, () => {
      const o = classify(raw);
      checkOutcome(o);
      return o;
    });
    const key = outcome.ok ? 'OK' : outcome.name;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  console.log(`figures fuzz-classify seed=${SEED} cases=${CASES} outcomes=${[...counts].sort().map(([k, v]) => `${k}:${v}`).join(',')}`);
  // The generator reaches success, known codes, unknown codes and transport failures.
  expect(counts.get('OK')).toBeGreaterThan(0);
  expect(counts.get(CONNECTION_FAILED.name)).toBeGreaterThan(0);
  expect(counts.get(INCORRECT_LICENSE_FORMAT.name)).toBeGreaterThan(0);
  expect(counts.get('LICENSE_IP_ERROR')).toBeGreaterThan(0);
});

it('the real AuthClient + classify() handle 1,500 random HTTP answers from a loopback server', async () => {
  const rng = new Rng(SEED + 1);
  let next: { status: number; headers: Record<string, string>; body: Buffer } = { status: 200, headers: {}, body: Buffer.alloc(0) };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = next;
      try {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      } catch {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new AuthClient(loadConfig({ env: { CLOUDAUTH_AUTH_SERVER_URL: url, CLOUDAUTH_AUTH_TIMEOUT: '2s' } }).authServer);
  const CASES = 1500;
  const counts = new Map<string, number>();
  try {
    for (let i = 0; i < CASES; i++) {
      const kind = rng.pick(['mutated', 'mutated', 'random-json', 'bytes', 'huge', 'wrong-length']);
      let body: Buffer;
      if (kind === 'mutated') body = Buffer.from(JSON.stringify(rng.mutate(rng.pick([VALID_OK, VALID_FAIL]))));
      else if (kind === 'random-json') body = Buffer.from(JSON.stringify(rng.json(4)) ?? 'null');
      else if (kind === 'huge') body = Buffer.alloc(rng.int(60 * 1024, 70 * 1024), 0x61);
      else body = Buffer.from(Array.from({ length: rng.int(0, 200) }, () => rng.int(0, 255)));
      const headers: Record<string, string> = { 'content-type': rng.pick(['application/json', 'text/html', 'application/json; charset=latin1', '']) };
      if (!headers['content-type']) delete headers['content-type'];
      // A declared length that is too small cuts the body short; too large leaves the client waiting.
      if (kind === 'wrong-length') headers['content-length'] = String(Math.max(0, body.length - rng.int(1, 10)));
      next = { status: rng.pick([200, 200, 400, 404, 500, 503, rng.int(200, 599)]), headers, body };
      const outcome = await withCase(SEED + 1, i, { status: next.status, headers, body: body.toString('latin1').slice(0, 300) }, async () => {
        const o = classify(await client.post('/v1/authenticate', { account: 'fuzz' }));
        checkOutcome(o);
        return o;
      });
      const key = outcome.ok ? 'OK' : outcome.name;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  } finally {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  console.log(`figures fuzz-auth-client seed=${SEED + 1} cases=${CASES} outcomes=${[...counts].sort().map(([k, v]) => `${k}:${v}`).join(',')}`);
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(CASES);
});
