import http from 'node:http';
import net from 'node:net';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';
import {
  authBody,
  authenticate,
  closeAllAuthServers,
  createAccount,
  request,
  startInProcessAuthServer,
  type InProcessAuthServer,
} from '../../harness/authserver';

/**
 * SPEC §4 for the reference server: bad input gets a clear JSON answer, never a 500
 * or a crash, and the server keeps serving (every case is followed by a good request).
 */
let redis: TestRedis;
let server: InProcessAuthServer;
let url: string;
const good = { account: 'input@example.com', password: 'input-password-1' };

beforeAll(async () => {
  redis = await startRedis();
  server = await startInProcessAuthServer({ redisUrl: redis.url });
  url = server.url;
  await createAccount(url, server.token, { ...good, capacity: 5 });
});

afterAll(async () => {
  await closeAllAuthServers();
  await disposeAllRedis();
});

async function stillServing(): Promise<void> {
  const answer = await authenticate(url, { ...good, nodeId: 'healthy' });
  expect(answer.json?.code).toBe(0);
}

function chunkedPost(pathname: string, chunks: Buffer[], contentType = 'application/json'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(pathname, url),
      { method: 'POST', agent: false, headers: { 'content-type': contentType, 'transfer-encoding': 'chunked' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    const write = (i: number) => {
      if (i >= chunks.length) {
        req.end();
        return;
      }
      // Stop writing once the server has answered and closed; the answer is what we test.
      if (req.destroyed) return;
      req.write(chunks[i], () => write(i + 1));
    };
    write(0);
  });
}

describe('bad bodies on /v1/authenticate', () => {
  it('malformed JSON, empty body and invalid UTF-8 answer 400 with code 10000', async () => {
    for (const body of ['{', '{"account":', 'not json at all', '', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])]) {
      const answer = await request(url, '/v1/authenticate', { body, method: 'POST' });
      expect([answer.status, answer.json?.code, answer.json?.name]).toEqual([400, 10000, 'JSON_PARSER_ERROR']);
    }
    await stillServing();
  });

  it('wrong types and missing fields answer 400 with code 10001 naming the field', async () => {
    const base = authBody({ ...good, nodeId: 'typed' });
    const cases: Array<[unknown, string]> = [
      [[], 'JSON object'],
      [42, 'JSON object'],
      [null, 'JSON object'],
      [{ ...base, account: 5 }, 'account'],
      [{ ...base, account: 'has space' }, 'account'],
      [{ ...base, password: undefined }, 'password'],
      [{ ...base, project: '' }, 'project'],
      [{ ...base, node: 'n1' }, 'node'],
      [{ ...base, node: { id: 'n', ip: '10.0.0.1', domain: 'd' } }, 'node.appName'],
      [{ ...base, node: { id: 'n', ip: '10.0.0.256', domain: 'd', appName: 'w' } }, 'node.ip'],
      [{ ...base, node: { id: 'n', ip: 'fe80::1%eth0', domain: 'd', appName: 'w' } }, 'node.ip'],
      [{ ...base, node: { id: ['n'], ip: '10.0.0.1', domain: 'd', appName: 'w' } }, 'node.id'],
      [{ ...base, version: 4.1 }, 'version'],
      [{ ...base, requestId: 'x'.repeat(500) }, 'requestId'],
      [{ ...base, sentAt: 'yesterday' }, 'sentAt'],
      [{ ...base, project: 'a\u0000b' }, 'project'],
    ];
    for (const [body, field] of cases) {
      const answer = await request(url, '/v1/authenticate', { body: JSON.stringify(body) });
      expect([answer.status, answer.json?.code]).toEqual([400, 10001]);
      expect(answer.json?.message).toContain(field);
    }
    await stillServing();
  });

  it('a 1 MiB body answers 413 with a JSON error, declared or chunked, and the server keeps serving', async () => {
    const big = Buffer.alloc(1024 * 1024, 'a');
    const declared = await request(url, '/v1/authenticate', { body: big });
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ code: 10000, name: 'JSON_PARSER_ERROR' });
    expect(declared.json?.message).toContain('16384');
    await stillServing();

    const chunked = await chunkedPost(
      '/v1/authenticate',
      Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 'b')),
    );
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.text)).toMatchObject({ code: 10000 });
    await stillServing();

    // Just under the limit is read (and then judged on its content).
    const padded = JSON.stringify({ ...authBody({ ...good, nodeId: 'healthy' }), padding: 'p'.repeat(15_000) });
    expect((await request(url, '/v1/authenticate', { body: padded })).json?.code).toBe(0);
  });

  it('a wrong content type answers 415 with code 10000', async () => {
    const body = JSON.stringify(authBody(good));
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', null]) {
      const answer = await request(url, '/v1/authenticate', { body, contentType });
      expect([answer.status, answer.json?.code]).toEqual([415, 10000]);
    }
    expect((await request(url, '/v1/authenticate', { body, contentType: 'application/json; charset=utf-8' })).json?.code).toBe(0);
    await stillServing();
  });

  it('unknown paths answer 404 and wrong methods 405, in JSON', async () => {
    const missing = await request(url, '/v2/authenticate', { body: {} });
    expect([missing.status, missing.json?.code, missing.json?.name]).toEqual([404, 404, 'NOT_FOUND']);
    const wrong = await request(url, '/v1/authenticate', { method: 'GET' });
    expect([wrong.status, wrong.json?.code]).toEqual([405, 405]);
    expect(wrong.headers.allow).toBe('POST');
    expect((await request(url, '/admin/accounts/x', { method: 'PATCH', token: server.token })).status).toBe(405);
    await stillServing();
  });

  it('unparseable HTTP on a raw socket is answered 400 and does not disturb the server', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1.1 400/);
    await stillServing();
  });
});

describe('admin API input', () => {
  it('refuses calls without or with a wrong token: 401 JSON', async () => {
    const body = { account: 'intruder', password: 'x', expiresAt: '2030-01-01T00:00:00Z' };
    const calls = [
      request(url, '/admin/accounts', { body }),
      request(url, '/admin/accounts', { body, token: 'wrong-token' }),
      request(url, '/admin/accounts', { body, token: `${server.token}x` }),
      request(url, '/admin/accounts', { body, headers: { authorization: server.token } }),
      request(url, '/admin/accounts/input@example.com', {}),
      request(url, '/admin/accounts/input@example.com', { method: 'DELETE', token: '' }),
      request(url, '/admin/faults', { body: { mode: 'reset' }, token: 'nope' }),
      request(url, '/admin/clock', { body: { offsetMs: 1 }, token: 'nope' }),
    ];
    for (const answer of await Promise.all(calls)) {
      expect([answer.status, answer.json?.code, answer.json?.name]).toEqual([401, 401, 'UNAUTHORIZED']);
    }
    expect((await request(url, '/admin/accounts/intruder', { token: server.token })).status).toBe(404);
    expect((await request(url, '/admin/faults', { token: server.token })).json?.data.faults).toEqual([]);
    await stillServing();
  });

  it('validates accounts and names every wrong field in one 400 answer', async () => {
    const answer = await request(url, '/admin/accounts', {
      token: server.token,
      body: {
        account: 'bad name!',
        password: '',
        capacity: 1.5,
        expiresAt: 'tomorrow',
        status: 'frozen',
        allowedIps: ['10.0.0.0/33', 'banana'],
        allowedDomains: ['bad domain'],
        allowedAppNames: [],
        allowedVersions: 'not a range',
        allowedIP: ['10.0.0.0/8'],
      },
    });
    expect([answer.status, answer.json?.code]).toEqual([400, 10001]);
    for (const field of [
      'account',
      'password',
      'capacity',
      'expiresAt',
      'status',
      'allowedIps[0]',
      'allowedIps[1]',
      'allowedDomains[0]',
      'allowedAppNames',
      'allowedVersions',
      'allowedIP',
    ]) {
      expect(answer.json?.message).toContain(field);
    }
    const omitted = await request(url, '/admin/accounts', {
      token: server.token,
      body: { account: 'defaults', password: 'pw-defaults', expiresAt: '2030-01-01T00:00:00Z' },
    });
    expect(omitted.json?.data).toMatchObject({
      capacity: 1,
      status: 'active',
      allowedIps: null,
      allowedDomains: null,
      allowedAppNames: null,
      allowedVersions: null,
      created: true,
    });
    expect((await request(url, '/admin/accounts/%E0%A4%A', { token: server.token })).json?.code).toBe(10001);
    expect((await request(url, '/admin/accounts/bad%20name', { token: server.token })).json?.code).toBe(10001);
    expect((await request(url, '/admin/accounts', { token: server.token, body: '{oops' })).json?.code).toBe(10000);
    await stillServing();
  });
});

describe('random input', () => {
  /** A small deterministic PRNG, so a failure can be replayed. */
  function prng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('a few hundred random requests never get a 500 and never break the server', async () => {
    const rnd = prng(20260101);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
    const randomString = () => {
      const alphabet = 'aZ09.-_@:/{}[]"\\ \u00e9\u4e2d\u0000\n%*';
      return Array.from({ length: Math.floor(rnd() * 20) }, () => pick([...alphabet])).join('');
    };
    const randomValue = (depth = 0): unknown => {
      switch (Math.floor(rnd() * (depth > 2 ? 6 : 8))) {
        case 0:
          return null;
        case 1:
          return rnd() < 0.5;
        case 2:
          return Math.floor(rnd() * 1e6) - 5e5;
        case 3:
          return rnd() * 1e300;
        case 4:
        case 5:
          return randomString();
        case 6:
          return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(depth + 1));
        default:
          return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [randomString(), randomValue(depth + 1)]));
      }
    };
    const mutate = (): unknown => {
      const body = authBody({ ...good, nodeId: `r-${Math.floor(rnd() * 3)}` }) as Record<string, unknown>;
      const node = body.node as Record<string, unknown>;
      for (let i = 0; i < 1 + Math.floor(rnd() * 3); i++) {
        const target = rnd() < 0.3 ? node : body;
        const key = pick(Object.keys(target).concat(['extra', '__proto__', 'constructor']));
        if (rnd() < 0.3) delete target[key];
        else target[key] = randomValue();
      }
      return body;
    };
    const paths = [
      '/v1/authenticate',
      '/v1/unbind',
      '/admin/accounts',
      '/admin/faults',
      '/admin/clock',
      '/admin/accounts/x',
      '/nowhere',
      '/v1/authenticate?x=1',
      '/%zz',
    ];
    const methods = ['POST', 'POST', 'POST', 'GET', 'DELETE', 'PUT'];

    const makeRequest = async (): Promise<number> => {
      const kind = rnd();
      let body: string | Buffer;
      if (kind < 0.5) body = JSON.stringify(mutate());
      else if (kind < 0.7) body = JSON.stringify(randomValue());
      else if (kind < 0.85) body = JSON.stringify(mutate()).slice(0, Math.floor(rnd() * 200));
      else body = Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
      const answer = await request(url, pick(paths), {
        method: pick(methods),
        body,
        contentType: rnd() < 0.9 ? 'application/json' : pick(['text/plain', null, 'application/jsonp']),
        token: rnd() < 0.3 ? server.token : rnd() < 0.5 ? 'bad' : undefined,
      });
      expect(answer.json).toBeDefined();
      return answer.status;
    };

    const statuses: number[] = [];
    for (let batch = 0; batch < 30; batch++) {
      statuses.push(...(await Promise.all(Array.from({ length: 10 }, makeRequest))));
    }
    expect(statuses).toHaveLength(300);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(new Set(statuses).size).toBeGreaterThan(3);
    expect(server.logLines.filter((l) => l.includes('request handler failed'))).toEqual([]);
    await request(url, '/admin/faults', { method: 'DELETE', token: server.token });
    await request(url, '/admin/clock', { body: { offsetMs: 0 }, token: server.token });
    await stillServing();
  });
});

describe('changing an account without its password', () => {
  it('keeps the stored password when a post for an existing account omits it, and applies the new settings', async () => {
    const keeper = { account: 'keeper', password: 'keeper-password-1' };
    await createAccount(url, server.token, { ...keeper, capacity: 2 });
    expect((await authenticate(url, { ...keeper, nodeId: 'k1', ip: '10.0.0.1' })).json?.code).toBe(0);

    // An allow-list changed by an operator who does not hold the account's password.
    const changed = await request(url, '/admin/accounts', {
      token: server.token,
      body: { account: 'keeper', capacity: 2, expiresAt: '2099-01-01T00:00:00Z', allowedIps: ['10.0.0.0/8'] },
    });
    expect([changed.status, changed.json?.code]).toEqual([200, 0]);
    expect(changed.json?.message).toContain('password kept');
    expect(changed.json?.data).toMatchObject({ created: false, allowedIps: ['10.0.0.0/8'], bound: [expect.objectContaining({ nodeId: 'k1' })] });
    expect(changed.text).not.toContain('passwordHash');

    expect((await authenticate(url, { ...keeper, nodeId: 'k1', ip: '10.0.0.1' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...keeper, nodeId: 'k2', ip: '192.168.0.1' })).json?.code).toBe(30003);
    expect((await authenticate(url, { account: 'keeper', password: 'not-it', nodeId: 'k1', ip: '10.0.0.1' })).json?.code).toBe(30006);
  });

  it('still needs a password to create an account, and says so', async () => {
    const answer = await request(url, '/admin/accounts', { token: server.token, body: { account: 'newcomer', expiresAt: '2099-01-01T00:00:00Z' } });
    expect([answer.status, answer.json?.code]).toEqual([400, 10001]);
    expect(answer.json?.message).toContain('password is required to create account newcomer');
    expect((await request(url, '/admin/accounts/newcomer', { token: server.token })).status).toBe(404);
    await stillServing();
  });
});
