import Redis from 'ioredis';
import { closeAllAgents } from './agent-harness';
import { disposeAllRedis, startRedis } from '../../harness/redis-server';

// Jest hooks live here, apart from agent-harness.ts, as candidate-suite.ts does for the
// aggregator's candidates.

export interface AgentSuite {
  /** The file's Redis. */
  readonly url: string;
  /** A plain connection to it, for set-up and checks. */
  readonly admin: Redis;
}

/**
 * The usual set-up of a suite of in-process agents: one real Redis for the file, an
 * admin connection to it, and every agent a test started closed at the end.
 */
export function useRedisForAgents(): AgentSuite {
  const h = {} as { url: string; admin: Redis };
  beforeAll(async () => {
    h.url = (await startRedis()).url;
    h.admin = new Redis(h.url);
  });
  afterAll(async () => {
    await closeAllAgents();
    h.admin?.disconnect();
    await disposeAllRedis();
  });
  return h;
}
