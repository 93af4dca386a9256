import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import { LuaScript } from '../../shared/redis/lua-script';
import type { ProjectStatus } from '../../shared/redis/records';

/**
 * The aggregator's writes, every one fenced by the leader epoch in Lua
 * (write-status-5.lua): a write from an instance that does not hold the lease with
 * that epoch is refused and counted in the project's counters hash
 * (`staleWritesRejected`).
 */
export type WriteOutcome = 'written' | 'unchanged' | 'sticky-failed' | 'stale-view' | 'fenced';

const OUTCOMES: Record<string, WriteOutcome> = { '1': 'written', '0': 'unchanged', '2': 'sticky-failed', '3': 'stale-view', '-1': 'fenced' };

const writeStatusScript = new LuaScript('daemon/aggregator/lua/write-status-5.lua');

export interface StatusWrite {
  instance: string;
  epoch: number;
  status: ProjectStatus;
  /** Credential generation the status was computed from. */
  generation: number;
}

export class StatusWriter {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ProjectKeys,
  ) {}

  async writeStatus(write: StatusWrite): Promise<WriteOutcome> {
    const k = this.keys;
    const code = await writeStatusScript.run(
      this.redis,
      [k.leader, k.status, k.counters, k.events, k.credential],
      [write.instance, write.epoch, write.status, write.generation],
    );
    const outcome = OUTCOMES[String(code)];
    if (!outcome) throw new Error(`write-status-5.lua answered an unknown code ${String(code)}`);
    return outcome;
  }

  /** Stale writes Redis refused for this project, by any instance. */
  async staleWritesRejected(): Promise<number> {
    return Number((await this.redis.hget(this.keys.counters, 'staleWritesRejected')) ?? 0);
  }
}
