import type { RedisClient } from './connection';
import { NEWER_COMMANDS, projectUserName, projectUserRules } from './acl-rules';

/**
 * Creates (or resets) a project's least-privilege ACL user on one Redis server, with an
 * administrator's connection: for the demo's private redis-server and the tests' servers.
 * A command the server does not know yet (NEWER_COMMANDS: CLIENT SETINFO before 7.2) is
 * left out, as deploy/redis/project-user.sh --redis-before-7.2 does; ACL SETUSER names it
 * in its refusal. Returns the user's name.
 */
export async function createProjectUser(admin: RedisClient, keyPrefix: string, project: string, password: string): Promise<string> {
  const name = projectUserName(keyPrefix, project);
  const without: string[] = [];
  for (;;) {
    try {
      await admin.call('ACL', 'SETUSER', name, ...projectUserRules(keyPrefix, project, { without }), `>${password}`);
      return name;
    } catch (error) {
      // The refusal names the rule, never the password (it is the last argument, not quoted back).
      const unknown = Object.keys(NEWER_COMMANDS).find((c) => !without.includes(c) && String(error).includes(`'+${c}'`));
      if (!unknown) throw error;
      without.push(unknown);
    }
  }
}

/** The URL with the project's user and password in place of the URL's own user, for the sidecars. */
export function urlWithUser(redisUrl: string, user: string, password: string): string {
  const url = new URL(redisUrl);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}
