import type { RedisClient } from '../../../shared/redis/connection';
import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { cliLogger } from '../cli-logger';
import { CorruptRecordLog } from '../../view/corrupt-record-log';
import { readFailures } from '../../view/failure-history';
import { catalogEntryOf, renderDetails, renderFailures } from '../../view/text-tables';
import { ExitCode, intFlag, stringFlag, type CommandContext } from '../command';

/**
 * `fdl-cloudauth failures`: the project's failure list (R4) as a table or JSON, with the
 * catalog's steps (--details). A node with nothing to list is told apart: a member with
 * no failure, or a node unbound from the project (its history kept 30 days).
 */
async function noFailuresOf(redis: RedisClient, keys: ProjectKeys, node: string): Promise<string> {
  const [member, unbound] = await Promise.all([redis.zscore(keys.nodes, node), redis.sismember(keys.removed, node)]);
  if (member === null && unbound === 1) {
    return `No failures recorded for node ${node}: it was unbound from project ${keys.project} (\`fdl-cloudauth unbind\`), and had none in the 30 days its history is kept after an unbind.\n`;
  }
  return `No failures recorded for node ${node}.\n`;
}

export async function run(ctx: CommandContext): Promise<number> {
  const limit = intFlag(ctx, 'limit', 1) ?? 50;
  const node = stringFlag(ctx, 'node');
  const cfg = ctx.config(['project']);
  const log = cliLogger(cfg.log.level === 'info' ? 'warn' : cfg.log.level, 'failures');
  const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);
  const details = ctx.values.details === true;
  return withCliRedis(cfg.redis, 'failures', log, ctx.stderr, async (redis) => {
    const corrupt = new CorruptRecordLog(log);
    const entries = await readFailures(redis, keys, { node, limit }, corrupt);
    if (ctx.values.json === true) {
      const json = entries.map((e) => {
        const row = { node: e.node, at: new Date(e.at).toISOString(), code: e.code, name: e.name, message: e.message, attemptId: e.attemptId };
        if (!details) return row;
        const c = catalogEntryOf(e);
        return { ...row, definition: c.definition, steps: { ...c.steps } };
      });
      ctx.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else if (entries.length === 0 && node !== undefined) {
      ctx.stdout.write(await noFailuresOf(redis, keys, node));
    } else {
      ctx.stdout.write(renderFailures(entries, { width: 80 }));
      if (details) ctx.stdout.write(renderDetails(entries, { width: 80 }));
    }
    if (corrupt.total > 0) ctx.stderr.write(`warning: skipped ${corrupt.total} history entr${corrupt.total === 1 ? 'y' : 'ies'} that do not parse\n`);
    return ExitCode.OK;
  });
}
