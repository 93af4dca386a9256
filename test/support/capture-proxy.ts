import { PausableProxy } from './pausable-proxy';

/**
 * A loopback TCP proxy that records every byte a client sends through it, one buffer
 * per connection, so a test can check what crossed the "network": a TLS handshake
 * (first byte 0x16, a handshake record) or a password in clear.
 */
export class CaptureProxy {
  /** Bytes sent by clients, one entry per accepted connection, in order. */
  readonly sent: Buffer[] = [];
  private readonly proxy: PausableProxy;

  constructor(targetPort: number) {
    this.proxy = new PausableProxy(targetPort, '127.0.0.1', (connection, data) => {
      this.sent[connection] = Buffer.concat([this.sent[connection] ?? Buffer.alloc(0), data]);
    });
  }

  get port(): number {
    return this.proxy.port;
  }

  start(): Promise<void> {
    return this.proxy.start();
  }

  /** Whether every recorded connection opened with a TLS handshake record. */
  allStartWithTlsHandshake(): boolean {
    return this.sent.every((bytes) => bytes.length > 0 && bytes[0] === 0x16 && bytes[1] === 0x03);
  }

  /** Whether `text` appears in clear in anything a client sent. */
  sawInClear(text: string): boolean {
    return this.sent.some((bytes) => bytes.includes(Buffer.from(text)));
  }

  close(): Promise<void> {
    return this.proxy.close();
  }
}
