import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';

/**
 * An authorization server that misbehaves on purpose, one way per mode, for the
 * agent's answer handling (SPEC §4). Loopback only.
 */
export type HostileMode = 'malformed' | 'truncated' | 'huge' | 'slow' | 'reset' | 'unknown-code' | 'ok' | 'stall-body' | 'http503';

export interface HostileServer {
  url: string;
  mode: HostileMode;
  requests: number;
  close(): Promise<void>;
}

export async function startHostileServer(initial: HostileMode, tls?: { cert: string; key: string }): Promise<HostileServer> {
  const sockets = new Set<Socket>();
  const state = { mode: initial, requests: 0 };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      state.requests += 1;
      switch (state.mode) {
        case 'ok':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              code: 0,
              name: 'OK',
              message: 'ok',
              data: { licenseExpiresAt: '2099-01-01T00:00:00Z', capacity: 3, bound: 1, serverTime: new Date().toISOString() },
            }),
          );
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('<html>proxy error</html>');
          return;
        case 'truncated':
          // Declares 400 bytes, sends 30, closes: the body ends early.
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
          res.write('{"code":0,"name":"OK","data":{');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        case 'huge':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`{"code":0,"message":"${'x'.repeat(1024 * 1024)}"}`);
          return;
        case 'slow':
          // Answers long after any sane timeout.
          setTimeout(() => res.writableEnded || res.end('{"code":0}'), 60_000).unref();
          return;
        case 'stall-body':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"code":0,');
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'unknown-code':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 49999, name: 'SOMETHING_NEW', message: 'a code from the future' }));
          return;
        case 'http503':
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('maintenance');
          return;
      }
    });
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: HostileMode) {
      state.mode = m;
    },
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface HangingServer {
  url: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A raw TCP server that accepts every connection and never sends a byte (a server
 * whose process is wedged, or a firewall that black-holes after the handshake).
 * It reads and discards what the client sends, so the request is fully "delivered".
 */
export async function startHangingServer(): Promise<HangingServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
