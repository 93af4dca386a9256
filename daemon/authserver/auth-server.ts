import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Codes } from '../../shared/catalog';
import { OffsetClock, systemClock, type Clock } from '../../shared/clock';
import { ConfigError, type Config } from '../../shared/config/load';
import type { Logger } from '../../shared/logger';
import { closeRedis, connectOrExplain, createRedis, type RedisClient } from '../../shared/redis/connection';
import { VerifiedPasswordCache } from './verified-password-cache';
import { AdminApi } from './admin-api';
import { business, httpError, withStatus, type Answer } from './answer';
import { AccountStore } from './account-store';
import { FaultInjector } from './fault-injector';
import { ProtocolApi } from './protocol-api';
import { BODY_LIMIT_BYTES, isJsonContentType, readJsonBody } from './request-body';
import { FailureLimiter } from '../http/failure-limiter';
import { applyServerLimits, checkLimits, closeSlowClient, DEFAULT_LIMITS, serverCreationOptions, type ServerLimits } from '../http/server-limits';
import { isLoopbackHost } from '../../shared/net/hosts';

/**
 * The reference authorization server: protocol v1 and its administration over
 * node:http (or node:https when a certificate is configured).
 *
 * What a client sends never produces a 500 or a crash: routing answers 404/405 in
 * JSON, the admin token is checked before a body is read (401), a content type other
 * than application/json is answered 415 with code 10000, a body over 16 KiB 413 with
 * code 10000 (buffering stops at the limit), a body that is not JSON 400/10000. A 500
 * is only ever a bug of ours, and is logged as one.
 *
 * Lifecycle: 'idle' → 'listening' → 'stopping' → 'stopped'; close() is idempotent,
 * stops accepting, lets in-flight requests finish (bounded), then closes Redis if
 * the server opened it.
 */
export interface AuthServerOptions {
  config: Config;
  /** A Redis connection owned by the caller; without one the server opens (and closes) its own. */
  redis?: RedisClient;
  /** The rules' clock (24 h release, expiry); tests pass one they move. */
  clock?: Clock;
  logger: Logger;
  /** Random source of fault rates; tests make it deterministic. */
  random?: () => number;
  /** How long close() waits for in-flight requests before cutting connections. */
  drainTimeoutMs?: number;
  /** Socket deadlines and the connection cap; DEFAULT_LIMITS for what is not given. */
  limits?: Partial<ServerLimits>;
  /** Wrong passwords allowed per account / per source address in one window (default 10 / 30 per 15 min). */
  passwordFailures?: { perAccount?: number; perAddress?: number; windowMs?: number };
  /** Wrong admin tokens allowed per source address in one window (default 20 per 15 min). */
  adminTokenFailures?: { perAddress?: number; windowMs?: number };
}

export const DEFAULT_PASSWORD_FAILURES = Object.freeze({ perAccount: 10, perAddress: 30, windowMs: 15 * 60_000 });
export const DEFAULT_ADMIN_TOKEN_FAILURES = Object.freeze({ perAddress: 20, windowMs: 15 * 60_000 });

export interface RunningAuthServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type State = 'idle' | 'listening' | 'stopping' | 'stopped';

interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly pattern: RegExp;
  readonly admin: boolean;
  readonly body: boolean;
  readonly handle: (params: string[], body: unknown, source: string) => Promise<Answer> | Answer;
}

const MALFORMED_BODY = '{"code":0,"name":"OK","message":"authenticated","data":{"licenseExpi';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class AuthServer {
  private state: State = 'idle';
  private server: http.Server | undefined;
  private redis: RedisClient | undefined;
  private ownsRedis = false;
  private closing: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly clock: OffsetClock;
  private readonly faults: FaultInjector;
  private readonly routes: Route[] = [];
  private readonly tokenDigest: Buffer;
  private readonly sockets = new Set<Socket>();
  private readonly adminFailures: FailureLimiter;

  constructor(private readonly options: AuthServerOptions) {
    this.log = options.logger.child({ part: 'authserver' });
    this.clock = new OffsetClock(options.clock ?? systemClock);
    this.faults = new FaultInjector(options.random);
    this.tokenDigest = digest(options.config.authserver.adminToken);
    const admin = { ...DEFAULT_ADMIN_TOKEN_FAILURES, ...options.adminTokenFailures };
    this.adminFailures = new FailureLimiter({ maxFailures: admin.perAddress, windowMs: admin.windowMs });
  }

  private setState(next: State): void {
    this.log.info({ from: this.state, to: next }, 'authorization server state changed');
    this.state = next;
  }

  async start(): Promise<RunningAuthServer> {
    if (this.state !== 'idle') throw new Error(`cannot start an authorization server that is ${this.state}`);
    const { config } = this.options;
    if (!config.authserver.adminToken) throw new ConfigError(['authserver.adminToken (CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN): is required by authserver']);
    const tls = this.readTls();

    if (this.options.redis) this.redis = this.options.redis;
    else {
      this.redis = createRedis(config.redis, { purpose: 'command', connectionName: 'fdl-cloudauth-authserver', lazyConnect: true });
      this.ownsRedis = true;
      // Errors surface through the failing commands (answered 20002); keep the event quiet.
      this.redis.on('error', (error: Error) => this.log.debug({ err: error }, 'Redis connection error'));
      await connectOrExplain(this.redis, config.redis);
    }
    const store = new AccountStore(this.redis, config.redis.keyPrefix);
    const failures = { ...DEFAULT_PASSWORD_FAILURES, ...this.options.passwordFailures };
    const limits = {
      account: new FailureLimiter({ maxFailures: failures.perAccount, windowMs: failures.windowMs }),
      address: new FailureLimiter({ maxFailures: failures.perAddress, windowMs: failures.windowMs }),
    };
    // One cache for both: an account saved through the admin API is verified already.
    const verifiedPasswords = new VerifiedPasswordCache();
    const passwordHashCost = config.authserver.passwordHashCost;
    const protocol = new ProtocolApi({ store, faults: this.faults, clock: this.clock, logger: this.log, limits, verifiedPasswords, passwordHashCost });
    const admin = new AdminApi({ store, faults: this.faults, clock: this.clock, logger: this.log, verifiedPasswords, passwordHashCost });
    this.defineRoutes(protocol, admin, store);

    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    // No cap per address below the global one: the nodes of a site often reach it from one
    // NAT address, and many at once. The reserve of server-limits.ts still keeps room for
    // an address that holds none when one address fills the rest.
    const serverLimits: ServerLimits = { ...DEFAULT_LIMITS, maxConnectionsPerAddress: DEFAULT_LIMITS.maxConnections, ...this.options.limits };
    checkLimits(serverLimits);
    const creation = serverCreationOptions(serverLimits);
    const server = tls ? https.createServer({ ...creation, ...tls }, handler) : http.createServer(creation, handler);
    applyServerLimits(server, serverLimits);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
      // A header or request deadline passed: 408 and close, as Node itself answers.
      if (closeSlowClient(error, socket)) {
        this.log.debug({ errCode: error.code }, 'client too slow: connection closed');
        return;
      }
      // A TLS failure (the handshake deadline, a bad hello) reaches here too on HTTPS: there is no
      // HTTP to answer on that socket, and an answer written to it would keep it open.
      if (!error.code?.startsWith('HPE_')) {
        this.log.debug({ errCode: error.code }, 'connection failed before HTTP: closed');
        socket.destroy();
        return;
      }
      // Unparseable HTTP: answer 400 when the socket still takes it; never crash.
      this.log.debug({ errCode: error.code }, 'client sent unparseable HTTP');
      if (socket.writable)
        socket.end(
          'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 70\r\n\r\n{"code":10000,"name":"JSON_PARSER_ERROR","message":"unparseable HTTP"}',
        );
      else socket.destroy();
    });
    this.server = server;

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.authserver.port, config.authserver.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const host = config.authserver.host.includes(':') ? `[${config.authserver.host}]` : config.authserver.host;
    const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
    this.setState('listening');
    this.log.info({ url, port, tls: Boolean(tls), limits: serverLimits }, 'authorization server listening');
    if (!tls && !isLoopbackHost(config.authserver.host)) {
      // Passwords and the admin token would cross the network in clear.
      this.log.warn(
        { host: config.authserver.host, fix: 'set authserver.tlsCert and authserver.tlsKey, or bind authserver.host to 127.0.0.1 behind a TLS proxy' },
        'plain HTTP on a non-loopback address: passwords and the admin token cross the network unencrypted',
      );
    }
    return { url, port, close: () => this.close() };
  }

  private readTls(): { cert: Buffer; key: Buffer } | undefined {
    const { tlsCert, tlsKey } = this.options.config.authserver;
    if (!tlsCert || !tlsKey) return undefined;
    const problems: string[] = [];
    const read = (file: string, key: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (error) {
        problems.push(`${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}): point it to a readable PEM file`);
        return Buffer.alloc(0);
      }
    };
    const cert = read(tlsCert, 'authserver.tlsCert (CLOUDAUTH_AUTHSERVER_TLS_CERT)');
    const key = read(tlsKey, 'authserver.tlsKey (CLOUDAUTH_AUTHSERVER_TLS_KEY)');
    if (problems.length > 0) throw new ConfigError(problems);
    return { cert, key };
  }

  private defineRoutes(protocol: ProtocolApi, admin: AdminApi, store: AccountStore): void {
    const account = /^\/admin\/accounts\/([^/]+)$/;
    this.routes.push(
      { method: 'POST', pattern: /^\/v1\/authenticate$/, admin: false, body: true, handle: (_, body, source) => protocol.authenticate(body, source) },
      { method: 'POST', pattern: /^\/v1\/unbind$/, admin: false, body: true, handle: (_, body, source) => protocol.unbind(body, source) },
      { method: 'POST', pattern: /^\/admin\/accounts$/, admin: true, body: true, handle: (_, body) => admin.saveAccount(body) },
      { method: 'GET', pattern: account, admin: true, body: false, handle: ([name]) => admin.getAccount(name ?? '') },
      { method: 'DELETE', pattern: account, admin: true, body: false, handle: ([name]) => admin.deleteAccount(name ?? '') },
      { method: 'POST', pattern: /^\/admin\/faults$/, admin: true, body: true, handle: (_, body) => admin.addFault(body) },
      { method: 'GET', pattern: /^\/admin\/faults$/, admin: true, body: false, handle: () => admin.listFaults() },
      { method: 'DELETE', pattern: /^\/admin\/faults$/, admin: true, body: false, handle: () => admin.clearFaults() },
      { method: 'POST', pattern: /^\/admin\/clock$/, admin: true, body: true, handle: (_, body) => admin.setClock(body) },
      { method: 'GET', pattern: /^\/admin\/clock$/, admin: true, body: false, handle: () => admin.getClock() },
      {
        method: 'GET',
        pattern: /^\/healthz$/,
        admin: false,
        body: false,
        handle: async () => {
          const ready = await store.ping().catch(() => false);
          return ready ? { kind: 'json', status: 200, body: { code: 0, name: 'OK', message: 'ready' } } : httpError(503, 'NOT_READY', 'Redis is unreachable');
        },
      },
    );
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    // Compare digests: equal length always, so timingSafeEqual never throws and the
    // time taken says nothing about how much of the token was right.
    return timingSafeEqual(digest(match?.[1] ?? ''), this.tokenDigest) && Boolean(match);
  }

  private async route(req: IncomingMessage, path: string): Promise<Answer> {
    const candidates = this.routes.filter((r) => r.pattern.test(path));
    if (candidates.length === 0) return httpError(404, 'NOT_FOUND', `no such path: ${path.slice(0, 200)}`);
    const route = candidates.find((r) => r.method === req.method);
    if (!route) {
      const allowed = candidates.map((r) => r.method);
      const answer = httpError(405, 'METHOD_NOT_ALLOWED', `${String(req.method).slice(0, 20)} is not allowed here; use ${allowed.join(' or ')}`);
      return { ...answer, headers: { allow: allowed.join(', ') } } as Answer;
    }
    if (route.admin) {
      // Per address: the token is compared before any body is read, so counting needs no
      // reservation; a right token clears its address's count.
      const source = req.socket.remoteAddress ?? '';
      const blockedMs = this.adminFailures.blockedForMs(source);
      if (blockedMs > 0) {
        const seconds = Math.ceil(blockedMs / 1000);
        return {
          ...httpError(429, 'TOO_MANY_REQUESTS', `too many wrong admin tokens from this address: try again in ${seconds} s`),
          headers: { 'retry-after': String(seconds) },
        } as Answer;
      }
      if (!this.authorized(req)) {
        this.adminFailures.recordFailure(source);
        return httpError(401, 'UNAUTHORIZED', 'missing or wrong admin token: send Authorization: Bearer <authserver.adminToken>');
      }
      this.adminFailures.recordSuccess(source);
    }
    let params: string[];
    try {
      params = (route.pattern.exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
    } catch {
      return business(Codes.PARAM_INPUT_ERROR, 'the path is not validly percent-encoded');
    }
    let body: unknown;
    if (route.body) {
      if (!isJsonContentType(req.headers['content-type'])) {
        return withStatus(415, Codes.JSON_PARSER_ERROR, 'the body must be JSON sent with Content-Type: application/json');
      }
      const read = await readJsonBody(req, BODY_LIMIT_BYTES);
      if (read.kind === 'too-large') return withStatus(413, Codes.JSON_PARSER_ERROR, `the body is larger than ${BODY_LIMIT_BYTES} bytes`);
      if (read.kind === 'aborted') return { kind: 'reset' };
      if (read.kind === 'not-json') return business(Codes.JSON_PARSER_ERROR, read.reason);
      body = read.value;
    }
    return route.handle(params, body, req.socket.remoteAddress ?? '');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let path = '/';
    let answer: Answer;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
      answer = await this.route(req, path);
    } catch (error) {
      this.log.error({ err: error, method: req.method, path }, 'request handler failed');
      answer = httpError(500, 'INTERNAL_ERROR', 'internal error of the authorization server; it is logged');
    }
    const status = this.send(req, res, answer);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const code = answer.kind === 'json' ? answer.body.code : undefined;
    this.log.info(
      {
        method: req.method,
        path,
        status,
        code,
        ms,
        account: answer.context?.account,
        nodeId: answer.context?.nodeId,
        requestId: answer.context?.requestId,
        fault: answer.kind === 'json' ? undefined : answer.kind,
      },
      'request answered',
    );
  }

  /** Writes the answer; returns the HTTP status sent (0 when the connection was reset). */
  private send(req: IncomingMessage, res: ServerResponse, answer: Answer): number {
    if (answer.kind === 'reset') {
      req.socket.destroy();
      return 0;
    }
    if (res.headersSent || res.destroyed) return 0;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
    if (answer.kind === 'malformed') {
      res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(MALFORMED_BODY)) });
      res.end(MALFORMED_BODY);
      return 200;
    }
    const text = JSON.stringify(answer.body);
    if (answer.status === 413) {
      // The rest of the body is not wanted: close once the answer is out, so the
      // connection is not reused with an unread body in front of the next request.
      headers.connection = 'close';
    }
    res.writeHead(answer.status, { ...headers, ...answer.headers, 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
    return answer.status;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    if (server && this.state === 'listening') {
      this.setState('stopping');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + (this.options.drainTimeoutMs ?? 10_000);
      // Keep-alive connections become idle after their last answer: close them as they do.
      const sweep = setInterval(() => {
        server.closeIdleConnections();
        if (Date.now() > deadline) {
          for (const socket of this.sockets) socket.destroy();
        }
      }, 50);
      try {
        await closed;
      } finally {
        clearInterval(sweep);
      }
    }
    if (this.ownsRedis) {
      try {
        await closeRedis(this.redis);
      } catch (error) {
        this.log.warn({ err: error }, 'closing Redis failed');
      }
    }
    if (this.state !== 'idle') this.setState('stopped');
  }
}

/** Starts a server; the programmatic entry for tests and the demo. */
export async function startAuthServer(options: AuthServerOptions): Promise<RunningAuthServer> {
  const server = new AuthServer(options);
  try {
    return await server.start();
  } catch (error) {
    await server.close();
    throw error;
  }
}
