import Redis from 'ioredis';
import { REMOVE_NODE } from '../../daemon/credentials/unbind-node';
import { registerCredential } from '../../daemon/credentials/register-credential';
import { CorruptRecordLog } from '../../daemon/view/corrupt-record-log';
import { ProjectViewReader } from '../../daemon/view/project-view';
import { DamagedKeyError } from '../../shared/redis/damaged-key-error';
import { ProjectKeys } from '../../shared/redis/keys';
import { reason, writeCredential, writeNodeRecord } from '../../harness/node-records';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { silentLog } from '../../harness/sidecar-parts';
import { testKeyDir } from '../../harness/sidecar';

/**
 * Damaged keys, for the readers and the other writers: a key of the wrong type is
 * reported (named, counted like a corrupt record) while the rest of the project goes
 * on — the view (`status`, `/status`, the leader) is still read, the damaged node is an
 * unknown member — and no script writes part of what it does.
 */
let redis: Redis;
let keys: ProjectKeys;
const NOW = Date.now();

beforeAll(async () => {
  redis = new Redis((await startRedis()).url);
});

beforeEach(async () => {
  keys = new ProjectKeys(testPrefix('damaged'), 'p');
  await writeCredential(redis, keys);
  await writeNodeRecord(redis, keys, { id: 'n1', consecutiveFailures: 2, reason: reason(30003, 'LICENSE_IP_ERROR', NOW - 1000), lastAttemptAt: NOW - 1000 });
  await writeNodeRecord(redis, keys, { id: 'n2', consecutiveFailures: 0, lastAttemptAt: NOW - 1000, lastSuccessAt: NOW - 1000 });
});

afterAll(async () => {
  redis?.disconnect();
  await disposeAllRedis();
});

const reader = () => new ProjectViewReader({ redis, keys, policy: { failurePolicy: 'all', threshold: 2, intervalMs: 60_000 }, log: silentLog });

describe('the view', () => {
  it('reads a project whose node key holds a string: that node is an unknown member, counted as corrupt', async () => {
    await redis.del(keys.node('n2'));
    await redis.set(keys.node('n2'), 'junk');
    const view = await reader().read();
    // `all`, threshold 2: n1 failed, n2 unknown — not failed.
    expect(view.status).toBe('degraded');
    expect(view.unknownMembers).toEqual([{ id: 'n2', why: 'unreadable' }]);
    expect(view.corruptRecords).toBe(1);
    // Counted once, however often it is read.
    expect((await reader().read()).corruptRecords).toBe(1);
  });

  it('reads a project whose status, recovery or counters key holds a string', async () => {
    for (const key of [keys.status, keys.recovery, keys.counters]) await redis.set(key, 'junk');
    const view = await reader().read();
    expect(view.nodes.map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(view.stored).toBeNull();
    expect(view.status).toBe('degraded');
  });

  it('a member whose record is missing is unknown, not skipped', async () => {
    await redis.del(keys.node('n2'));
    const view = await reader().read();
    expect(view.status).toBe('degraded');
    expect(view.unknownMembers).toEqual([{ id: 'n2', why: 'missing' }]);
  });
});

describe('the writers check before their first write', () => {
  it('count-corrupt: a counters key of the wrong type counts nothing and writes nothing', async () => {
    await redis.set(keys.counters, 'junk');
    const log = new CorruptRecordLog(silentLog);
    log.report('node', 'n9', '{}', new Error('broken'));
    expect(await log.flush(redis, keys)).toBeNull();
    expect(await redis.exists(keys.corruptSeen)).toBe(0);
  });

  it('remove-node: a removed set of the wrong type leaves the node a member', async () => {
    await redis.set(keys.removed, 'junk');
    expect(
      await REMOVE_NODE.run(
        redis,
        { nodes: keys.nodes, node: keys.node('n1'), attempts: keys.attempts('n1'), history: keys.history('n1'), removed: keys.removed, events: keys.events },
        { nodeId: 'n1', historyRetentionS: 60, nodePrefix: keys.node(''), bound: '-' },
      ),
    ).toEqual({ damaged: 'removed' });
    expect(await redis.zscore(keys.nodes, 'n1')).not.toBeNull();
    expect(await redis.exists(keys.node('n1'))).toBe(1);
  });

  it('register: a nodes key of the wrong type is named and the credential is left as it was', async () => {
    await redis.hset(keys.status, { status: 'failed', generation: '1' });
    await redis.del(keys.nodes);
    await redis.set(keys.nodes, 'junk');
    const error = await registerCredential(redis, keys, { account: 'acme', password: 'pw-damaged', keyDir: testKeyDir(), defaultAlgorithm: 'rsa' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DamagedKeyError);
    expect(error).toMatchObject({ role: 'nodes', key: keys.nodes });
    expect((error as Error).message).not.toContain('pw-damaged');
    expect(await redis.hget(keys.credential, 'generation')).toBe('1');
    expect(await redis.hget(keys.status, 'status')).toBe('failed');
  });

  it('register: a node record of the wrong type is left alone, the others reset', async () => {
    await redis.hset(keys.status, { status: 'failed', generation: '1' });
    await redis.del(keys.node('n2'));
    await redis.set(keys.node('n2'), 'junk');
    const result = await registerCredential(redis, keys, { account: 'acme', password: 'pw', keyDir: testKeyDir(), defaultAlgorithm: 'rsa' });
    expect(result).toMatchObject({ generation: 2, clearedFailed: true, nodesReset: 1 });
    expect(await redis.hget(keys.node('n1'), 'consecutiveFailures')).toBe('0');
    expect(await redis.get(keys.node('n2'))).toBe('junk');
  });
});
