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

/**
 * A socket from `localAddress` that sends one keep-alive request and stays open:
 * 'answered' when the server answered (it holds a slot), 'refused' when it was closed
 * without an answer (the cap).
 */
async function hold(port: number, localAddress: string): Promise<{ outcome: 'answered' | 'refused'; socket: import('node:net').Socket }> {
  const net = await import('node:net');
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  const outcome = await new Promise<'answered' | 'refused'>((resolve) => {
    socket.once('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.once('data', () => resolve('answered'));
    socket.once('close', () => resolve('refused'));
  });
  return { outcome, socket };
}

it('keeps the reserve from an address that was just refused for holding too many (a flood re-entering after its sockets were cut)', async () => {
  const limits: ServerLimits = {
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 20_000,
    idleTimeoutMs: 10_000,
    maxConnections: 2,
    maxConnectionsPerAddress: 10,
    reservedConnections: 2,
  };
  const s = (server = http.createServer(serverCreationOptions(limits), (_req, res) => res.end('ok')));
  applyServerLimits(s, limits);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as AddressInfo;
  const connections = () => new Promise<number>((resolve) => s.getConnections((_e, n) => resolve(n)));
  const flooder = '127.0.0.2';
  // The flooder fills the main pool and is refused for holding two already.
  const first = [await hold(port, flooder), await hold(port, flooder)];
  expect(first.map((h) => h.outcome)).toEqual(['answered', 'answered']);
  expect((await hold(port, flooder)).outcome).toBe('refused');
  // Its sockets are cut (as a handshake deadline cuts a flood's), and another address fills the pool.
  for (const h of first) h.socket.destroy();
  const { waitFor } = await import('../../harness/wait');
  await waitFor('the server to see the flooder gone', async () => (await connections()) === 0, 10_000, 20);
  const other = [await hold(port, '127.0.0.3'), await hold(port, '127.0.0.3')];
  expect(other.map((h) => h.outcome)).toEqual(['answered', 'answered']);
  // The flooder comes back holding none: the reserve is not for it; a new address gets it.
  const again = await hold(port, flooder);
  const probe = await hold(port, '127.0.0.4');
  expect({ flooder: again.outcome, probe: probe.outcome }).toEqual({ flooder: 'refused', probe: 'answered' });
  for (const h of [...other, again, probe]) h.socket.destroy();
});
