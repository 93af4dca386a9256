import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * One pino logger per process; each part takes a child (`log.child({ part })`).
 * Messages are fixed strings and variables go in fields, so redaction by path works:
 * every field that can hold a secret is listed here and censored, at the top level
 * and one level down (pino's wildcard covers exactly one level).
 */
const SECRET_FIELDS = ['password', 'sentinelPassword', 'passwords', 'ciphertext', 'adminToken', 'token', 'authorization', 'privateKey', 'secret', 'credential'];

export const REDACT_PATHS: string[] = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'headers.authorization',
  'redis.url',
  'config.redis.url',
  'config.authserver.adminToken',
  'config.authServer.proxy',
];

/**
 * Errors are logged as type, message, code and stack only. Client libraries attach
 * more: ioredis puts the failed command and its arguments on the error (a script's
 * ARGV can hold a ciphertext), an HTTP client the request. None of that may reach a log line.
 */
export function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return typeof value === 'string' ? value : value === undefined ? undefined : String(value);
  const out: Record<string, unknown> = { type: value.name, message: value.message };
  const code = (value as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (value.stack) out.stack = value.stack;
  if (value.cause instanceof Error) out.cause = serializeError(value.cause);
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a capturing stream. */
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'fdl-cloudauth',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

export type { Logger };
