import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

/**
 * Real servers for the reachability probe's tests: a TLS server (the handshake is all
 * the probe does) and an HTTP CONNECT proxy that can demand credentials and refuse
 * targets, recording what it was asked.
 */

export interface Closable {
  readonly port: number;
  close(): Promise<void>;
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TLS server on loopback that completes handshakes and closes. */
export async function startTlsServer(certPem: string, keyPem: string, port = 0): Promise<Closable> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => socket.end());
  // A probe hangs up right after its handshake.
  server.on('tlsClientError', () => undefined);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return closeServer(server);
    },
  };
}

export interface TestProxy extends Closable {
  readonly url: string;
  /** Every CONNECT target asked for, with the Proxy-Authorization header it came with. */
  readonly connects: Array<{ target: string; authorization: string | undefined }>;
}

/** An HTTP CONNECT proxy; with `credentials` ("user:password") it answers 407 to others. */
export async function startConnectProxy(options: { credentials?: string; refuse?: boolean } = {}): Promise<TestProxy> {
  const connects: TestProxy['connects'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    sockets.add(client);
    const authorization = req.headers['proxy-authorization'];
    connects.push({ target: req.url ?? '', authorization });
    if (options.credentials && authorization !== `Basic ${Buffer.from(options.credentials).toString('base64')}`) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    if (options.refuse) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect({ host, port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const userinfo = options.credentials ? `${options.credentials.split(':').map(encodeURIComponent).join(':')}@` : '';
  return {
    port,
    url: `http://${userinfo}127.0.0.1:${port}`,
    connects,
    close: () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      return closeServer(server);
    },
  };
}
