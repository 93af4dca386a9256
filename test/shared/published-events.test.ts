import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { restoreHeld } from '../../daemon/agent/recovery';
import { StatusWriter } from '../../daemon/aggregator/status-writer';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { REMOVE_NODE } from '../../daemon/credentials/unbind-node';
import { parseChangeEvent, type ChangeEvent } from '../../shared/redis/change-events';
import { ProjectKeys } from '../../shared/redis/keys';
import { writeKeyPairs } from '../support/key-dirs';
import { recordDirect } from '../support/record-direct';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../../harness/redis-server';
import { startCandidate } from '../../harness/sidecar-parts';
import { waitFor } from '../../harness/wait';

/**
 * The change-event contract checked where events leave, not only where they arrive:
 * each publisher (the Lua scripts, the election's hand-over) runs for real on a real
 * Redis, and every message it publishes passes the subscriber's parser whole — no
 * field dropped, none of the wrong kind. A publisher that drifts from the contract
 * fails here, not silently at a listener.
 */
let server: TestRedis;
let admin: Redis;
let subscriber: Redis;
let keyDir: string;
const messages: string[] = [];
const keys = new ProjectKeys(testPrefix('events'), 'p');

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  subscriber = new Redis(server.url);
  subscriber.on('message', (_channel: string, message: string) => messages.push(message));
  await subscriber.subscribe(keys.events);
  keyDir = writeKeyPairs(mkdtempSync(path.join(os.tmpdir(), 'fdl-events-keys-')));
});

afterAll(async () => {
  subscriber?.disconnect();
  admin?.disconnect();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  await disposeAllRedis();
});

/** Runs a publisher and returns what it published, parsed; fails when a message does not fit the contract. */
async function published(type: ChangeEvent['type'], publish: () => Promise<unknown>): Promise<ChangeEvent> {
  const from = messages.length;
  await publish();
  await waitFor(`a ${type} event`, () => messages.slice(from).some((m) => (JSON.parse(m) as { type?: string }).type === type), 5000, 10);
  const raw = messages.slice(from).find((m) => (JSON.parse(m) as { type?: string }).type === type) as string;
  const event = parseChangeEvent(raw);
  expect(event).toEqual(JSON.parse(raw));
  return event as ChangeEvent;
}

it('register-5.lua publishes `registered` with its generation and registration identity', async () => {
  const event = await published('registered', () => registerCredential(admin, keys, { account: 'acct', password: 'pw', keyDir, defaultAlgorithm: 'rsa' }));
  expect(event).toEqual({ type: 'registered', generation: 1, registration: await admin.hget(keys.credential, 'registration') });
});

it('record-attempt-7.lua publishes `attempt`', async () => {
  const outcome = { ok: false as const, code: 30003, name: 'LICENSE_IP_ERROR', message: 'ip', transient: false };
  const event = await published('attempt', () => recordDirect(admin, keys, { nodeId: 'n1', attemptId: 'a-1', generation: 1, outcome }));
  expect(event).toEqual({ type: 'attempt', node: 'n1', attemptId: 'a-1', ok: false });
});

it('restore-after-loss-8.lua publishes `restored`', async () => {
  const record = await admin.hgetall(keys.node('n1'));
  await admin.del(keys.node('n1'));
  const event = await published('restored', () =>
    restoreHeld(admin, keys, 'n1', { credential: null, record, recent: [{ attemptId: 'a-1', atMs: 1 }], firstSeenAt: 1, verdict: null }),
  );
  expect(event).toEqual({ type: 'restored', node: 'n1', restored: ['node'] });
});

it('write-status-5.lua publishes `status`', async () => {
  await admin.set(keys.leader, 'x|7');
  const registration = (await admin.hget(keys.credential, 'registration')) as string;
  const event = await published('status', () =>
    new StatusWriter(admin, keys).writeStatus({ instance: 'x', epoch: 7, status: 'degraded', generation: 1, registration }),
  );
  expect(event).toEqual({ type: 'status', status: 'degraded', epoch: 7 });
  await admin.del(keys.leader);
});

it('remove-node-6.lua (unbind) publishes `node-removed`', async () => {
  const event = await published('node-removed', () =>
    REMOVE_NODE.run(
      admin,
      { nodes: keys.nodes, node: keys.node('n1'), attempts: keys.attempts('n1'), history: keys.history('n1'), removed: keys.removed, events: keys.events },
      { nodeId: 'n1', historyRetentionS: 60, nodePrefix: keys.node(''), bound: '-' },
    ),
  );
  expect(event).toEqual({ type: 'node-removed', node: 'n1' });
});

it('a leader that stops gracefully publishes `leader-released`', async () => {
  const candidate = await startCandidate({ url: server.url, keys, nodeId: 'n1', leaseMs: 6000, renewMs: 1000 });
  await waitFor('n1 to lead', () => candidate.election.isLeader, 10_000);
  const epoch = candidate.election.epoch;
  const event = await published('leader-released', () => candidate.close());
  expect(event).toEqual({ type: 'leader-released', instance: expect.any(String) as string, epoch });
});
