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
export type WriteOutcome = 'written' | 'unchanged' | 'sticky-failed' | 'stale-view' | 'no-credential' | 'fenced';

const OUTCOMES: Record<string, WriteOutcome> = {
  '1': 'written',
  '0': 'unchanged',
  '2': 'sticky-failed',
  '3': 'stale-view',
  '4': 'no-credential',
  '-1': 'fenced',
};

const writeStatusScript = new LuaScript({
  file: 'daemon/aggregator/lua/write-status-5.lua',
  keys: ['leader', 'status', 'counters', 'events', 'credential'],
  args: ['instance', 'epoch', 'status', 'generation', 'registration'],
  reply(raw, check): WriteOutcome {
    return OUTCOMES[String(check.integer(raw))] ?? check.fail(`one of ${Object.keys(OUTCOMES).join(', ')}`);
  },
});

export interface StatusWrite {
  instance: string;
  epoch: number;
  status: ProjectStatus;
  /** Credential generation the status was computed from (for people). */
  generation: number;
  /** The registration the status was computed from ('' without a credential: then refused). */
  registration: string;
}

export class StatusWriter {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ProjectKeys,
  ) {}

  async writeStatus(write: StatusWrite): Promise<WriteOutcome> {
    const k = this.keys;
    return writeStatusScript.run(
      this.redis,
      { leader: k.leader, status: k.status, counters: k.counters, events: k.events, credential: k.credential },
      { instance: write.instance, epoch: write.epoch, status: write.status, generation: write.generation, registration: write.registration },
    );
  }
}
