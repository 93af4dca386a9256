import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type bcryptjs from 'bcryptjs';
import type { Logger } from 'pino';
import { FailureLimiter } from './failure-limiter';
import { applyServerLimits, checkLimits, closeSlowClient, serverCreationOptions, type ServerLimits } from './server-limits';
import type { WebConfig } from './web-config';

/**
 * The one place where the sidecar's HTTP endpoints are protected: every request of
 * every path (metrics, health, status, and any page added later) passes the web
 * configuration's TLS client-certificate rule and basic auth before its handler runs,
 * and the server has the deadlines and connection cap of server-limits.ts.
 *
 * bcrypt is slow on purpose (~50-100 ms at cost 10 in JavaScript); a Prometheus
 * scraping every 15 s would pay it each time, so a successful check is remembered by a
 * digest of user, password and hash (a changed hash or password misses). Wrong
 * credentials are limited per source address, and an unknown user costs the same
 * bcrypt as a known one, so the answer time does not tell which users exist.
 */
export interface ProtectedServerOptions {
  readonly webConfig?: WebConfig;
  readonly limits: ServerLimits;
  readonly log: Logger;
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Wrong credentials allowed per source address per window (default 30 per 5 min). */
  readonly authFailures?: { readonly perAddress: number; readonly windowMs: number };
}

const REALM = 'Basic realm="fdl-cloudauth", charset="UTF-8"';
// bcryptjs is loaded by the first request that must pass basic auth: most sidecars
// have no basic_auth_users and never need it (~3 MiB).
async function loadBcrypt(): Promise<typeof bcryptjs> {
  return (await import('bcryptjs')).default;
}

// A valid bcrypt hash of a random string, compared against when the user is unknown;
// made on first use, so commands that never serve HTTP do not pay for it.
let dummyHash: string | undefined;
function unknownUserHash(bcrypt: typeof bcryptjs): string {
  dummyHash ??= bcrypt.hashSync(createHash('sha256').update(String(Math.random())).digest('hex'), 10);
  return dummyHash;
}

function deny(res: ServerResponse, status: 401 | 403 | 429, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = typeof header === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class Gate {
  private readonly verified = new Set<string>();
  private readonly failures: FailureLimiter;

  constructor(private readonly o: ProtectedServerOptions) {
    const limits = o.authFailures ?? { perAddress: 30, windowMs: 5 * 60_000 };
    this.failures = new FailureLimiter({ maxFailures: limits.perAddress, windowMs: limits.windowMs });
  }

  private digest(user: string, password: string, hash: string): string {
    return createHash('sha256').update(`${user}\u0000${password}\u0000${hash}`).digest('hex');
  }

  /** Whether the request may go on; when not, the answer has been sent. */
  async admit(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const config = this.o.webConfig;
    if (!config) return true;
    const tls = config.tls;
    if (tls && (tls.clientAuth === 'RequireAnyClientCert' || tls.clientAuth === 'VerifyClientCertIfGiven')) {
      const socket = req.socket as TLSSocket;
      const given = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
      if (tls.clientAuth === 'RequireAnyClientCert' && !given) return (deny(res, 403, 'a client certificate is required'), false);
      if (tls.clientAuth === 'VerifyClientCertIfGiven' && given && !socket.authorized) return (deny(res, 403, 'the client certificate is not trusted'), false);
    }
    if (config.basicAuthUsers.size === 0) return true;
    const source = req.socket.remoteAddress ?? '';
    const blockedMs = this.failures.blockedForMs(source);
    if (blockedMs > 0) {
      const seconds = Math.ceil(blockedMs / 1000);
      return (deny(res, 429, `too many wrong credentials from this address: try again in ${seconds} s`, { 'retry-after': String(seconds) }), false);
    }
    const credentials = basicCredentials(req.headers.authorization);
    if (!credentials) return (deny(res, 401, 'credentials required (HTTP basic auth)', { 'www-authenticate': REALM }), false);
    const hash = config.basicAuthUsers.get(credentials.user);
    const key = this.digest(credentials.user, credentials.password, hash ?? '');
    if (hash && this.verified.has(key)) return true;
    const bcrypt = await loadBcrypt();
    const matches = await bcrypt.compare(credentials.password, hash ?? unknownUserHash(bcrypt));
    if (!hash || !matches) {
      this.failures.recordFailure(source);
      this.o.log.warn({ source, path: (req.url ?? '/').split('?')[0] }, 'HTTP request with wrong credentials refused');
      return (deny(res, 401, 'wrong user name or password', { 'www-authenticate': REALM }), false);
    }
    if (this.verified.size >= 64) this.verified.clear();
    this.verified.add(key);
    return true;
  }
}

/** An HTTP or HTTPS server (per the web configuration) whose every request passes the gate first. */
export function createProtectedServer(o: ProtectedServerOptions): http.Server {
  checkLimits(o.limits);
  const gate = new Gate(o);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    gate.admit(req, res).then(
      (admitted) => {
        if (admitted) o.handler(req, res);
      },
      (error: unknown) => {
        o.log.error({ err: error }, 'HTTP access check failed');
        if (!res.headersSent) deny(res, 401, 'access check failed');
      },
    );
  };
  const creation = serverCreationOptions(o.limits);
  const tls = o.webConfig?.tls;
  const server = tls
    ? https.createServer(
        {
          ...creation,
          cert: tls.cert,
          key: tls.key,
          ca: tls.clientCa,
          minVersion: tls.minVersion,
          requestCert: tls.clientAuth !== 'NoClientCert',
          // Only this mode fails the handshake itself; the others are judged per request.
          rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
        },
        handler,
      )
    : http.createServer(creation, handler);
  applyServerLimits(server, o.limits);
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    if (!closeSlowClient(error, socket)) socket.destroy();
  });
  return server;
}
