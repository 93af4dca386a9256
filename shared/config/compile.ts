import { parseDuration } from '../duration';
import type { RawConfig } from './schema';
import { isLoopbackHost, noProxyExempts } from '../net/hosts';

/** The configuration as code sees it: frozen, typed, durations in milliseconds. */
export interface Config {
  readonly project: string;
  readonly node: { readonly id: string; readonly ip: string; readonly domain: string; readonly appName: string };
  readonly product: { readonly version: string };
  readonly redis: {
    readonly url: string;
    /**
     * redis.url was set nowhere (no file, environment variable or flag) and neither
     * Sentinels nor Cluster nodes were: the default `redis://127.0.0.1:6379` is in use,
     * which a CLI run without its environment file would otherwise use without a word.
     */
    readonly urlIsDefault?: boolean;
    readonly sentinels: ReadonlyArray<{ host: string; port: number }>;
    readonly sentinelName: string;
    readonly clusterNodes: ReadonlyArray<{ host: string; port: number }>;
    readonly keyPrefix: string;
    readonly sentinelUsername: string;
    readonly sentinelPassword: string;
    readonly sentinelTls: boolean;
    /** Files and name for Redis TLS; TLS itself is on when redis.url is rediss://. */
    readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string; readonly servername: string };
  };
  readonly authServer: {
    readonly url: string;
    readonly timeoutMs: number;
    readonly caFile: string;
    readonly allowHttp: boolean;
    readonly proxy: string;
  };
  readonly crypto: { readonly algorithm: 'rsa' | 'sm2'; readonly keyDir: string };
  readonly heartbeat: { readonly intervalMs: number; readonly failureThreshold: number; readonly retries: number };
  /** intervalMs 0: no probe. */
  readonly probe: { readonly intervalMs: number };
  readonly cluster: { readonly failurePolicy: 'any' | 'all' | 'majority' };
  readonly leader: { readonly leaseMs: number; readonly renewMs: number };
  /** externalUrl: '' or an absolute URL ending in `/` (the alerts append `runbook`). */
  readonly http: { readonly host: string; readonly port: number; readonly webConfigFile: string; readonly externalUrl: string };
  readonly journal: { readonly dir: string };
  readonly log: { readonly level: string };
  readonly authserver: {
    readonly host: string;
    readonly port: number;
    readonly adminToken: string;
    readonly tlsCert: string;
    readonly tlsKey: string;
    /** log2 of scrypt's N for account password hashes (14–17). */
    readonly passwordHashCost: number;
  };
}

function hostList(value: string): Array<{ host: string; port: number }> {
  if (!value) return [];
  return value.split(',').map((item) => {
    const trimmed = item.trim();
    const at = trimmed.lastIndexOf(':');
    return { host: trimmed.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(trimmed.slice(at + 1)) };
  });
}

function withTrailingSlash(url: string): string {
  return url === '' || url.endsWith('/') ? url : `${url}/`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * authServer.proxy, else the HTTPS_PROXY of the environment — but not for a server on
 * loopback (the demo, a staging reference server), which a site-wide proxy cannot reach,
 * nor for one NO_PROXY exempts (as curl and every other client of HTTPS_PROXY do).
 */
function effectiveProxy(raw: RawConfig, env: NodeJS.ProcessEnv): string {
  if (raw.authServer.proxy) return raw.authServer.proxy;
  const fromEnv = env.HTTPS_PROXY ?? env.https_proxy ?? '';
  if (!fromEnv || !raw.authServer.url) return fromEnv;
  const url = new URL(raw.authServer.url);
  if (isLoopbackHost(url.hostname)) return '';
  return noProxyExempts(url, env.NO_PROXY ?? env.no_proxy ?? '') ? '' : fromEnv;
}

export function compileConfig(raw: RawConfig, env: NodeJS.ProcessEnv = {}, redisUrlSet = true): Config {
  return deepFreeze({
    project: raw.project,
    node: { ...raw.node },
    product: { ...raw.product },
    redis: {
      url: raw.redis.url,
      urlIsDefault: !redisUrlSet && raw.redis.sentinels === '' && raw.redis.clusterNodes === '',
      sentinels: hostList(raw.redis.sentinels),
      sentinelName: raw.redis.sentinelName,
      clusterNodes: hostList(raw.redis.clusterNodes),
      keyPrefix: raw.redis.keyPrefix,
      sentinelUsername: raw.redis.sentinelUsername,
      sentinelPassword: raw.redis.sentinelPassword,
      sentinelTls: raw.redis.sentinelTls,
      tls: { ...raw.redis.tls },
    },
    authServer: {
      url: raw.authServer.url,
      timeoutMs: parseDuration(raw.authServer.timeout),
      caFile: raw.authServer.caFile,
      allowHttp: raw.authServer.allowHttp,
      proxy: effectiveProxy(raw, env),
    },
    crypto: { algorithm: raw.crypto.algorithm as 'rsa' | 'sm2', keyDir: raw.crypto.keyDir },
    heartbeat: {
      intervalMs: parseDuration(raw.heartbeat.interval),
      failureThreshold: raw.heartbeat.failureThreshold,
      retries: raw.heartbeat.retries,
    },
    probe: { intervalMs: parseDuration(raw.probe.interval) },
    cluster: { failurePolicy: raw.cluster.failurePolicy as 'any' | 'all' | 'majority' },
    leader: { leaseMs: parseDuration(raw.leader.lease), renewMs: parseDuration(raw.leader.renew) },
    http: { ...raw.http, externalUrl: withTrailingSlash(raw.http.externalUrl) },
    journal: { ...raw.journal },
    log: { ...raw.log },
    authserver: { ...raw.authserver },
  });
}
