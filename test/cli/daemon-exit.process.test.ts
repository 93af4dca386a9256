import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { closeAllAuthServers, createAccount, spawnAuthServer } from '../../harness/authserver';
import { waitFor } from '../../harness/wait';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';
import { registerProject, startSidecar, testKeyDir } from '../../harness/sidecar';

/**
 * `fdl-cloudauth daemon` exits once it has stopped, even when something in the process
 * still holds the event loop. The agent leaves a part that does not close in time
 * (seen with a BullMQ worker after a Redis Cluster fail-over): the sidecar logged
 * "Stopped" and then ran on, until a supervisor's SIGKILL. Here a preloaded interval
 * stands for whatever such a part holds.
 */
jest.setTimeout(90_000);

afterAll(async () => {
  await closeAllAuthServers();
  await disposeAllRedis();
});

it('exits 0 after SIGTERM although something in the process still holds the event loop', async () => {
  const redis = await startRedis();
  const auth = await spawnAuthServer({ redisUrl: redis.url });
  await createAccount(auth.url, auth.token, { account: 'exit', password: 'exit-pw-1', capacity: 5 });
  const fixture = await registerProject({
    project: 'exit',
    keyPrefix: testPrefix('exit'),
    redisUrl: redis.url,
    keyDir: testKeyDir(),
    authUrl: auth.url,
    account: 'exit',
    password: 'exit-pw-1',
  });
  const holder = path.join(mkdtempSync(path.join(os.tmpdir(), 'fdl-holder-')), 'holder.js');
  writeFileSync(holder, 'setInterval(() => undefined, 60_000);\n');
  const sidecar = await startSidecar(fixture, { nodeId: 'x1', interval: '1s', env: { NODE_OPTIONS: `--require ${holder}` } });
  await waitFor('a first attempt', () => sidecar.output().includes('"msg":"Authenticated"'), 20_000, 100);
  // stop() fails (naming the sidecar) if it has not exited within its bound.
  expect(await sidecar.stop()).toBe(0);
  expect(sidecar.output()).toContain('"msg":"Stopped"');
});
