import net from 'node:net';

/**
 * A TCP proxy in front of Redis for one client's connections, that can hold every
 * byte in both directions: the client's connection stays open but nothing arrives
 * (a "paused connection", as a stuck network path or a GC pause looks from Redis).
 * resume() delivers what was held, in order.
 */
export class PausableProxy {
  private server: net.Server | undefined;
  private paused = false;
  private readonly flushers = new Set<() => void>();
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
    /** Sees every chunk a client sends, with the number of its connection (CaptureProxy records them). */
    private readonly onClientData?: (connection: number, data: Buffer) => void,
  ) {}

  private connections = 0;

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const connection = this.connections++;
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client).add(upstream);
      const held: Array<[net.Socket, Buffer]> = [];
      const forward = (to: net.Socket) => (data: Buffer) => {
        if (this.paused) held.push([to, data]);
        else to.write(data);
      };
      const flush = () => {
        for (const [to, data] of held.splice(0)) if (!to.destroyed) to.write(data);
      };
      this.flushers.add(flush);
      const toUpstream = forward(upstream);
      client.on('data', (data: Buffer) => {
        this.onClientData?.(connection, data);
        toUpstream(data);
      });
      upstream.on('data', forward(client));
      const close = () => {
        this.flushers.delete(flush);
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

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const flush of this.flushers) flush();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
