import Redis from 'ioredis';

/**
 * Every top-level command a Redis server runs, by connection, through MONITOR —
 * to attribute commands to connections this process does not wrap (BullMQ's).
 * Commands a Lua script runs are reported by MONITOR with the source `lua` and are
 * left out here: an EVALSHA counts once, whatever its script does.
 */
export interface MonitoredCommand {
  atMs: number;
  name: string;
  /** Client address `ip:port`. */
  source: string;
}

export class CommandMonitor {
  readonly commands: MonitoredCommand[] = [];
  private monitor: (Redis & { disconnect(): void }) | undefined;

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    const client = new Redis(this.url);
    this.monitor = (await client.monitor()) as Redis;
    client.disconnect();
    this.monitor.on('monitor', (time: string, args: string[], source: string) => {
      if (source === 'lua') return;
      this.commands.push({ atMs: Number(time) * 1000, name: String(args[0] ?? '').toLowerCase(), source });
    });
  }

  /** Commands seen from now on, up to `until` (a count returned by mark()). */
  mark(): number {
    return this.commands.length;
  }

  between(from: number, to: number): MonitoredCommand[] {
    return this.commands.slice(from, to);
  }

  close(): void {
    this.monitor?.disconnect();
  }
}

/** Maps client addresses to connection names (CLIENT LIST), for attributing monitored commands. */
export async function clientNames(redis: Redis): Promise<Map<string, string>> {
  const list = (await redis.client('LIST')) as string;
  const names = new Map<string, string>();
  for (const line of list.split('\n')) {
    const addr = /(?:^| )addr=(\S+)/.exec(line)?.[1];
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1];
    if (addr) names.set(addr, name ?? '');
  }
  return names;
}
