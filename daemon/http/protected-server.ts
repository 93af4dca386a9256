import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { BasicAuthCheck, type BasicAuthLimits } from './basic-auth-check';
import { clientCertProblem } from './client-cert-policy';
import { applyServerLimits, checkLimits, closeSlowClient, serverCreationOptions, type ServerLimits } from './server-limits';
import { TokenBucket } from './token-bucket';
import { secureContextOptions, type WebConfig } from './web-config';

/**
 * The one place where the sidecar's HTTP endpoints are protected: every request of
 * every path (metrics, status, the page, and any page added later) passes the web
 * configuration's client-certificate policy, rate limit and basic auth before its
 * handler runs, and the server has the deadlines and connection cap of server-limits.ts.
 *
 * The health probes, /healthz and /readyz, pass none of the three (they stay on TLS when
 * TLS is configured): a kubelet, a Docker HEALTHCHECK or systemd has neither the
 * password nor a client certificate, and the probes answer only "alive" and "ready"
 * with the names of the checks — nothing a password protects.
 *
 * The configuration is asked for on every connection and request (a WebConfigSource
 * re-reads a changed file): a new certificate, key, CA or TLS setting applies to the
 * next connection, new users to the next request, as with exporter-toolkit.
 */
export interface WebConfigProvider {
  current(): WebConfig;
}

export interface ProtectedServerOptions {
  readonly webConfig?: WebConfig | WebConfigProvider;
  readonly limits: ServerLimits;
  readonly log: Logger;
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Wrong basic-auth passwords allowed per address and user (DEFAULT_BASIC_AUTH_LIMITS). */
  readonly authFailures?: BasicAuthLimits;
}

export const PROBE_PATHS: readonly string[] = ['/healthz', '/readyz'];
const REALM = 'Basic realm="fdl-cloudauth", charset="UTF-8"';

function deny(res: ServerResponse, status: 401 | 429 | 500, message: string, headers: Record<string, string> = {}): void {
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

export function providerOf(config: WebConfig | WebConfigProvider | undefined): WebConfigProvider | undefined {
  if (!config) return undefined;
  return 'current' in config ? config : { current: () => config };
}

export class Gate {
  private readonly basicAuth: BasicAuthCheck;
  private bucket: { readonly config: WebConfig['rateLimit']; readonly bucket?: TokenBucket } = { config: undefined };

  constructor(private readonly o: ProtectedServerOptions & { readonly provider: WebConfigProvider }) {
    this.basicAuth = new BasicAuthCheck(o.authFailures);
  }

  private rateLimited(config: WebConfig): boolean {
    // A new rate_limit section starts a new bucket; an unchanged one keeps its tokens.
    if (this.bucket.config !== config.rateLimit) {
      const r = config.rateLimit;
      this.bucket = { config: r, bucket: r ? new TokenBucket(r.intervalMs, r.burst) : undefined };
    }
    return this.bucket.bucket ? !this.bucket.bucket.take() : false;
  }

  /** Whether the request may go on; when not, the answer has been sent (or the connection closed). */
  async admit(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const config = this.o.provider.current();
    for (const [name, value] of Object.entries(config.http.headers)) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (PROBE_PATHS.includes(path)) return true;
    if (config.tls) {
      const problem = clientCertProblem(config.tls, req.socket as TLSSocket);
      if (problem) {
        this.o.log.debug({ source: req.socket.remoteAddress, problem }, 'HTTPS connection refused by the client certificate policy');
        req.socket.destroy();
        return false;
      }
    }
    if (this.rateLimited(config)) return (deny(res, 429, 'too many requests (rate_limit of the web configuration)'), false);
    if (config.basicAuthUsers.size === 0) return true;
    const credentials = basicCredentials(req.headers.authorization);
    if (!credentials) return (deny(res, 401, 'credentials required (HTTP basic auth)', { 'www-authenticate': REALM }), false);
    const source = req.socket.remoteAddress ?? '';
    const result = await this.basicAuth.check(config.basicAuthUsers, credentials.user, credentials.password, source);
    if (result.kind === 'ok') return true;
    if (result.kind === 'throttled') {
      const seconds = Math.ceil(result.retryAfterMs / 1000);
      return (deny(res, 429, `too many wrong passwords from this address for this user: try again in ${seconds} s`, { 'retry-after': String(seconds) }), false);
    }
    if (result.kind === 'busy') {
      const seconds = Math.ceil(result.retryAfterMs / 1000);
      return (deny(res, 429, `too many password checks waiting: try again in ${seconds} s`, { 'retry-after': String(seconds) }), false);
    }
    this.o.log.warn({ source, path }, 'HTTP request with wrong credentials refused');
    return (deny(res, 401, 'wrong user name or password', { 'www-authenticate': REALM }), false);
  }
}

function createTlsServer(
  o: ProtectedServerOptions,
  provider: WebConfigProvider,
  handler: http.RequestListener,
  creation: http.ServerOptions,
): https.Server | undefined {
  const first = provider.current();
  if (!first.tls) return undefined;
  const server = https.createServer(
    {
      ...creation,
      ...secureContextOptions(first.tls),
      requestCert: first.tls.clientAuth !== 'NoClientCert',
      // The policy is judged per request (client-cert-policy.ts), so the probes pass.
      rejectUnauthorized: false,
    },
    handler,
  );
  let applied = first;
  // Before the TLS socket is made from this connection: the new settings apply to it.
  server.prependListener('connection', () => {
    const config = provider.current();
    if (config === applied || !config.tls) return;
    try {
      server.setSecureContext(secureContextOptions(config.tls));
      // Read by the server for each new TLS socket (node:_tls_wrap); setSecureContext does not set it.
      (server as unknown as { requestCert: boolean }).requestCert = config.tls.clientAuth !== 'NoClientCert';
      applied = config;
    } catch (error) {
      o.log.error({ err: error }, 'new TLS settings of the web configuration could not be applied; the previous ones stay');
      applied = config;
    }
  });
  return server;
}

/** An HTTP or HTTPS server (per the web configuration at start) whose every request passes the gate first. */
export function createProtectedServer(o: ProtectedServerOptions): http.Server {
  checkLimits(o.limits);
  const provider = providerOf(o.webConfig);
  const gate = provider ? new Gate({ ...o, provider }) : undefined;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!gate) return o.handler(req, res);
    gate.admit(req, res).then(
      (admitted) => {
        if (admitted) o.handler(req, res);
      },
      (error: unknown) => {
        o.log.error({ err: error }, 'HTTP access check failed');
        if (!res.headersSent) deny(res, 500, 'access check failed');
      },
    );
  };
  const creation = serverCreationOptions(o.limits);
  const server = (provider && createTlsServer(o, provider, handler, creation)) || http.createServer(creation, handler);
  applyServerLimits(server, o.limits);
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    if (!closeSlowClient(error, socket)) socket.destroy();
  });
  return server;
}
