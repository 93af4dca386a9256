import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { compileConfig, type Config } from './compile';
import { createConvict, schema } from './schema';
import { parseDuration } from '../duration';
import { isLoopbackHost } from '../net/hosts';
import { ConfigError } from './config-error';
import { jsonErrorPosition } from './json-error-position';

export { ConfigError };

/**
 * Loads the configuration with the precedence of SPEC §7:
 * defaults < file < environment < flags. Every problem found is collected and
 * reported in one `ConfigError` (exit code 2), so an operator fixes them all at once.
 */

/**
 * `authenticate`: what a command that authenticates as this node needs besides the
 * project (`register` checking the password): the daemon's server and node keys.
 */
export type Requirement = 'project' | 'daemon' | 'authserver' | 'authenticate';

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by config key, e.g. `{ 'authserver.port': 9000 }`; they win over everything. */
  overrides?: Record<string, unknown>;
  /** What the command needs beyond the schema (project, daemon, authserver). */
  require?: Requirement[];
}

const ENV_OF: Record<string, string> = {};
(function collectEnv(node: Record<string, unknown>, prefix: string) {
  for (const [key, value] of Object.entries(node)) {
    const spec = value as Record<string, unknown>;
    if (spec && typeof spec === 'object' && 'default' in spec) {
      if (typeof spec.env === 'string') ENV_OF[prefix + key] = spec.env;
    } else {
      collectEnv(spec, `${prefix}${key}.`);
    }
  }
})(schema as unknown as Record<string, unknown>, '');

function where(key: string): string {
  const env = ENV_OF[key];
  return env ? `${key} (${env})` : key;
}

/** Turns convict's one-line-per-problem message into our list and the keys it names. */
function convictProblems(message: string): { lines: string[]; keys: string[] } {
  const keys: string[] = [];
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const match = /^([A-Za-z0-9_.]+): (.*)$/.exec(line);
      if (!match) return line.replace(/configuration param '([^']+)' not declared in the schema/, 'unknown key $1: remove it or check its spelling');
      const [, key = '', rest = ''] = match;
      keys.push(key);
      return `${where(key)}: ${rest}`;
    });
  return { lines, keys };
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const config = createConvict(env);
  const problems: string[] = [];
  /** Keys the schema found invalid: the cross-checks see their defaults and say nothing of them. */
  let invalid: string[] = [];

  // Whether redis.url was given anywhere: a CLI run without its environment file says
  // so instead of quietly using the default (cli-redis.ts).
  let redisUrlSet = env.CLOUDAUTH_REDIS_URL !== undefined || options.overrides?.['redis.url'] !== undefined;
  if (options.file) {
    if (!existsSync(options.file)) {
      throw new ConfigError([`config file ${options.file} does not exist: pass an existing file to --config`]);
    }
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (error) {
      throw new ConfigError([`config file ${options.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text around the error, which may be a token or a password: say where only.
      const at = jsonErrorPosition(text);
      throw new ConfigError([`config file ${options.file} is not valid JSON${at ? ` (line ${at.line}, column ${at.column})` : ''}: fix the syntax there`]);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new ConfigError([`config file ${options.file} must hold one JSON object (keys as in docs/configuration.md)`]);
    }
    config.load(doc);
    if ((doc as { redis?: { url?: unknown } }).redis?.url !== undefined) redisUrlSet = true;
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    try {
      config.set(key as never, value as never);
    } catch (error) {
      problems.push(`${key}: ${(error as Error).message}`);
    }
  }

  try {
    config.validate({ allowed: 'strict' });
  } catch (error) {
    const { lines, keys } = convictProblems((error as Error).message);
    problems.push(...lines);
    invalid = keys;
    // The cross-checks below still run, on the defaults of the keys found invalid, so
    // a bad interval beside a missing project and URL is reported with them, at once.
    for (const key of keys) {
      try {
        config.reset(key as never);
      } catch {
        // Not a key of the schema (reported as unknown already).
      }
    }
  }

  let compiled: Config;
  try {
    compiled = compileConfig(config.getProperties(), env, redisUrlSet);
  } catch (error) {
    throw new ConfigError([...problems, (error as Error).message]);
  }
  problems.push(...crossChecks(compiled, options.require ?? []).filter((p) => !invalid.some((key) => p.startsWith(`${where(key)}:`))));
  if (problems.length > 0) throw new ConfigError(problems);
  return compiled;
}

function unreadable(problems: string[], key: string, file: string, what: string): void {
  if (!file) return;
  try {
    accessSync(file, constants.R_OK);
  } catch {
    problems.push(`${where(key)}: ${file} cannot be read: point it at ${what}`);
  }
}

/**
 * Redis TLS files must be readable, a client certificate comes with its key, and TLS
 * settings without TLS are refused: an operator who gave a CA file but kept redis://
 * would otherwise send the Redis password in clear while believing it encrypted.
 */
function redisTlsChecks(r: Config['redis']): string[] {
  const problems: string[] = [];
  unreadable(problems, 'redis.tls.caFile', r.tls.caFile, 'a readable PEM file of CA certificates');
  unreadable(problems, 'redis.tls.certFile', r.tls.certFile, 'a readable PEM client certificate');
  unreadable(problems, 'redis.tls.keyFile', r.tls.keyFile, 'a readable PEM private key');
  if (Boolean(r.tls.certFile) !== Boolean(r.tls.keyFile)) {
    problems.push(`${where('redis.tls.certFile')} and ${where('redis.tls.keyFile')}: set both for a client certificate, or neither`);
  }
  const tlsSet = Boolean(r.tls.caFile || r.tls.certFile || r.tls.keyFile || r.tls.servername);
  if (tlsSet && !r.url.startsWith('rediss:') && !r.sentinelTls) {
    problems.push(
      `${where('redis.tls.caFile')}/certFile/keyFile/servername: set, but nothing uses TLS: write redis.url (CLOUDAUTH_REDIS_URL) as rediss://` +
        (r.sentinels.length > 0 ? ' and/or set redis.sentinelTls (CLOUDAUTH_REDIS_SENTINEL_TLS=true)' : ''),
    );
  }
  // With rediss:// the primary's certificate is checked against the host a Sentinel
  // names; a Sentinel spoken to in clear can be impersonated and name any host whose
  // owner holds a certificate for it from a public CA, which then hears AUTH with the
  // Redis password. Something must pin the primary's identity.
  if (r.sentinels.length > 0 && r.url.startsWith('rediss:') && !r.sentinelTls && !r.tls.caFile && !r.tls.servername) {
    problems.push(
      `${where('redis.url')}: is rediss:// through Sentinels reached in clear, and nothing pins the primary's identity ` +
        '(a forged Sentinel reply could name another TLS server, which would receive the Redis password): set ' +
        `${where('redis.tls.servername')} to the name on the primary's certificate, or ${where('redis.tls.caFile')} to the private CA that signs it, ` +
        'or redis.sentinelTls (CLOUDAUTH_REDIS_SENTINEL_TLS=true) to reach the Sentinels over TLS',
    );
  }
  if (r.sentinels.length === 0 && (r.sentinelTls || r.sentinelUsername || r.sentinelPassword)) {
    problems.push(
      `${where('redis.sentinelTls')}, sentinelUsername, sentinelPassword: apply only with redis.sentinels (CLOUDAUTH_REDIS_SENTINELS): set the Sentinels or remove these`,
    );
  }
  return problems;
}

/** Rules that involve several keys, or that only some commands need. */
function crossChecks(c: Config, require: Requirement[]): string[] {
  const problems: string[] = [];
  const needs = new Set(require);
  if ((needs.has('project') || needs.has('daemon')) && !c.project) {
    problems.push(`${where('project')}: is required: set the FDL project name`);
  }
  if (needs.has('daemon') || needs.has('authenticate')) {
    // register checks the password as this node: it needs what the daemon sends, and
    // says how to go without (a site whose firewall is not open yet).
    const by = needs.has('daemon') ? 'by the daemon' : 'to check the password with the server (or register with --no-verify)';
    if (!c.product.version) problems.push(`${where('product.version')}: is required ${by}: set the FDL product version, e.g. 4.1.5`);
    if (!c.authServer.url) problems.push(`${where('authServer.url')}: is required ${by}: set the authorization server URL, e.g. https://register.fanruan.com`);
    if (!c.node.id) problems.push(`${where('node.id')}: is required ${by}: set this node's id`);
  }
  if (needs.has('authserver')) {
    if (!c.authserver.adminToken) problems.push(`${where('authserver.adminToken')}: is required by authserver: set a long random bearer token`);
    else if (c.authserver.adminToken.length < 8) problems.push(`${where('authserver.adminToken')}: is too short: use at least 8 characters`);
    if (Boolean(c.authserver.tlsCert) !== Boolean(c.authserver.tlsKey)) {
      problems.push(`${where('authserver.tlsCert')} and ${where('authserver.tlsKey')}: set both for HTTPS, or neither for plain HTTP`);
    }
  }
  if (c.leader.renewMs < 10 || c.leader.renewMs * 2 > c.leader.leaseMs) {
    // Two renews must fit in a lease, or one slow round trip costs the leadership.
    problems.push(`${where('leader.renew')}: must be at least 10ms and at most half of leader.lease (${c.leader.leaseMs} ms)`);
  }
  if (c.leader.leaseMs < 100) problems.push(`${where('leader.lease')}: must be at least 100ms`);
  if ((needs.has('daemon') || needs.has('authenticate')) && c.authServer.url) {
    const url = new URL(c.authServer.url);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !c.authServer.allowHttp) {
      problems.push(
        `${where('authServer.url')}: plain HTTP to ${url.host} would send the password unencrypted: use https://, ` +
          'or set authServer.allowHttp (CLOUDAUTH_AUTH_ALLOW_HTTP=true) if a TLS proxy sits in front of it',
      );
    }
  }
  unreadable(problems, 'authServer.caFile', c.authServer.caFile, 'a readable PEM file of CA certificates');
  problems.push(...redisTlsChecks(c.redis));
  unreadable(problems, 'http.webConfigFile', c.http.webConfigFile, 'a readable web configuration file (exporter-toolkit format)');
  if (c.heartbeat.intervalMs < 1000) problems.push(`${where('heartbeat.interval')}: must be at least 1s`);
  if (c.heartbeat.failureThreshold < 1) problems.push(`${where('heartbeat.failureThreshold')}: must be at least 1`);
  if (c.authServer.timeoutMs < 100) problems.push(`${where('authServer.timeout')}: must be at least 100ms`);
  if (!Number.isInteger(c.authserver.passwordHashCost) || c.authserver.passwordHashCost < 14 || c.authserver.passwordHashCost > 17) {
    problems.push(`${where('authserver.passwordHashCost')}: must be a whole number from 14 to 17 (scrypt's N is 2 to this power; 17 unless this is a test)`);
  }
  if (c.redis.sentinels.length > 0 && c.redis.clusterNodes.length > 0) {
    problems.push(`${where('redis.sentinels')} and ${where('redis.clusterNodes')}: set one of them, not both`);
  }
  return problems;
}

export { parseDuration };
export type { Config };
