import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthClient, type RawAnswer } from '../../daemon/protocol/auth-client';
import { classify, type Outcome } from '../../daemon/protocol/classify';
import { byName, CATALOG, CONNECTION_FAILED, INCORRECT_LICENSE_FORMAT } from '../../shared/catalog';
import { loadConfig } from '../../shared/config/load';
import { fuzzParameters, fuzzSeed, mutationOf, nastyJson, nastyString } from '../support/fuzz';

/** The catalog's numeric codes, in table order. */
const KNOWN_CODES: readonly number[] = CATALOG.flatMap((e) => (e.code === null ? [] : [e.code]));

/**
 * The agent's answer parser against hostile input. 12,000 random and mutated raw
 * answers go straight into classify(), and 1,500 random HTTP answers (status,
 * headers, body bytes) go through the real AuthClient over loopback first. Every
 * outcome must be a success with a well-formed license, or a failure whose name is a
 * catalog name (CONNECTION_FAILED and INCORRECT_LICENSE_FORMAT included) with a code
 * that agrees with it and a clean, short message. Nothing may throw.
 *
 * Both are fast-check properties: a failure is shrunk to a small answer and printed with
 * its seed; `FUZZ_SEED=<seed> npx jest test/protocol/fuzz-classify.test.ts` replays it
 * (test/support/fuzz.ts).
 */
// CPU-bound (13,500 cases): about 10 s alone, many times that beside three other suites on one core.
jest.setTimeout(240_000);

const SEED = fuzzSeed();
const NAMES = new Set([...CATALOG.map((e) => e.name), CONNECTION_FAILED.name, INCORRECT_LICENSE_FORMAT.name]);

const VALID_OK = {
  code: 0,
  name: 'OK',
  message: 'authenticated',
  data: { licenseExpiresAt: '2099-01-01T00:00:00Z', capacity: 3, bound: 1, serverTime: '2026-01-01T00:00:00Z' },
};
const VALID_FAIL = { code: 30003, name: 'LICENSE_IP_ERROR', message: 'the IP address is not within the allowed range' };

function checkOutcome(outcome: Outcome): void {
  if (outcome.ok) {
    for (const v of [outcome.license.expiresAt, outcome.license.capacity, outcome.license.bound]) {
      if (v !== null && !(typeof v === 'number' && Number.isFinite(v))) throw new Error(`license field ${String(v)} is not a finite number or null`);
    }
    return;
  }
  if (!NAMES.has(outcome.name)) throw new Error(`name ${outcome.name} is not in the catalog`);
  if (typeof outcome.message !== 'string' || outcome.message.length === 0 || outcome.message.length > 300)
    throw new Error(`bad message length ${outcome.message?.length}`);
  if (/[\u0000-\u001f\u007f]/.test(outcome.message)) throw new Error('message contains control characters');
  if (typeof outcome.transient !== 'boolean') throw new Error('transient is not a boolean');
  if (outcome.name === CONNECTION_FAILED.name) {
    if (outcome.code !== null) throw new Error('CONNECTION_FAILED with a numeric code');
    if (!outcome.transient) throw new Error('CONNECTION_FAILED not transient');
  } else if (outcome.name === INCORRECT_LICENSE_FORMAT.name) {
    if (outcome.code !== null && (!Number.isInteger(outcome.code) || KNOWN_CODES.includes(outcome.code)))
      throw new Error(`INCORRECT_LICENSE_FORMAT with code ${outcome.code}`);
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

/** `true` one time in `n`. */
const oneIn = (n: number): fc.Arbitrary<boolean> => fc.oneof({ weight: n - 1, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

/** A status from the common ones, else any in 100–599, else any in -5–1000. */
const RAW_STATUS = fc.oneof(
  { weight: 15, arbitrary: fc.constantFrom(200, 200, 200, 201, 204, 301, 400, 401, 404, 413, 429, 500, 502, 503, 504) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 599 }) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 1000 }) },
);

/** A valid success, a valid failure, or a known (or unknown) code with a hostile message. */
const BASE_ANSWER: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(VALID_OK),
  fc.constant(VALID_FAIL),
  fc.record({ code: fc.constantFrom(...KNOWN_CODES, 49999, -1, 0), message: nastyString() }),
);

const RAW_ANSWER: fc.Arbitrary<RawAnswer> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('answer' as const),
      status: RAW_STATUS,
      // Mostly a valid answer broken in one to three places; sometimes any JSON at all.
      body: fc.oneof({ weight: 85, arbitrary: BASE_ANSWER.chain(mutationOf) }, { weight: 15, arbitrary: nastyJson(4) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('unparseable' as const), status: RAW_STATUS, detail: fc.constantFrom('empty body', 'body is not JSON') }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('too-large' as const), status: RAW_STATUS }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('network' as const), detail: fc.constantFrom(...NETWORK_DETAILS), timeout: fc.boolean(), tls: oneIn(5) }),
  },
);

function countOutcome(counts: Map<string, number>, outcome: Outcome): void {
  const key = outcome.ok ? 'OK' : outcome.name;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

it('classify() gives every random or mutated raw answer a catalog outcome (12,000 cases)', () => {
  const counts = new Map<string, number>();
  const CASES = 12_000;
  fc.assert(
    fc.property(RAW_ANSWER, (raw) => {
      const outcome = classify(raw);
      checkOutcome(outcome);
      countOutcome(counts, outcome);
    }),
    fuzzParameters(CASES),
  );
  console.log(
    `figures fuzz-classify seed=${SEED} cases=${CASES} outcomes=${[...counts]
      .sort()
      .map(([k, v]) => `${k}:${v}`)
      .join(',')}`,
  );
  // The generator reaches success, known codes, unknown codes and transport failures.
  expect(counts.get('OK')).toBeGreaterThan(0);
  expect(counts.get(CONNECTION_FAILED.name)).toBeGreaterThan(0);
  expect(counts.get(INCORRECT_LICENSE_FORMAT.name)).toBeGreaterThan(0);
  expect(counts.get('LICENSE_IP_ERROR')).toBeGreaterThan(0);
});

/** What the loopback server sends; a body is described, not spelled out, so a counterexample stays short. */
type HttpBody = { kind: 'json'; value: unknown } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'huge'; length: number };

interface HttpAnswer {
  status: number;
  /** '' sends no Content-Type. */
  contentType: string;
  body: HttpBody;
  /** A Content-Length this many bytes short of the body (at least 0): the body arrives cut. */
  shortBy: number | null;
}

const randomBytes = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength, size: 'max' });
const whole = (body: HttpBody): { body: HttpBody; shortBy: null } => ({ body, shortBy: null });

// Mutated valid answers (twice as often), random JSON, random bytes, 60–70 KiB, random bytes with a wrong Content-Length.
const HTTP_BODY: fc.Arbitrary<{ body: HttpBody; shortBy: number | null }> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<unknown>(VALID_OK, VALID_FAIL)
      .chain(mutationOf)
      .map((value) => whole({ kind: 'json', value })),
  },
  { weight: 1, arbitrary: nastyJson(4).map((value) => whole({ kind: 'json', value })) },
  { weight: 1, arbitrary: randomBytes(200).map((bytes) => whole({ kind: 'bytes', bytes })) },
  { weight: 1, arbitrary: fc.integer({ min: 60 * 1024, max: 70 * 1024 }).map((length) => whole({ kind: 'huge', length })) },
  {
    weight: 1,
    arbitrary: fc.tuple(randomBytes(200), fc.integer({ min: 1, max: 10 })).map(([bytes, shortBy]) => ({ body: { kind: 'bytes' as const, bytes }, shortBy })),
  },
);

const HTTP_ANSWER: fc.Arbitrary<HttpAnswer> = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(200, 200, 400, 404, 500, 503) }, { weight: 1, arbitrary: fc.integer({ min: 200, max: 599 }) }),
    fc.constantFrom('application/json', 'text/html', 'application/json; charset=latin1', ''),
    HTTP_BODY,
  )
  .map(([status, contentType, { body, shortBy }]) => ({ status, contentType, body, shortBy }));

function bodyBytes(body: HttpBody): Buffer {
  if (body.kind === 'json') return Buffer.from(JSON.stringify(body.value) ?? 'null');
  if (body.kind === 'huge') return Buffer.alloc(body.length, 0x61);
  return Buffer.from(body.bytes);
}

it('the real AuthClient + classify() handle 1,500 random HTTP answers from a loopback server', async () => {
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
    await fc.assert(
      fc.asyncProperty(HTTP_ANSWER, async (answer) => {
        const body = bodyBytes(answer.body);
        const headers: Record<string, string> = {};
        if (answer.contentType) headers['content-type'] = answer.contentType;
        // A declared length that is too small cuts the body short.
        if (answer.shortBy !== null) headers['content-length'] = String(Math.max(0, body.length - answer.shortBy));
        next = { status: answer.status, headers, body };
        const outcome = classify(await client.post('/v1/authenticate', { account: 'fuzz' }));
        checkOutcome(outcome);
        countOutcome(counts, outcome);
      }),
      fuzzParameters(CASES),
    );
  } finally {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  console.log(
    `figures fuzz-auth-client seed=${SEED} cases=${CASES} outcomes=${[...counts]
      .sort()
      .map(([k, v]) => `${k}:${v}`)
      .join(',')}`,
  );
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(CASES);
});
