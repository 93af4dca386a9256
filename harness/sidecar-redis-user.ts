import { projectUserUrl } from './project-acl';

/**
 * The redis.url a test sidecar gets: the URL of its fixture (or of its env), with the
 * project's least-privilege ACL user in it unless the test asks for the URL as given.
 * The project and prefix are those the sidecar will run with, env overrides included.
 */
export async function sidecarRedisUrl(
  f: { redisUrl: string; keyPrefix: string; project: string },
  o: { env?: Record<string, string>; redisUser?: 'project' | 'as-given' },
): Promise<string> {
  const env = o.env ?? {};
  const url = env.CLOUDAUTH_REDIS_URL ?? f.redisUrl;
  if (o.redisUser === 'as-given') return url;
  return projectUserUrl(url, env.CLOUDAUTH_REDIS_KEY_PREFIX ?? f.keyPrefix, env.CLOUDAUTH_PROJECT ?? f.project);
}
