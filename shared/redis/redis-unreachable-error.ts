/**
 * A Redis that could not be reached (exit code 3, SPEC §4), naming it. In a file of
 * its own so that the CLI can recognise it without loading ioredis.
 */
export class RedisUnreachableError extends Error {
  readonly code = 'ERR_REDIS_UNREACHABLE';
  readonly exitCode = 3;
  constructor(where: string, cause: unknown) {
    super(
      `cannot reach ${where}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'Check that Redis runs and that redis.url (CLOUDAUTH_REDIS_URL), redis.sentinels or redis.clusterNodes point to it.',
    );
    this.name = 'RedisUnreachableError';
  }
}
