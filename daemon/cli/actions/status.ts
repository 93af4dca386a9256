import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { cliLogger } from '../cli-logger';
import { ProjectViewReader } from '../../view/project-view';
import { buildStatusJson } from '../../view/status-json';
import { renderStatus } from '../../view/text-tables';
import { viewPolicy } from '../../view/view-policy';
import { ExitCode, type CommandContext } from '../command';

export async function run(ctx: CommandContext): Promise<number> {
  const cfg = ctx.config(['project']);
  const log = cliLogger(cfg.log.level === 'info' ? 'warn' : cfg.log.level, 'status');
  const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);
  return withCliRedis(cfg.redis, 'status', log, ctx.stderr, async (redis) => {
    const reader = new ProjectViewReader({
      redis,
      keys,
      log,
      policy: viewPolicy(cfg),
    });
    const view = await reader.read();
    if (ctx.values.json === true) ctx.stdout.write(`${JSON.stringify(buildStatusJson(view), null, 2)}\n`);
    else ctx.stdout.write(renderStatus(view, { width: 80 }));
    if (reader.corrupt.total > 0) {
      ctx.stderr.write(`warning: skipped ${reader.corrupt.total} node record(s) in Redis that do not parse\n`);
    }
    return ExitCode.OK;
  });
}
