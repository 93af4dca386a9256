import Redis from 'ioredis';
import { ProjectKeys } from '../../shared/redis/keys';
import { ProjectViewReader } from '../../daemon/view/project-view';
import { readFailures } from '../../daemon/view/failure-history';
import { buildStatusJson, type StatusJson } from '../../daemon/view/status-json';
import { byCode, CONNECTION_FAILED } from '../../shared/catalog';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { freePort } from '../../harness/ports';
import { waitFor } from '../../harness/wait';
import { assertBuilt } from '../../harness/authserver';
import { runCli, type CliRun } from '../support/cli';
import { DEFAULT_POLICY, silentLog, startCandidate, type Candidate } from '../../harness/sidecar-parts';
import { pushFailure, reason, writeCredential, writeNodeRecord } from '../../harness/node-records';
import { REMOVE_NODE } from '../../daemon/credentials/unbind-node';

const HOUR = 3_600_000;
const LONG_NODE = 'node-with-a-really-long-identifier-for-tables-01';

let server: TestRedis;
let admin: Redis;
let keys: ProjectKeys;
let leader: Candidate;

/** The CLI from dist/ as users run it, reading this file's project, in a fixed time zone for the table's clock times. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, {
    TZ: 'Asia/Shanghai',
    CLOUDAUTH_PROJECT: keys.project,
    CLOUDAUTH_REDIS_URL: server.url,
    CLOUDAUTH_REDIS_KEY_PREFIX: keys.keyPrefix,
    ...env,
  });
}

beforeAll(async () => {
  // No build here: npm test builds before jest, and rebuilding dist/ while other
  // workers start processes from it would let them load half-written files.
  assertBuilt();
  server = await startRedis();
  admin = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
  keys = new ProjectKeys(testPrefix('cli'), 'p1');
  const [s, us] = await admin.time();
  const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
  await writeCredential(admin, keys, 'acme');
  await writeNodeRecord(admin, keys, {
    id: 'n1',
    lastAttemptAt: now - 10 * 60_000,
    lastSuccessAt: now - 10 * 60_000,
    license: { expiresAt: Date.UTC(2027, 0, 1), capacity: 5, bound: 3 },
  });
  await writeNodeRecord(admin, keys, {
    id: 'n2',
    consecutiveFailures: 2,
    lastAttemptAt: now - 30 * 60_000,
    lastSuccessAt: now - 5 * HOUR,
    reason: reason(30003, 'LICENSE_IP_ERROR', now - 2.5 * HOUR, { attemptId: 'n2-1', message: 'IP 10.0.0.9 is not allowed' }),
    latestReason: reason(null, 'CONNECTION_FAILED', now - 30 * 60_000, { attemptId: 'n2-2', message: 'connect ECONNREFUSED' }),
  });
  await writeNodeRecord(admin, keys, {
    id: LONG_NODE,
    consecutiveFailures: 1,
    lastAttemptAt: now - 4 * HOUR,
    reason: reason(40404, 'INCORRECT_LICENSE_FORMAT', now - 4 * HOUR, { attemptId: 'l-1' }),
  });
  await pushFailure(admin, keys, 'n2', reason(30003, 'LICENSE_IP_ERROR', now - 2.5 * HOUR, { attemptId: 'n2-1', message: 'IP 10.0.0.9 is not allowed' }));
  await pushFailure(admin, keys, 'n2', reason(null, 'CONNECTION_FAILED', now - 30 * 60_000, { attemptId: 'n2-2', message: 'connect ECONNREFUSED' }));
  await pushFailure(
    admin,
    keys,
    LONG_NODE,
    reason(40404, 'INCORRECT_LICENSE_FORMAT', now - 4 * HOUR, { attemptId: 'l-1', message: 'a very long message '.repeat(10) }),
  );
  leader = await startCandidate({ url: server.url, keys, nodeId: 'n1' });
  await waitFor('a leader', () => leader.election.isLeader);
}, 60_000);

afterAll(async () => {
  await leader?.close();
  admin?.disconnect();
  await disposeAllRedis();
});

function withoutLockout(json: StatusJson): Omit<StatusJson, 'lockoutSeconds'> {
  const { lockoutSeconds: _drop, ...rest } = json;
  return rest;
}

describe('fdl-cloudauth status', () => {
  it('--json prints exactly what buildStatusJson (GET /status) builds', async () => {
    const run = await cli(['status', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as StatusJson;
    const reader = new ProjectViewReader({ redis: admin, keys, policy: DEFAULT_POLICY, log: silentLog });
    const expected = buildStatusJson(await reader.read());
    // Both read Redis time at their own moment: lockout may differ by the seconds in between.
    expect(Math.abs((printed.lockoutSeconds as number) - (expected.lockoutSeconds as number))).toBeLessThanOrEqual(5);
    expect(withoutLockout(printed)).toEqual(withoutLockout(expected));
    expect(printed).toMatchObject({
      project: 'p1',
      status: 'degraded',
      policy: 'any',
      threshold: 12,
      license: { expiresAt: '2027-01-01T00:00:00.000Z', capacity: 5, bound: 3 },
      leader: { instance: leader.election.instance, epoch: leader.election.epoch },
    });
    expect(printed.nodes.find((n) => n.id === 'n2')?.reason).toEqual({
      code: 30003,
      name: 'LICENSE_IP_ERROR',
      message: 'IP 10.0.0.9 is not allowed',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown as string,
    });
    // Never the ciphertext.
    expect(run.stdout).not.toContain('not-a-real-ciphertext');
  });

  it('prints a table with a row per node, 80 columns but for what a long node id holds beyond 12', async () => {
    const run = await cli(['status']);
    if (process.env.SHOW_CLI_OUTPUT) console.log(run.stdout);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    // The id is never cut (it goes into --node): the table widens by its extra length.
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80 + LONG_NODE.length - 12);
    // The stale node (1 failure, last attempt 4 h ago) at its worst case decides: 4 h ago + 11 × 2 h.
    expect(run.stdout).toMatch(/Status {3}DEGRADED — lockout in 17h 5\dm/);
    // Capacity and bound are the account's (across its projects): the account is named.
    expect(run.stdout).toContain('Project  p1 (account acme)');
    expect(run.stdout).toContain('3 of 5 slots bound, 2 free');
    expect(run.stdout).not.toContain('Slots ');
    expect(run.stdout).toContain(`(epoch ${leader.election.epoch})`);
    const n2 = lines.find((l) => l.startsWith('n2 '));
    expect(n2).toMatch(/n2\s+degraded\s+2\s+30003 LICENSE_IP_ERROR\s+30m ago \d\d:\d\d\s+5h ago \d\d:\d\d/);
    expect(lines.some((l) => l.startsWith(`${LONG_NODE} `))).toBe(true);
    expect(run.stdout).not.toContain('node-with-a-really-long-identifier-for-tables-…');
    expect(run.stdout).not.toContain('not-a-real-ciphertext');
  });

  it('says when the account has no slot to spare for a migration, and when it has none left', async () => {
    const [s, us] = await admin.time();
    const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    for (const [project, bound, words] of [
      ['tight', 4, 'Slots    no slot to spare for a migration (the old server keeps its slot while'],
      ['full', 5, 'Slots    every slot of the account is bound: a new or moved node is refused'],
    ] as const) {
      const k = new ProjectKeys(keys.keyPrefix, project);
      await writeCredential(admin, k, 'acme');
      await writeNodeRecord(admin, k, { id: 'n1', lastAttemptAt: now, lastSuccessAt: now, license: { expiresAt: Date.UTC(2027, 0, 1), capacity: 5, bound } });
      const run = await cli(['status'], { CLOUDAUTH_PROJECT: project });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`${bound} of 5 slots bound, ${5 - bound} free`);
      expect(run.stdout).toContain(words);
      for (const line of run.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    }
  });

  it('exits 3 naming the Redis it could not reach', async () => {
    const port = await freePort();
    const run = await cli(['status'], { CLOUDAUTH_REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`Redis at redis://127.0.0.1:${port}`);
    expect(run.stdout).toBe('');
  });
});

describe('fdl-cloudauth failures', () => {
  it('--json lists failures newest first, as readFailures does, code null for CONNECTION_FAILED', async () => {
    const run = await cli(['failures', '--json']);
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as Array<Record<string, unknown>>;
    const expected = (await readFailures(admin, keys, { limit: 50 })).map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    expect(printed).toEqual(expected.map((e) => ({ node: e.node, at: e.at, code: e.code, name: e.name, message: e.message, attemptId: e.attemptId })));
    expect(printed.map((e) => e.attemptId)).toEqual(['n2-2', 'n2-1', 'l-1']);
    expect(printed[0]).toMatchObject({ node: 'n2', code: null, name: 'CONNECTION_FAILED' });
    expect(Object.keys(printed[0] ?? {})).toEqual(['node', 'at', 'code', 'name', 'message', 'attemptId']);
  });

  it('--node and --limit narrow the list', async () => {
    const run = await cli(['failures', '--json', '--node', 'n2', '--limit', '1']);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as Array<{ attemptId: string }>).map((e) => e.attemptId)).toEqual(['n2-2']);
  });

  it('prints an aligned table within 80 columns (but for a long node id, whole) and, with --details, the catalog steps', async () => {
    const run = await cli(['failures', '--details']);
    if (process.env.SHOW_CLI_OUTPUT) console.log(run.stdout);
    expect(run.code).toBe(0);
    // The NODE column's narrowest is 8: a longer id widens the table, never cut.
    for (const line of run.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(80 + LONG_NODE.length - 8);
    expect(run.stdout).toContain(`  ${LONG_NODE}  `);
    const ip = byCode(30003);
    expect(run.stdout).toContain(`30003 LICENSE_IP_ERROR — ${ip.definition}`);
    expect(run.stdout.replace(/\s+/g, ' ')).toContain(`Check: ${ip.steps.check}`);
    expect(run.stdout.replace(/\s+/g, ' ')).toContain(`Contact: ${ip.steps.contact}`);
    expect(run.stdout.replace(/\s+/g, ' ')).toContain(`Change: ${CONNECTION_FAILED.steps.change}`);
    expect(run.stdout).toContain('INCORRECT_LICENSE_FORMAT (raw code 40404)');
  });

  it('prints the attempt id the help promises, and every message whole (wrapped, never cut)', async () => {
    const help = await cli(['failures', '--help']);
    expect(help.stdout).toContain('attempt id');
    const run = await cli(['failures']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80 + LONG_NODE.length - 8);
    expect(lines[0]).toMatch(/\bATTEMPT\b/);
    for (const id of ['n2-2', 'n2-1', 'l-1']) expect(run.stdout).toMatch(new RegExp(`\\b${id}\\b`));
    // 'a very long message ' × 10: all of it, across lines.
    expect(run.stdout.replace(/\s+/g, ' ')).toContain('a very long message '.repeat(10).trim());
  });

  it('answers for an unbound node with no failures that it was unbound, not that the id is wrong', async () => {
    await writeNodeRecord(admin, keys, { id: 'old', lastAttemptAt: Date.now(), lastSuccessAt: Date.now() });
    const removed = {
      nodes: keys.nodes,
      node: keys.node('old'),
      attempts: keys.attempts('old'),
      history: keys.history('old'),
      removed: keys.removed,
      events: keys.events,
    };
    expect(await REMOVE_NODE.run(admin, removed, { nodeId: 'old', historyRetentionS: 60, nodePrefix: keys.node(''), bound: '-' })).toBe(true);
    const run = await cli(['failures', '--node', 'old']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('No failures recorded for node old');
    expect(run.stdout).toContain('unbound');
    expect(run.stdout).not.toMatch(/check the node id/i);
    const json = await cli(['failures', '--node', 'old', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('names an unknown node clearly and exits 1', async () => {
    const run = await cli(['failures', '--node', 'ghost']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('project "p1" has no node "ghost"');
    expect(run.stderr).toContain('n2');
  });

  it('refuses a bad --limit with exit 2, and exits 3 when Redis is down', async () => {
    expect((await cli(['failures', '--limit', '0'])).code).toBe(2);
    const port = await freePort();
    const run = await cli(['failures'], { CLOUDAUTH_REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`127.0.0.1:${port}`);
  });
});
