import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { Daemon } from '../../daemon/daemon';
import { OffsetClock } from '../../shared/clock';
import { loadConfig } from '../../shared/config/load';
import { createLogger } from '../../shared/logger';
import { closeAllAuthServers, createAccount, startInProcessAuthServer } from '../support/authserver';
import { sleep, waitFor } from '../support/ports';
import { disposeAllRedis, startRedis, testPrefix, type TestRedis } from '../support/redis-server';
import { readNode, registerProject, testKeyDir, type ProjectFixture } from '../support/sidecar';

/**
 * R8: a node whose clock is 10 minutes off records the same times as any other —
 * live attempts take Redis TIME, journaled ones the node clock corrected by the last
 * known Redis offset.
 */
jest.setTimeout(90_000);

const TEN_MINUTES = 10 * 60_000;
let project: TestRedis;
let redis: Redis;
let daemon: Daemon | undefined;

afterAll(async () => {
  project?.resume();
  await daemon?.close();
  redis?.disconnect();
  await closeAllAuthServers();
  await disposeAllRedis();
});

async function redisNow(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

it('records Redis time, live and from the journal, whatever the node clock says', async () => {
  project = await startRedis();
  const authRedis = await startRedis();
  redis = new Redis(project.url, { maxRetriesPerRequest: 1 });
  const auth = await startInProcessAuthServer({ redisUrl: authRedis.url });
  await createAccount(auth.url, auth.token, { account: 'skew', password: 'pw-skew-1', capacity: 2 });
  const f: ProjectFixture = await registerProject({ project: 'skew', keyPrefix: testPrefix('skew'), redisUrl: project.url, keyDir: testKeyDir(), authUrl: auth.url, account: 'skew', password: 'pw-skew-1' });
  const config = loadConfig({
    env: {
      CLOUDAUTH_PROJECT: 'skew',
      CLOUDAUTH_NODE_ID: 'skewed',
      CLOUDAUTH_NODE_IP: '127.0.0.1',
      CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
      CLOUDAUTH_AUTH_SERVER_URL: auth.url,
      CLOUDAUTH_REDIS_URL: project.url,
      CLOUDAUTH_REDIS_KEY_PREFIX: f.keyPrefix,
      CLOUDAUTH_KEY_DIR: f.keyDir,
      CLOUDAUTH_JOURNAL_DIR: mkdtempSync(path.join(os.tmpdir(), 'fdl-skew-')),
      CLOUDAUTH_HEARTBEAT_INTERVAL: '1s',
      CLOUDAUTH_HTTP_HOST: '127.0.0.1',
      CLOUDAUTH_HTTP_PORT: '0',
    },
    require: ['daemon'],
  });
  const clock = new OffsetClock();
  clock.offsetMs = TEN_MINUTES;
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  daemon = new Daemon({ config, logger: createLogger({ level: 'silent', destination: sink }), clock });
  await daemon.start();

  await waitFor('a live attempt', async () => (await readNode(redis, f.keys, 'skewed'))?.lastAttemptAt != null, 20_000, 100);
  const live = (await readNode(redis, f.keys, 'skewed'))?.lastAttemptAt as number;
  expect(Math.abs(live - (await redisNow()))).toBeLessThan(5000);

  // Redis stops answering: attempts go to the journal with corrected times.
  project.pause();
  await waitFor('journaled attempts', () => daemon!.agent.journalPending >= 2, 20_000, 100);
  project.resume();
  await waitFor('the journal to be replayed', () => daemon!.agent.journalPending === 0, 30_000, 100);
  await sleep(200);
  const recorded = await redis.zrange(f.keys.attempts('skewed'), '0', '-1', 'WITHSCORES');
  const now = await redisNow();
  const times = recorded.filter((_, i) => i % 2 === 1).map(Number);
  expect(times.length).toBeGreaterThanOrEqual(3);
  // Had the node clock been used, every time would be ~600 000 ms ahead.
  for (const t of times) expect(Math.abs(t - now)).toBeLessThan(60_000);
});
