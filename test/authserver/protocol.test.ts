import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';
import {
  authBody,
  authenticate,
  boundNodes,
  closeAllAuthServers,
  createAccount,
  getAccount,
  request,
  startInProcessAuthServer,
  unbind,
  type AccountBody,
  type InProcessAuthServer,
} from '../../harness/authserver';

/**
 * Protocol v1 against a real server over HTTP with a real Redis: every error code the
 * server can produce, the check order of SPEC §5, the capacity rule R10 (24 h release
 * through the injected clock, unbind) and the injected faults.
 */
let redis: TestRedis;
let server: InProcessAuthServer;
let url: string;
let token: string;
let seq = 0;

const HOUR = 3600_000;

beforeAll(async () => {
  redis = await startRedis();
  server = await startInProcessAuthServer({ redisUrl: redis.url });
  url = server.url;
  token = server.token;
});

afterAll(async () => {
  await closeAllAuthServers();
  await disposeAllRedis();
});

afterEach(async () => {
  await request(url, '/admin/faults', { method: 'DELETE', token });
});

/** A fresh account with a unique name; the clock starts at 2026-01-01. */
async function account(extra: Partial<AccountBody> = {}): Promise<{ account: string; password: string }> {
  seq += 1;
  const body = { account: `acct-${seq}@example.com`, password: `pw-${seq}-Secret!`, capacity: 3, expiresAt: '2027-01-01T00:00:00Z', ...extra };
  await createAccount(url, token, body);
  return { account: body.account, password: body.password };
}

describe('authenticate', () => {
  it('binds on the first success and answers the v1 data', async () => {
    const a = await account({ capacity: 2 });
    const answer = await authenticate(url, { ...a, nodeId: 'n1' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      code: 0,
      name: 'OK',
      message: expect.any(String),
      data: { licenseExpiresAt: '2027-01-01T00:00:00.000Z', capacity: 2, bound: 1, serverTime: new Date(server.clock.now()).toISOString() },
    });
    const second = await authenticate(url, { ...a, nodeId: 'n1' });
    expect(second.json?.data.bound).toBe(1);
    expect(await boundNodes(url, token, a.account)).toEqual(['n1']);
  });

  it('answers 10000 for a body that is not JSON, with HTTP 400', async () => {
    const answer = await request(url, '/v1/authenticate', { body: '{"account": "x", ' });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ code: 10000, name: 'JSON_PARSER_ERROR' });
  });

  it('answers 10001 naming every missing or invalid field, with HTTP 400', async () => {
    const answer = await request(url, '/v1/authenticate', {
      body: { account: 'a', password: 7, project: '', node: { id: 'n', ip: '999.1.1.1', domain: 'd', appName: 'w' }, version: '4.1', requestId: 'r' },
    });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ code: 10001, name: 'PARAM_INPUT_ERROR' });
    for (const field of ['password', 'project', 'node.ip', 'sentAt']) expect(answer.json?.message).toContain(field);
    expect(answer.json?.message).not.toContain('account');
  });

  it('answers 30006 for an unknown account and for a wrong password', async () => {
    const a = await account();
    expect((await authenticate(url, { account: 'nobody-here', password: 'x' })).json).toMatchObject({ code: 30006, name: 'ACCOUNT_INPUT_ERROR' });
    const wrong = await authenticate(url, { account: a.account, password: `${a.password}x` });
    expect(wrong.status).toBe(200);
    expect(wrong.json).toMatchObject({ code: 30006, name: 'ACCOUNT_INPUT_ERROR' });
  });

  it('answers 30002 for a disabled account and 30000 for an expired licence (injected clock)', async () => {
    const disabled = await account({ status: 'disabled' });
    expect((await authenticate(url, disabled)).json).toMatchObject({ code: 30002, name: 'ACCOUNT_STATUS_ERROR' });
    const expiring = await account({ expiresAt: new Date(server.clock.now() + HOUR).toISOString() });
    expect((await authenticate(url, expiring)).json?.code).toBe(0);
    await server.clock.advance(HOUR);
    expect((await authenticate(url, expiring)).json).toMatchObject({ code: 30000, name: 'LICENSE_EXPIRED' });
  });

  it('answers 30001 for a version outside the range, coercing non-semver versions without crashing', async () => {
    const a = await account({ allowedVersions: '>=4.1.0 <5.0.0' });
    expect((await authenticate(url, { ...a, version: '4.0.9' })).json).toMatchObject({ code: 30001, name: 'REPORT_VERSION_ERROR' });
    expect((await authenticate(url, { ...a, version: 'banana' })).json?.code).toBe(30001);
    expect((await authenticate(url, { ...a, version: '5.0.0' })).json?.code).toBe(30001);
    expect((await authenticate(url, { ...a, version: '4.1.5.1' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...a, version: 'V4.2' })).json?.code).toBe(0);
  });

  it('answers 30003 outside the allowed CIDRs, for IPv4, IPv6 and IPv4-mapped IPv6', async () => {
    const a = await account({ capacity: 10, allowedIps: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'] });
    const code = async (ip: string) => (await authenticate(url, { ...a, ip, nodeId: 'ipnode' })).json?.code;
    expect(await code('11.0.0.1')).toBe(30003);
    expect(await code('10.200.3.4')).toBe(0);
    expect(await code('::ffff:10.1.1.1')).toBe(0);
    expect(await code('::ffff:11.1.1.1')).toBe(30003);
    expect(await code('2001:db8:1::5')).toBe(0);
    expect(await code('2001:db9::5')).toBe(30003);
    expect(await code('192.168.1.7')).toBe(0);
    expect(await code('192.168.1.8')).toBe(30003);
    const answer = await authenticate(url, { ...a, ip: '172.16.0.1' });
    expect(answer.json).toMatchObject({ code: 30003, name: 'LICENSE_IP_ERROR' });
  });

  it('answers 30004 outside the allowed domains: exact hosts and *.suffix, case-insensitive', async () => {
    const a = await account({ allowedDomains: ['fdl.example.com', '*.corp.example.org'] });
    const code = async (domain: string) => (await authenticate(url, { ...a, domain })).json?.code;
    expect(await code('FDL.Example.com')).toBe(0);
    expect(await code('a.corp.example.org')).toBe(0);
    expect(await code('b.a.CORP.example.org')).toBe(0);
    expect(await code('corp.example.org')).toBe(30004);
    expect(await code('evilcorp.example.org')).toBe(30004);
    expect((await authenticate(url, { ...a, domain: 'other.example.com' })).json).toMatchObject({ code: 30004, name: 'LICENSE_DOMAIN_ERROR' });
  });

  it('answers 30005 for an app name not allowed', async () => {
    const a = await account({ allowedAppNames: ['webroot', 'fdl'] });
    expect((await authenticate(url, { ...a, appName: 'fdl' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...a, appName: 'other' })).json).toMatchObject({ code: 30005, name: 'LICENSE_APPNAME_ERROR' });
  });

  it('answers 30007 when the capacity is reached; a bound node still passes', async () => {
    const a = await account({ capacity: 1 });
    expect((await authenticate(url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...a, nodeId: 'n2' })).json).toMatchObject({ code: 30007, name: 'REGISTER_OUT_OF_LIMIT' });
    // The same node id in another project is another node.
    expect((await authenticate(url, { ...a, nodeId: 'n1', project: 'other' })).json?.code).toBe(30007);
    expect((await authenticate(url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
  });

  it('answers the first failing check when a request is wrong in several ways', async () => {
    const a = await account({
      capacity: 1,
      status: 'disabled',
      expiresAt: '2025-01-01T00:00:00Z',
      allowedVersions: '>=9.0.0',
      allowedIps: ['10.0.0.0/8'],
      allowedDomains: ['only.example.com'],
      allowedAppNames: ['only'],
    });
    const everythingWrong = { ...a, version: '4.0.0', ip: '8.8.8.8', domain: 'no.example.com', appName: 'no' };
    // Invalid fields beat a wrong password; a wrong password beats everything after it.
    expect((await request(url, '/v1/authenticate', { body: { ...authBody({ ...everythingWrong, password: 'wrong' }), sentAt: 'never' } })).json?.code).toBe(
      10001,
    );
    expect((await authenticate(url, { ...everythingWrong, password: 'wrong' })).json?.code).toBe(30006);
    expect((await authenticate(url, everythingWrong)).json?.code).toBe(30002);

    const steps: Array<[Partial<AccountBody>, number]> = [
      [{ status: 'active' }, 30000],
      [{ expiresAt: '2027-01-01T00:00:00Z' }, 30001],
      [{ allowedVersions: '>=4.0.0' }, 30003],
      [{ allowedIps: ['8.8.8.0/24'] }, 30004],
      [{ allowedDomains: ['*.example.com'] }, 30005],
    ];
    let settings: AccountBody = {
      ...a,
      capacity: 1,
      status: 'disabled',
      expiresAt: '2025-01-01T00:00:00Z',
      allowedVersions: '>=9.0.0',
      allowedIps: ['10.0.0.0/8'],
      allowedDomains: ['only.example.com'],
      allowedAppNames: ['only'],
    };
    for (const [fix, expected] of steps) {
      settings = { ...settings, ...fix };
      await createAccount(url, token, settings);
      expect((await authenticate(url, { ...everythingWrong, nodeId: 'late' })).json?.code).toBe(expected);
    }
    // All licence checks pass now; with the slot taken, capacity beats an injected write fault.
    await createAccount(url, token, { ...settings, allowedAppNames: ['no'] });
    expect((await authenticate(url, { ...everythingWrong, nodeId: 'first' })).json?.code).toBe(0);
    await request(url, '/admin/faults', { body: { mode: 'mysql' }, token });
    expect((await authenticate(url, { ...everythingWrong, nodeId: 'late' })).json?.code).toBe(30007);
    expect((await authenticate(url, { ...everythingWrong, nodeId: 'first' })).json?.code).toBe(20001);
  });
});

describe('capacity over time (R10)', () => {
  it('frees the slot of a node without success for 24 h, by the injected clock', async () => {
    const a = await account({ capacity: 1 });
    expect((await authenticate(url, { ...a, nodeId: 'old' })).json?.code).toBe(0);
    await server.clock.advance(23 * HOUR);
    expect((await authenticate(url, { ...a, nodeId: 'new' })).json?.code).toBe(30007);
    // A success refreshes the binding: 24 h count from the last success.
    expect((await authenticate(url, { ...a, nodeId: 'old' })).json?.code).toBe(0);
    await server.clock.advance(23 * HOUR);
    expect((await authenticate(url, { ...a, nodeId: 'new' })).json?.code).toBe(30007);
    expect(await boundNodes(url, token, a.account)).toEqual(['old']);
    await server.clock.advance(HOUR);
    expect(await boundNodes(url, token, a.account)).toEqual([]);
    const answer = await authenticate(url, { ...a, nodeId: 'new' });
    expect(answer.json?.code).toBe(0);
    expect(answer.json?.data.bound).toBe(1);
    expect(await boundNodes(url, token, a.account)).toEqual(['new']);
  });

  it('unbind frees the slot at once; unbinding a node that is not bound answers 20000', async () => {
    const a = await account({ capacity: 1 });
    expect((await authenticate(url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...a, nodeId: 'n2' })).json?.code).toBe(30007);
    const freed = await unbind(url, { ...a, nodeId: 'n1' });
    expect(freed.json).toMatchObject({ code: 0, data: { bound: 0 } });
    expect((await authenticate(url, { ...a, nodeId: 'n2' })).json?.code).toBe(0);
    const again = await unbind(url, { ...a, nodeId: 'n1' });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ code: 20000, name: 'DO_NOT_NEED_DEACTIVATE' });
    expect((await unbind(url, { ...a, nodeId: 'n2', project: 'another' })).json?.code).toBe(20000);
    expect((await unbind(url, { ...a, password: 'wrong', nodeId: 'n2' })).json?.code).toBe(30006);
    expect((await request(url, '/v1/unbind', { body: { account: a.account } })).json?.code).toBe(10001);
    // A binding released by the 24 h rule is not bound any more.
    await server.clock.advance(24 * HOUR);
    expect((await unbind(url, { ...a, nodeId: 'n2' })).json?.code).toBe(20000);
  });

  it('replacing an account keeps its bindings; deleting it removes them', async () => {
    const a = await account({ capacity: 2 });
    expect((await authenticate(url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
    const replaced = await createAccount(url, token, { ...a, capacity: 5, status: 'active' });
    expect(replaced.json?.data).toMatchObject({ created: false, capacity: 5 });
    expect(await boundNodes(url, token, a.account)).toEqual(['n1']);
    const view = await getAccount(url, token, a.account);
    expect(view.json?.data).toMatchObject({ account: a.account, capacity: 5, status: 'active', expiresAt: '2099-01-01T00:00:00.000Z' });
    expect(view.text).not.toContain(a.password);
    expect(view.text).not.toContain('scrypt');
    expect((await request(url, `/admin/accounts/${encodeURIComponent(a.account)}`, { method: 'DELETE', token })).json?.code).toBe(0);
    expect((await getAccount(url, token, a.account)).status).toBe(404);
    expect((await authenticate(url, { ...a, nodeId: 'n1' })).json?.code).toBe(30006);
  });
});

describe('injected faults', () => {
  it('mysql and redis faults answer 20001 and 20002 without binding, for the nodes named', async () => {
    const a = await account({ capacity: 2 });
    await request(url, '/admin/faults', { body: { mode: 'mysql', nodes: ['n1'] }, token });
    const mysql = await authenticate(url, { ...a, nodeId: 'n1' });
    expect(mysql.json).toMatchObject({ code: 20001, name: 'MYSQL_UPDATE_ERROR' });
    expect(await boundNodes(url, token, a.account)).toEqual([]);
    expect((await authenticate(url, { ...a, nodeId: 'n2' })).json?.code).toBe(0);
    await request(url, '/admin/faults', { method: 'DELETE', token });
    await request(url, '/admin/faults', { body: { mode: 'redis' }, token });
    expect((await authenticate(url, { ...a, nodeId: 'n2' })).json).toMatchObject({ code: 20002, name: 'REDIS_UPDATE_ERROR' });
    await request(url, '/admin/faults', { method: 'DELETE', token });
    expect((await authenticate(url, { ...a, nodeId: 'n1' })).json?.code).toBe(0);
  });

  it('http500, malformed, reset and delay change the transport; rate 0 never fires', async () => {
    const a = await account();
    const add = (body: object) => request(url, '/admin/faults', { body, token });
    expect((await add({ mode: 'http500', nodes: ['n500'] })).json?.code).toBe(0);
    expect((await add({ mode: 'malformed', nodes: ['nbad'] })).json?.code).toBe(0);
    expect((await add({ mode: 'reset', nodes: ['nreset'] })).json?.code).toBe(0);
    expect((await add({ mode: 'delay', ms: 50, nodes: ['nslow'] })).json?.code).toBe(0);
    expect((await add({ mode: 'http500', rate: 0 })).json?.code).toBe(0);
    const listed = await request(url, '/admin/faults', { token });
    expect(listed.json?.data.faults).toHaveLength(5);

    const e500 = await authenticate(url, { ...a, nodeId: 'n500' });
    expect(e500.status).toBe(500);
    expect(e500.json).toBeDefined();
    const bad = await authenticate(url, { ...a, nodeId: 'nbad' });
    expect(bad.status).toBe(200);
    expect(bad.json).toBeUndefined();
    expect(bad.text.length).toBeGreaterThan(0);
    await expect(authenticate(url, { ...a, nodeId: 'nreset' })).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect((await authenticate(url, { ...a, nodeId: 'nslow' })).json?.code).toBe(0);
    expect((await authenticate(url, { ...a, nodeId: 'other' })).json?.code).toBe(0);
    // Transport faults hit before any state change.
    expect(await boundNodes(url, token, a.account)).toEqual(['nslow', 'other']);

    const cleared = await request(url, '/admin/faults', { method: 'DELETE', token });
    expect(cleared.json?.data.cleared).toBe(5);
    expect((await authenticate(url, { ...a, nodeId: 'n500' })).json?.code).toBe(0);
  });

  it('validates fault requests', async () => {
    const answer = await request(url, '/admin/faults', { body: { mode: 'meteor', rate: 2, ms: -1 }, token });
    expect(answer.status).toBe(400);
    expect(answer.json?.code).toBe(10001);
    for (const field of ['mode', 'rate', 'ms']) expect(answer.json?.message).toContain(field);
  });

  it('moves the server clock through POST /admin/clock', async () => {
    const before = (await request(url, '/admin/clock', { token })).json?.data;
    const set = await request(url, '/admin/clock', { body: { offsetMs: 5 * HOUR }, token });
    expect(set.json?.data.offsetMs).toBe(5 * HOUR);
    expect(Date.parse(set.json?.data.now) - Date.parse(before.now)).toBe(5 * HOUR);
    const a = await account();
    expect((await authenticate(url, a)).json?.data.serverTime).toBe(new Date(server.clock.now() + 5 * HOUR).toISOString());
    await request(url, '/admin/clock', { body: { offsetMs: 0 }, token });
    expect((await request(url, '/admin/clock', { body: { offsetMs: 'soon' }, token })).json?.code).toBe(10001);
  });
});
