import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { packageRoot } from '../package-root';
import type { RedisClient } from './connection';

/**
 * A Lua script kept in its own file (header: KEYS, ARGV, returns). The file name ends
 * with the number of keys it takes (`record-attempt-4.lua`). Called with EVALSHA and
 * loaded with EVAL on NOSCRIPT, so a Redis restart or failover costs one extra
 * round trip, not an error.
 */
export class LuaScript {
  readonly lua: string;
  readonly sha: string;
  readonly numberOfKeys: number;

  constructor(readonly relativePath: string) {
    this.lua = readFileSync(path.join(packageRoot(), relativePath), 'utf8');
    this.sha = createHash('sha1').update(this.lua).digest('hex');
    const match = /-(\d+)\.lua$/.exec(relativePath);
    if (!match) throw new Error(`Lua script file ${relativePath} must end with -<number of keys>.lua`);
    this.numberOfKeys = Number(match[1]);
  }

  async run(redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) {
      throw new Error(`${this.relativePath} takes ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.includes('NOSCRIPT')) {
        return redis.eval(this.lua, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }
}
