import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createProtectedServer, providerOf, type WebConfigProvider } from './protected-server';
import { DEFAULT_LIMITS, type ServerLimits } from './server-limits';
import type { WebConfig } from './web-config';
import type { HtmlPage } from '../page/registration-page';
import { PAGE_HEADERS } from '../page/page-script';

/**
 * The sidecar's HTTP surface (SPEC §8): /metrics (Prometheus text), /healthz (the
 * process is alive), /readyz (Redis reachable, the schedule in place, journal.dir writable), /status (the
 * same JSON as `status --json`), / (the Registration page, rendered from the very
 * status `/status` serves), /runbook (docs/runbook.md, for the alerts' links). Read-only; a failure of one handler never takes the others
 * down.
 */
export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

/** `S` is what `/status` serves (StatusJson in the daemon); the page is given the same. */
export interface SidecarServerOptions<S = unknown> {
  host: string;
  port: number;
  registry: Registry;
  /** Series rendered outside the registry (the leader's cluster series), appended to it. */
  extraMetrics?(): string;
  readiness(): Readiness;
  /** The project view as `status --json` prints it; throws when Redis is unreachable. */
  status(): Promise<S>;
  /** The Registration page, given the status `/status` would serve for this request (one source). */
  page?(status: Promise<S>, search: URLSearchParams): Promise<HtmlPage>;
  /** The runbook as HTML (`GET /runbook`), for the alerts' and the page's runbook links. */
  runbook?(): string;
  logger: Logger;
  /** TLS and basic auth for every endpoint but the probes (http.webConfigFile), re-read when a WebConfigSource; open when absent. */
  webConfig?: WebConfig | WebConfigProvider;
  /** Socket deadlines and connection cap; DEFAULT_LIMITS for what is not given. */
  limits?: Partial<ServerLimits>;
}

export class SidecarServer<S = unknown> {
  private server: http.Server | undefined;
  private closing: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly o: SidecarServerOptions<S>) {
    this.log = o.logger.child({ part: 'http' });
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    // Every path goes through the protected server's gate: a page added to handle()
    // later is protected without another line.
    const server = createProtectedServer({
      webConfig: this.o.webConfig,
      limits: { ...DEFAULT_LIMITS, ...this.o.limits },
      log: this.log,
      handler: (req, res) => void this.handle(req, res),
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const web = providerOf(this.o.webConfig)?.current();
    this.log.info({ host: this.o.host, port: this.port, tls: Boolean(web?.tls), basicAuth: (web?.basicAuthUsers.size ?? 0) > 0 }, 'HTTP server listening');
  }

  private send(res: http.ServerResponse, status: number, contentType: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
    res.writeHead(status, { ...headers, 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(body);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [path, query] = (req.url ?? '/').split('?');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(res, 405, 'application/json', JSON.stringify({ error: 'only GET is served here' }));
      return;
    }
    try {
      switch (path) {
        case '/metrics':
          this.send(res, 200, this.o.registry.contentType, (await this.o.registry.metrics()) + (this.o.extraMetrics?.() ?? ''));
          return;
        case '/healthz':
          this.send(res, 200, 'application/json', JSON.stringify({ status: 'alive' }));
          return;
        case '/readyz': {
          // The probes answer anyone who reaches the port: the names of the checks, never a
          // path or an OS error (the part that failed logged those when it failed).
          const r = this.o.readiness();
          const failing = Object.keys(r.checks).filter((name) => !r.checks[name]);
          this.send(
            res,
            r.ready ? 200 : 503,
            'application/json',
            JSON.stringify(r.ready ? { status: 'ready', checks: r.checks } : { status: 'not ready', failing, checks: r.checks }),
          );
          return;
        }
        case '/status':
          try {
            this.send(res, 200, 'application/json', JSON.stringify(await this.o.status()));
          } catch (error) {
            // Redis's own words (addresses, ACL and cluster errors) go to the log only.
            this.log.warn({ err: error }, 'GET /status: the project could not be read from Redis');
            this.send(
              res,
              503,
              'application/json',
              JSON.stringify({ error: 'status unavailable: the project could not be read from Redis (the sidecar log says why)' }),
            );
          }
          return;
        case '/':
          if (this.o.page) {
            const page = await this.o.page(this.o.status(), new URLSearchParams(query ?? ''));
            this.send(res, page.code, 'text/html; charset=utf-8', page.html, PAGE_HEADERS);
          } else this.send(res, 404, 'application/json', JSON.stringify({ error: 'not found', paths: ['/metrics', '/healthz', '/readyz', '/status'] }));
          return;
        case '/runbook':
          if (this.o.runbook) this.send(res, 200, 'text/html; charset=utf-8', this.o.runbook(), PAGE_HEADERS);
          else this.send(res, 404, 'application/json', JSON.stringify({ error: 'not found', paths: ['/metrics', '/healthz', '/readyz', '/status'] }));
          return;
        default:
          this.send(
            res,
            404,
            'application/json',
            JSON.stringify({ error: 'not found', paths: ['/', '/runbook', '/metrics', '/healthz', '/readyz', '/status'] }),
          );
      }
    } catch (error) {
      this.log.error({ err: error, path }, 'HTTP handler failed');
      if (!res.headersSent) this.send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
      else res.destroy();
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => this.server?.closeAllConnections(), 2000).unref();
    });
    return this.closing;
  }
}
