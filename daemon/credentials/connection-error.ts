/**
 * Whether an ioredis error means the connection is gone (as opposed to a Redis reply
 * error such as a Lua error or WRONGTYPE), so a CLI can answer "cannot reach Redis".
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(code)) return true;
  return /Connection is closed|Stream isn't writeable|MaxRetriesPerRequestError|Reached the max retries|Command timed out/i.test(
    `${error.name} ${error.message}`,
  );
}
