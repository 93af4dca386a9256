import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyServerLimits, serverCreationOptions, type ServerLimits } from '../../daemon/http/server-limits';

/**
 * The shared server limits (daemon/http/server-limits.ts) on a real HTTP server on
 * loopback. The silence deadline is for a client that sends nothing: once a request
 * has arrived whole, the time the server takes to answer it (a queued password check, a
 * slow hash, a Redis read) is the server's, and the socket is kept until the answer
 * is written. Before, a first request whose answer took longer than the silence
 * deadline had its socket destroyed ("socket hang up"), which the reference server's
 * limit-race test hit on a loaded machine once scrypt became four times slower.
 */
const LIMITS: ServerLimits = { headersTimeoutMs: 2_000, requestTimeoutMs: 4_000, idleTimeoutMs: 300, maxConnections: 16 };

function serve(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(serverCreationOptions(LIMITS), handler);
  applyServerLimits(server, LIMITS);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function get(server: http.Server, path: string, body?: string): Promise<{ status: number; text: string }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: body === undefined ? 'GET' : 'POST', agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server?.closeAllConnections();
  server = undefined;
});

it('keeps the socket while the server prepares an answer longer than the silence deadline (GET and POST)', async () => {
  // Four silence deadlines of the server's own time before the answer.
  const slow = LIMITS.idleTimeoutMs * 4;
  server = await serve((req, res) => {
    // A GET handler that never reads the (empty) body, as most handlers do; a POST one that reads it.
    if (req.method === 'GET') {
      setTimeout(() => res.end('answered GET '), slow);
      return;
    }
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => setTimeout(() => res.end(`answered ${req.method} ${body}`), slow));
  });
  expect(await get(server, '/slow')).toEqual({ status: 200, text: 'answered GET ' });
  expect(await get(server, '/slow', 'a body')).toEqual({ status: 200, text: 'answered POST a body' });
});

it('still closes a socket that sends nothing after connecting', async () => {
  server = await serve((_req, res) => res.end('never'));
  const { port } = server.address() as AddressInfo;
  const net = await import('node:net');
  const closed = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('close', () => resolve(true));
    socket.on('error', () => undefined);
  });
  expect(closed).toBe(true);
});

it("still closes a socket whose request body stops arriving (the silence is the client's)", async () => {
  server = await serve((req, res) => req.on('end', () => res.end('never')).resume());
  const { port } = server.address() as AddressInfo;
  const net = await import('node:net');
  const closed = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart of it'));
    socket.on('close', () => resolve(true));
    socket.on('error', () => undefined);
  });
  expect(closed).toBe(true);
});
