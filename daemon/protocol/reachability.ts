import { promises as dns } from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

/**
 * Can this node reach the authorization server, the way an authentication would —
 * DNS, TCP, the TLS handshake with the certificate chain checked, through the
 * configured proxy — without authenticating (no request is sent, so no slot is used
 * and nothing is recorded on the server)? Used by the agent's probe between
 * heartbeats and by `fdl-cloudauth doctor`. Never throws: every failure is a result
 * naming the step that failed. Proxy credentials never appear in a result.
 */

export type ProbeStep = 'dns' | 'tcp' | 'proxy' | 'tls';

export interface ReachabilityTarget {
  /** authServer.url (or any https:// or http:// URL to probe). */
  readonly url: string;
  /** CA certificates to trust instead of the system's (authServer.caFile's content). */
  readonly ca?: string | Buffer;
  /** authServer.proxy; empty for a direct connection. */
  readonly proxy?: string;
  /** Limit of each step. */
  readonly timeoutMs: number;
}

export interface ServerCertificate {
  /** notAfter of the server's certificate (ms since the epoch). */
  readonly notAfter: number;
  readonly subject: string;
  readonly issuer: string;
}

export interface ReachabilityResult {
  readonly reachable: boolean;
  /** The step that failed; null when reachable. */
  readonly failedStep: ProbeStep | null;
  /** What happened, for a log line or doctor's output: "connection refused", "TLS certificate not trusted (...)". */
  readonly detail: string;
  readonly durationMs: number;
  /** What was connected to: the server, or the proxy (origin without credentials). */
  readonly via: string;
  /** The server certificate, when the TLS handshake succeeded. */
  readonly certificate: ServerCertificate | null;
}

class StepError extends Error {
  constructor(
    readonly step: ProbeStep,
    message: string,
  ) {
    super(message);
  }
}

function bounded<T>(step: ProbeStep, timeoutMs: number, work: Promise<T>, onTimeout: () => void = () => undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new StepError(step, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function describe(step: ProbeStep, error: unknown): string {
  const e = error as { code?: string; message?: string };
  const code = e.code ?? '';
  if (step === 'dns') return code === 'ENOTFOUND' ? 'host name not found (DNS)' : `DNS lookup failed (${code || e.message || 'error'})`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `no route to host (${code})`;
  if (step === 'tls') {
    if (code === 'CERT_HAS_EXPIRED') return 'TLS certificate expired (CERT_HAS_EXPIRED)';
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `TLS certificate not trusted (${code}): set authServer.caFile to the CA that signed it`;
    return `TLS handshake failed (${code || e.message || 'error'})`;
  }
  return `${e.message ?? 'error'}${code ? ` (${code})` : ''}`;
}

async function lookup(host: string, timeoutMs: number): Promise<string> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) return bare;
  try {
    return (await bounded('dns', timeoutMs, dns.lookup(bare))).address;
  } catch (error) {
    throw error instanceof StepError ? error : new StepError('dns', describe('dns', error));
  }
}

function connectTcp(address: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const socket = net.connect({ host: address, port });
  const connected = new Promise<net.Socket>((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error) => reject(new StepError('tcp', describe('tcp', error))));
  });
  return bounded('tcp', timeoutMs, connected, () => socket.destroy());
}

function handshake(options: tls.ConnectionOptions, timeoutMs: number): Promise<tls.TLSSocket> {
  const socket = tls.connect(options);
  const done = new Promise<tls.TLSSocket>((resolve, reject) => {
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', (error) => reject(new StepError('tls', describe('tls', error))));
  });
  return bounded('tls', timeoutMs, done, () => socket.destroy());
}

/** HTTP CONNECT through an open connection to the proxy; resolves when the tunnel is up. */
function tunnel(socket: net.Socket, target: string, authorization: string | null, timeoutMs: number): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) reject(new StepError('proxy', 'the proxy answered CONNECT with an oversized header'));
        return;
      }
      socket.off('data', onData);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      if (status === '200') resolve();
      else if (status === '407')
        reject(new StepError('proxy', 'the proxy wants credentials (HTTP 407): put them in authServer.proxy (http://user:password@host:port)'));
      else reject(new StepError('proxy', `the proxy refused to connect to ${target} (HTTP ${status ?? 'answer not understood'})`));
    };
    socket.on('data', onData);
    socket.once('error', (error) => reject(new StepError('proxy', describe('proxy', error))));
    socket.once('end', () => reject(new StepError('proxy', 'the proxy closed the connection')));
  });
  const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
  if (authorization) lines.push(`Proxy-Authorization: ${authorization}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return bounded('proxy', timeoutMs, done);
}

function certificateOf(socket: tls.TLSSocket): ServerCertificate | null {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.valid_to) return null;
  const cn = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(', ') : (value ?? ''));
  return { notAfter: Date.parse(cert.valid_to), subject: cn(cert.subject?.CN), issuer: cn(cert.issuer?.CN) };
}

function defaultPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

export async function probeReachability(target: ReachabilityTarget): Promise<ReachabilityResult> {
  const started = performance.now();
  const server = new URL(target.url);
  const proxy = target.proxy ? new URL(target.proxy) : null;
  const via = proxy ? `proxy ${proxy.protocol}//${proxy.host}` : `${server.hostname}:${defaultPort(server)}`;
  const sockets: net.Socket[] = [];
  const finish = (failedStep: ProbeStep | null, detail: string, certificate: ServerCertificate | null): ReachabilityResult => {
    // Outermost first: destroying a TCP socket under a live TLS socket crashes node 20.
    for (const s of sockets.reverse()) s.destroy();
    return { reachable: failedStep === null, failedStep, detail, durationMs: performance.now() - started, via, certificate };
  };
  try {
    const first = proxy ?? server;
    const address = await lookup(first.hostname, target.timeoutMs);
    let socket: net.Socket = await connectTcp(address, defaultPort(first), target.timeoutMs);
    sockets.push(socket);
    if (proxy) {
      if (proxy.protocol === 'https:') {
        socket = await handshake({ socket, host: proxy.hostname, servername: net.isIP(proxy.hostname) ? undefined : proxy.hostname }, target.timeoutMs);
        sockets.push(socket);
      }
      const credentials = proxy.username
        ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`
        : null;
      await tunnel(socket, `${server.hostname}:${defaultPort(server)}`, credentials, target.timeoutMs);
    }
    if (server.protocol !== 'https:') return finish(null, 'reachable (plain HTTP: no TLS to check)', null);
    const host = server.hostname.replace(/^\[|\]$/g, '');
    // `host` is what the certificate must name (its IP SAN for an address).
    const secure = await handshake({ socket, host, servername: net.isIP(host) ? undefined : host, ca: target.ca }, target.timeoutMs);
    sockets.push(secure);
    const certificate = certificateOf(secure);
    return finish(null, 'reachable, TLS certificate trusted', certificate);
  } catch (error) {
    if (error instanceof StepError) return finish(error.step, error.message, null);
    return finish('tcp', describe('tcp', error), null);
  }
}
