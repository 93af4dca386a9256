import { ConfigError } from '../../../shared/config/load';
import { NAME_PATTERN, ProjectKeys } from '../../../shared/redis/keys';
import { removeNodeSchedule } from '../../agent/heartbeat-scheduler';
import { readCredential } from '../../credentials/credential-store';
import { unbindNode } from '../../credentials/unbind-node';
import { cliLogger } from '../cli-logger';
import { withCliRedis } from '../cli-redis';
import { ExitCode, stringFlag, UsageError, type CommandContext } from '../command';

/**
 * `fdl-cloudauth unbind --node ID`: the flags and what is said; the unbinding itself
 * (server first, then the project's view and the schedule) is
 * credentials/unbind-node.ts, and the schedule is dropped by the agent's scheduler
 * (agent/heartbeat-scheduler.ts). Stop the node's sidecar first: a running sidecar
 * would bind the node again.
 */
export async function run(ctx: CommandContext): Promise<number> {
  const nodeId = stringFlag(ctx, 'node');
  if (!nodeId) throw new UsageError('--node ID is required');
  if (!NAME_PATTERN.test(nodeId)) throw new UsageError(`--node "${nodeId}" is not a node id: letters, digits, ".", "_" or "-", up to 64`);
  const cfg = ctx.config(['project']);
  if (!cfg.authServer.url) {
    throw new ConfigError(['authServer.url (CLOUDAUTH_AUTH_SERVER_URL): is required by unbind: set the authorization server URL']);
  }
  const log = cliLogger(cfg.log.level, 'unbind');
  const keys = new ProjectKeys(cfg.redis.keyPrefix, cfg.project);
  return withCliRedis(cfg.redis, 'unbind', log, ctx.stderr, async (redis) => {
    const credential = await readCredential(redis, keys);
    if (!credential) {
      ctx.stderr.write(`project ${cfg.project} has no stored credential: run \`fdl-cloudauth register\` first\n`);
      return ExitCode.FAILED;
    }
    const result = await unbindNode({
      redis,
      keys,
      authServer: cfg.authServer,
      keyDir: cfg.crypto.keyDir,
      credential,
      nodeId,
      removeSchedule: () => removeNodeSchedule(cfg.redis, keys.bullPrefix, nodeId),
      warn: (error, what) => log.warn({ err: error }, what),
    });
    if (!result.done) {
      const { outcome } = result;
      ctx.stderr.write(
        `unbind of node ${nodeId} failed: ${outcome.code ?? '-'} ${outcome.name}: ${outcome.message}. ` +
          'Nothing was changed; see `fdl-cloudauth failures --details` for what this reason means.\n',
      );
      return ExitCode.FAILED;
    }
    if (result.notBound) {
      ctx.stdout.write(
        `node ${nodeId} is not bound to account ${credential.account}, so there was nothing to unbind (20000 DO_NOT_NEED_DEACTIVATE). ` +
          'It never authenticated successfully, was already unbound, or its slot was freed after 24 h without a successful authentication.\n',
      );
    } else {
      ctx.stdout.write(`node ${nodeId} unbound: its slot under account ${credential.account} is free\n`);
    }
    if (result.wasMember) ctx.stdout.write(`node ${nodeId} was removed from the status of project ${cfg.project}\n`);
    return ExitCode.OK;
  });
}
