import Redis from 'ioredis';
import { disposeAllRedis, startRedis, type TestRedis } from '../../harness/redis-server';
import type { Candidate } from '../../harness/sidecar-parts';

// Jest hooks live here, apart from harness/sidecar-parts.ts, which the benchmarks
// compile without jest's globals (tsconfig.bench.json).

export interface CandidateHarness {
  readonly server: TestRedis;
  readonly admin: Redis;
  /** Candidates closed after each test. */
  readonly open: Candidate[];
}

/**
 * The usual set-up of a suite of aggregator candidates: one real Redis for the file,
 * an admin connection to it, and the candidates a test opened closed after it.
 */
export function useRedisWithCandidates(): CandidateHarness {
  const h = { open: [] as Candidate[] } as { server: TestRedis; admin: Redis; open: Candidate[] };
  beforeAll(async () => {
    h.server = await startRedis();
    h.admin = new Redis({ host: h.server.host, port: h.server.port, maxRetriesPerRequest: 1 });
  });
  afterEach(async () => {
    await Promise.all(h.open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    h.admin?.disconnect();
    await disposeAllRedis();
  });
  return h;
}
