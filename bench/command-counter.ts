import type { Redis } from 'ioredis';

/**
 * Counts what one ioredis connection sends: commands (every command, pipelined ones
 * included) and round trips (writes to the socket — a pipeline or MULTI/EXEC block
 * is written once, a single command once). Counting the writes, not the replies,
 * measures exactly what "one pipeline per round" promises.
 */
export interface CommandCount {
  commands: number;
  roundTrips: number;
  byName: Record<string, number>;
}

type SendCommand = Redis['sendCommand'];
type Writable = { write: (...args: unknown[]) => boolean; __benchCounted?: boolean };

export class CommandCounter {
  private commands = 0;
  private roundTrips = 0;
  private readonly byName = new Map<string, number>();

  constructor(private readonly client: Redis) {
    const original: SendCommand = client.sendCommand.bind(client);
    const counted = ((command: Parameters<SendCommand>[0], stream?: Parameters<SendCommand>[1]) => {
      this.commands += 1;
      this.byName.set(command.name, (this.byName.get(command.name) ?? 0) + 1);
      return original(command, stream);
    }) as SendCommand;
    client.sendCommand = counted;
    // A reconnect brings a new socket: count its writes too.
    client.on('connect', () => this.wrapStream());
    this.wrapStream();
  }

  private wrapStream(): void {
    const stream = (this.client as unknown as { stream?: Writable }).stream;
    if (!stream || stream.__benchCounted) return;
    const write = stream.write.bind(stream);
    stream.write = (...args: unknown[]) => {
      this.roundTrips += 1;
      return write(...args);
    };
    stream.__benchCounted = true;
  }

  snapshot(): CommandCount {
    return { commands: this.commands, roundTrips: this.roundTrips, byName: Object.fromEntries(this.byName) };
  }

  /** What was sent since `before`. */
  since(before: CommandCount): CommandCount {
    const now = this.snapshot();
    const byName: Record<string, number> = {};
    for (const [name, n] of Object.entries(now.byName)) {
      const d = n - (before.byName[name] ?? 0);
      if (d > 0) byName[name] = d;
    }
    return { commands: now.commands - before.commands, roundTrips: now.roundTrips - before.roundTrips, byName };
  }
}
