import { Queue } from 'bullmq';
import { ConfigError, type Config } from '../../../shared/config/load';
import { Codes } from '../../../shared/catalog';
import { closeRedis, createRedis } from '../../../shared/redis/connection';
import { withCliRedis } from '../cli-redis';
import { NAME_PATTERN, ProjectKeys } from '../../../shared/redis/keys';
import { LuaScript } from '../../../shared/redis/lua-script';
import { queueName, SCHEDULER_ID } from '../../agent/schedule';
import { cliLogger } from '../../credentials/cli-logger';
import { decryptCredential, readCredential } from '../../credentials/credential-store';
import { AuthClient } from '../../protocol/auth-client';
import { classify, type Outcome } from '../../protocol/classify';
import { ExitCode, stringFlag, UsageError, type CommandContext } from '../command';

/**
 * `fdl-cloudauth unbind --node ID`: frees the node's slot on the authorization server
 * (protocol v1 /v1/unbind, with the project's credential) and takes the node out of
 * the project's view, so a migrated node neither holds a slot nor shows as stale.
 * Stop the node's sidecar first: a running sidecar would bind the node again.
 */
import { DamagedKeyError, damagedRole } from '../../../shared/redis/damaged-key-error';

export const REMOVE_NODE = new LuaScript({
  file: 'daemon/agent/lua/remove-node-6.lua',
  keys: ['nodes', 'node', 'attempts', 'history', 'removed', 'events'],
  args: ['nodeId', 'historyRetentionS'],
  // 1 when the node was part of the project; the role of a key of the wrong type (nothing written).
  reply: (raw, check): boolean | { damaged: 'nodes' | 'removed' } => {
    const role = damagedRole(raw);
    if (role === 'nodes' || role === 'removed') return { damaged: role };
    return check.integer(raw) === 1;
  },
});
const HISTORY_RETENTION_S = 30 * 86_400;

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
  return withCliRedis(cfg.redis, 'unbind', log, async (redis) => {
    const credential = await readCredential(redis, keys);
    if (!credential) {
      ctx.stderr.write(`project ${cfg.project} has no stored credential: run \`fdl-cloudauth register\` first\n`);
      return ExitCode.FAILED;
    }
    const password = decryptCredential(credential, cfg.crypto.keyDir);
    const client = new AuthClient(cfg.authServer);
    let outcome: Outcome;
    try {
      outcome = classify(await client.post('/v1/unbind', { account: credential.account, password, project: cfg.project, nodeId }));
    } finally {
      await client.close();
    }
    const notBound = !outcome.ok && outcome.code === Codes.DO_NOT_NEED_DEACTIVATE;
    if (!outcome.ok && !notBound) {
      ctx.stderr.write(
        `unbind of node ${nodeId} failed: ${outcome.code ?? '-'} ${outcome.name}: ${outcome.message}. ` +
          'Nothing was changed; see `fdl-cloudauth failures --details` for what this reason means.\n',
      );
      return ExitCode.FAILED;
    }
    const removeKeys = { nodes: keys.nodes, node: keys.node(nodeId), attempts: keys.attempts(nodeId), history: keys.history(nodeId), removed: keys.removed, events: keys.events };
    const wasMember = await REMOVE_NODE.run(redis, removeKeys, { nodeId, historyRetentionS: HISTORY_RETENTION_S });
    if (typeof wasMember === 'object') throw new DamagedKeyError(wasMember.damaged, removeKeys[wasMember.damaged], REMOVE_NODE.file);
    await removeSchedule(cfg.redis, keys, nodeId).catch((error: unknown) => log.warn({ err: (error as Error).message }, 'could not remove the node schedule'));
    if (notBound) {
      ctx.stdout.write(
        `node ${nodeId} is not bound to account ${credential.account}, so there was nothing to unbind (20000 DO_NOT_NEED_DEACTIVATE). ` +
          'It never authenticated successfully, was already unbound, or its slot was freed after 24 h without a successful authentication.\n',
      );
    } else {
      ctx.stdout.write(`node ${nodeId} unbound: its slot under account ${credential.account} is free\n`);
    }
    if (wasMember) ctx.stdout.write(`node ${nodeId} was removed from the status of project ${cfg.project}\n`);
    return ExitCode.OK;
  });
}

/** The unbound node's heartbeat schedule goes too, so no leftover job binds it again. */
async function removeSchedule(redisConfig: Config['redis'], keys: ProjectKeys, nodeId: string): Promise<void> {
  const connection = createRedis(redisConfig, { purpose: 'bullmq', connectionName: 'fdl-cloudauth-unbind-queue' });
  const queue = new Queue(queueName(nodeId), { connection, prefix: keys.bullPrefix });
  try {
    await queue.removeJobScheduler(SCHEDULER_ID);
  } finally {
    await queue.close();
    await closeRedis(connection);
  }
}
