import net from 'node:net';
import tls from 'node:tls';
import { runCli } from '../support/cli';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';

/**
 * Issue 28, item 7, on real sockets: a CLI configured with `rediss://` and Sentinels
 * reached in plain text asks a Sentinel where the primary is, and checks the primary's
 * certificate against whatever host the reply names. Here a fake Sentinel (a small TCP
 * server speaking RESP) names an attacker's TLS server whose certificate the process
 * trusts (its CA is given through NODE_EXTRA_CA_CERTS, the stand-in for a public CA
 * that issues certificates to anyone for their own host). Before the fix the attacker
 * received `AUTH`/`HELLO` with the Redis password; now the configuration check refuses
 * the combination (exit 2, naming the settings that pin the primary's identity) before
 * any socket is opened, and with `servername` pinned nothing reaches the attacker.
 */
jest.setTimeout(60_000);

const PASSWORD = 'redis-Pw-sentinel-pin-8Jw';
let files: CertificateFiles;
const servers: net.Server[] = [];

beforeAll(() => {
  files = writeCertificates();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

afterAll(() => files.remove());

interface Listening {
  port: number;
  /** Every byte received, as latin1 text. */
  received: () => string;
  connections: () => number;
}

function listen(server: net.Server, onData: (socket: net.Socket, text: string) => void): Promise<Listening> {
  let received = '';
  let connections = 0;
  const sockets = new Set<net.Socket>();
  server.on(server instanceof tls.Server ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      onData(socket, data.toString('latin1'));
    });
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  const origClose = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    sockets.forEach((s) => s.destroy());
    return origClose(cb);
  };
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({ port, received: () => received, connections: () => connections });
    }),
  );
}

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

/** A fake Sentinel: names `target` as the primary, knows no other Sentinel, says OK to the rest. */
function fakeSentinel(targetPort: number): Promise<Listening> {
  return listen(net.createServer(), (socket, text) => {
    // One reply per command in the chunk; commands arrive as RESP arrays.
    const commands = text.split(/\*\d+\r\n/).filter((c) => c.length > 0);
    for (const command of commands) {
      const lower = command.toLowerCase();
      if (lower.includes('get-master-addr-by-name')) socket.write(`*2\r\n${bulk('127.0.0.1')}${bulk(String(targetPort))}`);
      else if (lower.includes('sentinels')) socket.write('*0\r\n');
      else socket.write('+OK\r\n');
    }
  });
}

/** The attacker: a TLS server with a certificate for 127.0.0.1 the client trusts; answers nothing. */
function attacker(): Promise<Listening> {
  return listen(tls.createServer({ cert: files.pems.certPem, key: files.pems.keyPem }), () => undefined);
}

function env(sentinelPort: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_EXTRA_CA_CERTS: files.caFile,
    CLOUDAUTH_PROJECT: 'pin-test',
    CLOUDAUTH_REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:6379`,
    CLOUDAUTH_REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
    CLOUDAUTH_REDIS_SENTINEL_NAME: 'mymaster',
    ...extra,
  };
}

describe('Sentinel with rediss:// and plain-text Sentinels', () => {
  it('is refused by the configuration check before any socket is opened: the attacker a Sentinel names never hears the password', async () => {
    const evil = await attacker();
    const sentinel = await fakeSentinel(evil.port);
    const run = await runCli(['status'], env(sentinel.port));
    expect(evil.received()).not.toContain(PASSWORD);
    expect(evil.connections()).toBe(0);
    expect(sentinel.connections()).toBe(0);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/redis\.tls\.servername \(CLOUDAUTH_REDIS_TLS_SERVERNAME\)/);
    expect(run.stderr).toMatch(/redis\.tls\.caFile \(CLOUDAUTH_REDIS_TLS_CA_FILE\)/);
    expect(run.stderr).toMatch(/redis\.sentinelTls \(CLOUDAUTH_REDIS_SENTINEL_TLS=true\)/);
    expect(`${run.stdout}${run.stderr}`).not.toContain(PASSWORD);
  });

  it('with servername pinned, asks the Sentinel but sends nothing to a primary whose certificate does not carry that name', async () => {
    const evil = await attacker();
    const sentinel = await fakeSentinel(evil.port);
    const run = await runCli(['status'], env(sentinel.port, { CLOUDAUTH_REDIS_TLS_SERVERNAME: 'redis-primary.internal' }));
    expect(sentinel.connections()).toBeGreaterThan(0);
    expect(run.code).toBe(3);
    expect(evil.received()).toBe('');
    expect(`${run.stdout}${run.stderr}`).not.toContain(PASSWORD);
  });
});
