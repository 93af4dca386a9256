import type http from 'node:http';

/**
 * Limits every HTTP server of the product applies (the sidecar's endpoints and the
 * reference authorization server), so a client that opens a socket and sends
 * nothing, trickles its headers or its body, or opens thousands of sockets, holds
 * nothing for long.
 *
 * Node checks the header and request deadlines only every `connectionsCheckingInterval`
 * (30 s by default): with the old 20/30 s timeouts a silent socket lived ~48 s. The
 * interval is set to a quarter of the header deadline (at most 1 s) so a deadline
 * fires within a fraction of itself. `timeout` closes a socket that sends nothing at
 * all for idleMs, between requests or before the first one.
 */
export interface ServerLimits {
  /** The whole header block must arrive within this. */
  readonly headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** A socket silent this long is closed; also the keep-alive time between requests. */
  readonly idleTimeoutMs: number;
  /** Connections beyond this are closed as soon as they are accepted. */
  readonly maxConnections: number;
}

export const DEFAULT_LIMITS: ServerLimits = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  idleTimeoutMs: 5_000,
  maxConnections: 256,
});

/** Options for http(s).createServer that only work when given at creation. */
export function serverCreationOptions(limits: ServerLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/** Applies the limits that are properties of a created server. */
export function applyServerLimits(server: http.Server, limits: ServerLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // A silent socket (no request yet, or an idle keep-alive one) is destroyed.
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
}

/** Checks a set of limits, naming the one that is wrong. */
export function checkLimits(limits: ServerLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`server limit ${name} must be a positive integer, got ${String(value)}`);
  }
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new RangeError('server limit requestTimeoutMs must be at least headersTimeoutMs (the headers are part of the request)');
  }
}

/**
 * For a server's 'clientError' handler: answers a passed header or request deadline
 * with 408 and closes, as Node does when no handler is installed. Returns whether it
 * handled the error.
 */
export function closeSlowClient(error: Error & { code?: string }, socket: import('node:net').Socket): boolean {
  if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return false;
  if (socket.writable) socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  else socket.destroy();
  return true;
}
