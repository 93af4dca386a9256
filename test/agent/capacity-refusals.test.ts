import { Registry } from 'prom-client';
import { AttemptRunner } from '../../daemon/agent/attempt-runner';
import { NodeMetrics } from '../../daemon/metrics/node-metrics';
import { AuthClient } from '../../daemon/protocol/auth-client';
import { systemClock, systemTimers } from '../../shared/clock';
import { loadConfig } from '../../shared/config/load';
import { createLogger } from '../../shared/logger';
import { authenticate, createAccount, startInProcessAuthServer, unbind } from '../../harness/authserver';
import { useRedisForAuthServers } from '../support/authserver-suite';
import { cachedCredential } from '../support/cached-credential';

/**
 * `fdl_cloudauth_capacity_refusals_total` through the real reference server over real
 * HTTP: the account's capacity is taken by the nodes of another project, so this
 * node's attempt is answered 30007 REGISTER_OUT_OF_LIMIT and counted once; when a slot
 * is freed the next attempt binds and the count stays.
 */

const suite = useRedisForAuthServers();
const ACCOUNT = { account: 'shared@example.com', password: 'shared-password-1' };

it('counts the 30007 answers of the reference server, and nothing once a slot is free', async () => {
  const server = await startInProcessAuthServer({ redisUrl: suite.redis.url });
  await createAccount(server.url, server.token, { ...ACCOUNT, capacity: 2 });
  // Another project of the account holds both slots.
  for (const nodeId of ['o1', 'o2']) expect((await authenticate(server.url, { ...ACCOUNT, project: 'other', nodeId })).json?.code).toBe(0);

  const registry = new Registry();
  const metrics = new NodeMetrics(registry, 'p', 'n3', { journalPending: () => 0, redisUp: () => true, localStateWritable: () => true });
  const config = loadConfig({ env: { CLOUDAUTH_AUTH_SERVER_URL: server.url, CLOUDAUTH_AUTH_TIMEOUT: '5s' } });
  const runner = new AttemptRunner({
    config: {
      project: 'p',
      node: { id: 'n3', ip: '10.0.0.3', domain: 'fdl.example.com', appName: 'webroot' },
      product: { version: '4.1.5' },
      heartbeat: { ...config.heartbeat, retries: 2 },
    },
    authClient: new AuthClient(config.authServer),
    decrypt: async () => ACCOUNT.password,
    metrics,
    clock: systemClock,
    timers: systemTimers,
    log: createLogger({ level: 'silent' }),
  });
  const credential = cachedCredential({ generation: 1, account: ACCOUNT.account });

  const refused = await runner.run(credential, 'slot:1', new AbortController().signal);
  expect(refused).toMatchObject({ ok: false, code: 30007, name: 'REGISTER_OUT_OF_LIMIT' });
  expect(await registry.metrics()).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n3"} 1');

  expect((await unbind(server.url, { ...ACCOUNT, project: 'other', nodeId: 'o2' })).json?.code).toBe(0);
  const bound = await runner.run(credential, 'slot:2', new AbortController().signal);
  expect(bound).toMatchObject({ ok: true, license: { capacity: 2, bound: 2 } });
  const text = await registry.metrics();
  expect(text).toContain('fdl_cloudauth_capacity_refusals_total{project="p",node="n3"} 1');
  expect(text).toContain('fdl_cloudauth_authentications_total{project="p",node="n3"} 2');
  await server.close();
});
