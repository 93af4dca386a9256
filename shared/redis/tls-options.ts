import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Config } from '../config/compile';

/**
 * The TLS settings of every Redis connection, from redis.tls.*: a private CA, a client
 * certificate, a server name. Files are read when a connection is created, so a
 * renewed certificate is used by the next process start without a config change.
 * The configuration check has already said which file cannot be read; a file removed
 * since is reported here by name, never by content.
 */
export class RedisTlsFileError extends Error {
  readonly code = 'ERR_REDIS_TLS_FILE';
  readonly exitCode = 2;
  constructor(key: string, file: string, cause: unknown) {
    super(`${key}: ${file} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'}): point it at a readable PEM file`);
    this.name = 'RedisTlsFileError';
  }
}

function readPem(key: string, file: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw new RedisTlsFileError(key, file, error);
  }
}

/** Options for node:tls built from redis.tls.*; used for TLS to Redis nodes and, when asked, to the Sentinels. */
export function redisTlsSettings(cfg: Config['redis']): ConnectionOptions {
  const out: ConnectionOptions = {};
  const ca = readPem('redis.tls.caFile', cfg.tls.caFile);
  const cert = readPem('redis.tls.certFile', cfg.tls.certFile);
  const key = readPem('redis.tls.keyFile', cfg.tls.keyFile);
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (cfg.tls.servername) out.servername = cfg.tls.servername;
  return out;
}

/** Whether the Redis nodes (standalone, Sentinel-discovered primary, Cluster nodes) are reached over TLS. */
export function redisUsesTls(cfg: Config['redis']): boolean {
  return new URL(cfg.url).protocol === 'rediss:';
}
