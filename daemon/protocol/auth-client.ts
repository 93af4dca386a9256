import { readFileSync } from 'node:fs';
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import type { Config } from '../../shared/config/compile';
import { isLoopbackHost, redactUrl } from '../../shared/net/hosts';

/**
 * HTTP client of protocol v1 (SPEC §5), used by the agent and by `unbind`.
 * One connection pool per process; every call bounded by `authServer.timeout`; an
 * answer over 64 KiB is cut off and reported, never buffered. HTTPS is required unless
 * the server is on loopback or `authServer.allowHttp` is set, because the request
 * carries the account password.
 */

export const MAX_ANSWER_BYTES = 64 * 1024;

/** What came back from one HTTP exchange, before classification. */
export type RawAnswer =
  | { kind: 'answer'; status: number; body: unknown }
  | { kind: 'unparseable'; status: number; detail: string }
  | { kind: 'too-large'; status: number }
  | { kind: 'network'; detail: string; timeout: boolean; tls: boolean };

export class InsecureUrlError extends Error {
  readonly code = 'ERR_INSECURE_AUTH_URL';
  constructor(url: string) {
    super(
      `authServer.url ${redactUrl(url)} uses plain HTTP to a non-loopback host: the password would cross the network unencrypted. ` +
        'Use https://, or set authServer.allowHttp (CLOUDAUTH_AUTH_ALLOW_HTTP=true) if a TLS proxy sits in front of it.',
    );
  }
}

export function checkAuthUrl(cfg: Config['authServer']): URL {
  const url = new URL(cfg.url);
  if (url.protocol === 'http:' && !cfg.allowHttp && !isLoopbackHost(url.hostname)) throw new InsecureUrlError(cfg.url);
  return url;
}

function describeNetworkError(error: unknown): { detail: string; timeout: boolean; tls: boolean } {
  const err = error as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code ?? err.name ?? 'ERROR';
  const timeout = /TIMEOUT|AbortError|TimeoutError/i.test(code) || /timeout|aborted due to timeout/i.test(err.message ?? '');
  const tls = /CERT|SELF_SIGNED|TLS|SSL|UNABLE_TO_VERIFY|ERR_TLS/i.test(code) || /certificate/i.test(err.message ?? '');
  let detail: string;
  if (timeout) detail = 'no answer within authServer.timeout';
  else if (tls) detail = `TLS certificate not trusted (${code}); set authServer.caFile to the CA that signed the server certificate`;
  else if (code === 'ECONNREFUSED') detail = 'connection refused';
  else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') detail = 'connection reset by the server';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') detail = 'host name not found (DNS)';
  else detail = `network error (${code})`;
  return { detail, timeout, tls };
}

export class AuthClient {
  private readonly dispatcher: Dispatcher;
  private readonly base: URL;

  constructor(private readonly cfg: Config['authServer']) {
    this.base = checkAuthUrl(cfg);
    const ca = cfg.caFile ? readFileSync(cfg.caFile) : undefined;
    const tls = ca ? { ca } : {};
    const timeouts = { headersTimeout: cfg.timeoutMs, bodyTimeout: cfg.timeoutMs, connectTimeout: cfg.timeoutMs };
    this.dispatcher = cfg.proxy
      ? new ProxyAgent({ uri: cfg.proxy, requestTls: tls, ...timeouts })
      : new Agent({
          connect: { ...tls, timeout: cfg.timeoutMs },
          headersTimeout: cfg.timeoutMs,
          bodyTimeout: cfg.timeoutMs,
          connections: 4,
          keepAliveTimeout: 10_000,
        });
  }

  /** The server's URL for logs: without any user name or password written into it. */
  get url(): string {
    return redactUrl(this.base);
  }

  /** POSTs a JSON body to `path`; never throws for anything the network or server does. */
  async post(path: string, body: unknown, signal?: AbortSignal): Promise<RawAnswer> {
    const target = new URL(path, this.base);
    const timeout = AbortSignal.timeout(this.cfg.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const response = await request(target, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'fdl-cloudauth' },
        body: JSON.stringify(body),
        signal: combined,
      });
      const declared = Number(response.headers['content-length'] ?? NaN);
      if (declared > MAX_ANSWER_BYTES) {
        response.body.destroy();
        return { kind: 'too-large', status: response.statusCode };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_ANSWER_BYTES) {
          response.body.destroy();
          return { kind: 'too-large', status: response.statusCode };
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        return { kind: 'answer', status: response.statusCode, body: JSON.parse(text) as unknown };
      } catch {
        return { kind: 'unparseable', status: response.statusCode, detail: text.length === 0 ? 'empty body' : 'body is not JSON' };
      }
    } catch (error) {
      return { kind: 'network', ...describeNetworkError(error) };
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}
