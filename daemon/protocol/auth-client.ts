import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Config } from '../../shared/config/compile';
import { isLoopbackHost, redactUrl } from '../../shared/net/hosts';

/**
 * HTTP client of protocol v1 (SPEC §5), used by the agent and by `unbind`.
 * One connection pool per process; every call bounded by `authServer.timeout`; an
 * answer over 64 KiB is cut off and reported, never buffered. HTTPS is required unless
 * the server is on loopback or `authServer.allowHttp` is set, because the request
 * carries the account password.
 *
 * Built on node:http and node:https, not undici (issue 31): undici is 110 module files
 * and parses HTTP with a WebAssembly build of llhttp, compiled at the first request;
 * loaded and used once it kept about 17 MiB more of an idle sidecar's memory than
 * node's own client (whose parser is native), for one request every two hours.
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

/** A request's own deadline (authServer.timeout) ran out. */
const TIMED_OUT = { code: 'TIMEOUT' };

export class AuthClient {
  private readonly base: URL;
  private readonly proxy: URL | null;
  private readonly ca: Buffer | undefined;
  /** Keeps up to 4 connections to the server alive between the calls of one attempt (retries, the 30007 path). */
  private readonly agent: http.Agent;

  constructor(private readonly cfg: Config['authServer']) {
    this.base = checkAuthUrl(cfg);
    this.proxy = cfg.proxy ? new URL(cfg.proxy) : null;
    this.ca = cfg.caFile ? readFileSync(cfg.caFile) : undefined;
    const pool = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 4, timeout: 10_000 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ ...pool, ...(this.ca ? { ca: this.ca } : {}) }) : new http.Agent(pool);
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
      const response = await this.send(target, JSON.stringify(body), combined);
      const declared = Number(response.headers['content-length'] ?? NaN);
      const status = response.statusCode ?? 0;
      if (declared > MAX_ANSWER_BYTES) {
        response.destroy();
        return { kind: 'too-large', status };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response) {
        size += (chunk as Buffer).length;
        if (size > MAX_ANSWER_BYTES) {
          response.destroy();
          return { kind: 'too-large', status };
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        return { kind: 'answer', status, body: JSON.parse(text) as unknown };
      } catch {
        return { kind: 'unparseable', status, detail: text.length === 0 ? 'empty body' : 'body is not JSON' };
      }
    } catch (error) {
      // An abort by the request's own deadline is a timeout, whatever error the socket reports for it.
      return { kind: 'network', ...describeNetworkError(timeout.aborted && !signal?.aborted ? TIMED_OUT : error) };
    }
  }

  /** One POST, straight or through the proxy's CONNECT tunnel; resolves with the response head, its body still to read. */
  private async send(target: URL, payload: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'fdl-cloudauth',
      'content-length': Buffer.byteLength(payload),
    };
    const options: https.RequestOptions = { method: 'POST', headers, signal };
    if (this.proxy) {
      const socket = await this.tunnel(target, signal);
      const secure = target.protocol === 'https:';
      const host = target.hostname.replace(/^\[|\]$/g, '');
      const connection = secure ? tls.connect({ socket, host, servername: net.isIP(host) ? undefined : host, ca: this.ca }) : socket;
      // Used only without an `agent` (agent: false would make a new one, which ignores it).
      options.createConnection = () => connection;
    } else {
      options.agent = this.agent;
    }
    const client = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = client.request(target, options, resolve);
      request.once('error', reject);
      request.end(payload);
    });
  }

  /** A socket to the server through authServer.proxy (HTTP CONNECT; the proxy's credentials from its URL). */
  private tunnel(target: URL, signal: AbortSignal): Promise<net.Socket> {
    const proxy = this.proxy as URL;
    const port = target.port || (target.protocol === 'https:' ? '443' : '80');
    const authority = `${target.hostname}:${port}`;
    const headers: Record<string, string> = { host: authority };
    if (proxy.username) {
      headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
    }
    const client = proxy.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = client.request({
        host: proxy.hostname.replace(/^\[|\]$/g, ''),
        port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
        method: 'CONNECT',
        path: authority,
        headers,
        signal,
        agent: false,
        ...(proxy.protocol === 'https:' && this.ca ? { ca: this.ca } : {}),
      });
      request.once('connect', (answer: http.IncomingMessage, socket: net.Socket) => {
        if (answer.statusCode === 200) return resolve(socket);
        socket.destroy();
        reject(Object.assign(new Error(`the proxy refused the tunnel (HTTP ${answer.statusCode ?? '?'})`), { code: 'PROXY_REFUSED' }));
      });
      request.once('error', reject);
      request.end();
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
