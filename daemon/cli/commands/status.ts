import { withCliRedis } from '../cli-redis';
import { ProjectKeys } from '../../../shared/redis/keys';
import { cliLogger } from '../../credentials/cli-logger';
import { ProjectViewReader } from '../../view/project-view';
import { buildStatusJson } from '../../view/status-json';
import { renderStatus } from '../../view/text-tables';
import { ExitCode, type Command, type CommandContext } from '../command';

/**
 * `fdl-cloudauth status [--json]`: the project's status and a row per node, read with
 * the same code and rules as the aggregator (so it agrees with `GET /status` and the
 * metrics), from any machine that reaches Redis.
 */
export const statusCommand: Command = {
  name: 'status',
  summary: 'project status, time to lockout, license, leader and a row per node',
  help: `Usage: fdl-cloudauth status [--json]

Shows the project's registration status, the time left before it would be marked
failed if every attempt fails from now, the license, the aggregator leader, and per
node: status, consecutive failures, the reason of the first failure of the streak,
last attempt and last success (local time and how long ago).

  --json   the JSON of GET /status (times in ISO 8601 UTC)`,
  options: { json: { type: 'boolean' } },
  async run(ctx: CommandContext): Promise<number> {
    const cfg = ctx.config(['project']);
    const log = cliLogger(cfg.log.level === 'info' ? 'warn' : cfg.log.level, 'status');
    const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);
    return withCliRedis(cfg.redis, 'status', log, async (redis) => {
      const reader = new ProjectViewReader({
        redis,
        keys,
        log,
        policy: { failurePolicy: cfg.cluster.failurePolicy, threshold: cfg.heartbeat.failureThreshold, intervalMs: cfg.heartbeat.intervalMs },
      });
      const view = await reader.read();
      if (ctx.values.json === true) ctx.stdout.write(`${JSON.stringify(buildStatusJson(view), null, 2)}\n`);
      else ctx.stdout.write(renderStatus(view, { width: 80 }));
      if (reader.corrupt.total > 0) {
        ctx.stderr.write(`warning: skipped ${reader.corrupt.total} node record(s) in Redis that do not parse\n`);
      }
      return ExitCode.OK;
    });
  },
};
