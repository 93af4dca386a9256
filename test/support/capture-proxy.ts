import net from 'node:net';

/**
 * A loopback TCP proxy that records every byte a client sends through it, one buffer
 * per connection, so a test can check what crossed the "network": a TLS handshake
 * (first byte 0x16, a handshake record) or a password in clear.
 */
export class CaptureProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Bytes sent by clients, one entry per accepted connection, in order. */
  readonly sent: Buffer[] = [];
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const index = this.sent.push(Buffer.alloc(0)) - 1;
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      client.on('data', (data: Buffer) => {
        this.sent[index] = Buffer.concat([this.sent[index] as Buffer, data]);
        upstream.write(data);
      });
      upstream.on('data', (data: Buffer) => client.write(data));
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** Whether every recorded connection opened with a TLS handshake record. */
  allStartWithTlsHandshake(): boolean {
    return this.sent.every((bytes) => bytes.length > 0 && bytes[0] === 0x16 && bytes[1] === 0x03);
  }

  /** Whether `text` appears in clear in anything a client sent. */
  sawInClear(text: string): boolean {
    return this.sent.some((bytes) => bytes.includes(Buffer.from(text)));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
