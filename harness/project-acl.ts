import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { projectUserName } from '../shared/redis/acl-rules';
import { createProjectUser, urlWithUser } from '../shared/redis/create-project-user';
import { beforeDisposeAll, onRedisStart, startedRedis, type TestRedis } from './redis-server';

/**
 * The least-privilege Redis user of a project (shared/redis/acl-rules.ts) on every
 * test Redis, so the process tests run their sidecars as a site following
 * deploy/redis/ would (issue 28, item 8): a permission the product needs and the user
 * lacks fails the test. The user is created on every redis-server this worker has
 * started (primaries, replicas, Cluster nodes — ACL users are not replicated) and
 * again after each restart, as an ACL file would keep it. Before the servers are
 * disposed, every denial logged for such a user (ACL LOG) fails the suite; a test
 * that provokes denials on purpose empties the log after (`resetAclLog`).
 */

interface ProjectUser {
  readonly name: string;
  readonly password: string;
  readonly keyPrefix: string;
  readonly project: string;
}

const users = new Map<string, ProjectUser>();

function adminClient(server: TestRedis): Redis {
  const client = new Redis({ ...server.clientOptions(), lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

async function apply(server: TestRedis, user: ProjectUser): Promise<void> {
  if (!server.running) return;
  const admin = adminClient(server);
  try {
    await createProjectUser(admin, user.keyPrefix, user.project, user.password);
  } finally {
    admin.disconnect();
  }
}

/** ACL LOG entries of the project users on one server. */
export async function aclDenials(server: TestRedis): Promise<string[]> {
  if (!server.running) return [];
  const admin = adminClient(server);
  try {
    const entries = (await admin.call('ACL', 'LOG', '128')) as unknown[][];
    const names = new Set([...users.values()].map((u) => u.name));
    return (
      entries
        .map((entry) => {
          const fields = new Map<string, unknown>();
          for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
          return fields;
        })
        // Refused commands, keys and channels; not a refused AUTH: a sidecar reconnecting to a
        // restarted server in the moment before this file's start hook has made the user again.
        .filter((f) => names.has(String(f.get('username'))) && String(f.get('reason')) !== 'auth')
        .map(
          (f) =>
            `${String(f.get('username'))}: ${String(f.get('reason'))} ${String(f.get('object'))} (${String(f.get('context'))}, ${String(f.get('count'))}×)`,
        )
    );
  } finally {
    admin.disconnect();
  }
}

/** Empties the ACL LOG of every running server (after denials a test provoked on purpose). */
export async function resetAclLog(): Promise<void> {
  for (const server of startedRedis()) {
    if (!server.running) continue;
    const admin = adminClient(server);
    try {
      await admin.call('ACL', 'LOG', 'RESET');
    } finally {
      admin.disconnect();
    }
  }
}

let hooked = false;
function hookOnce(): void {
  if (hooked) return;
  hooked = true;
  onRedisStart(async (server) => {
    for (const user of users.values()) await apply(server, user);
  });
  beforeDisposeAll(async (servers) => {
    const found = (await Promise.all(servers.map((s) => aclDenials(s).catch(() => [])))).flat();
    if (found.length > 0) {
      throw new Error(`Redis refused the project's ACL user (add what it needs to shared/redis/acl-rules.ts and deploy/redis/):\n${found.join('\n')}`);
    }
  });
}

/** Creates (once per worker) the project's user on every test Redis; returns its name and password. */
export async function ensureProjectUser(keyPrefix: string, project: string): Promise<{ name: string; password: string }> {
  hookOnce();
  const name = projectUserName(keyPrefix, project);
  let user = users.get(name);
  if (!user) {
    user = { name, password: randomBytes(12).toString('hex'), keyPrefix, project };
    users.set(name, user);
  }
  for (const server of startedRedis()) await apply(server, user);
  return { name: user.name, password: user.password };
}

/** redis.url with the project's user and password in place of whatever user the URL named. */
export async function projectUserUrl(redisUrl: string, keyPrefix: string, project: string): Promise<string> {
  const user = await ensureProjectUser(keyPrefix, project);
  return urlWithUser(redisUrl, user.name, user.password);
}
