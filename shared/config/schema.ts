import os from 'node:os';
import convict from 'convict';
import { parseDuration } from '../duration';

/**
 * The configuration schema of SPEC §7. Every key is declared once here with its
 * environment variable and default; README's configuration reference is checked
 * against this schema by a test. Durations stay text here and are compiled to
 * milliseconds by `compileConfig`.
 */

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function firstExternalIPv4(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return '127.0.0.1';
}

convict.addFormat({
  name: 'duration-text',
  validate(value: unknown) {
    parseDuration(value);
  },
});

convict.addFormat({
  name: 'name-or-empty',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a string');
    if (value !== '' && !NAME.test(value)) {
      throw new Error('must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
  },
});

convict.addFormat({
  name: 'url-or-empty',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a URL');
    if (value === '') return;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new Error('must be an absolute URL such as https://register.example.com');
    }
    if (!['http:', 'https:'].includes(parsed.protocol)) throw new Error('must be an http:// or https:// URL');
  },
});

convict.addFormat({
  name: 'redis-url',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a redis:// URL');
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new Error('must be a URL such as redis://127.0.0.1:6379');
    }
    if (!['redis:', 'rediss:'].includes(parsed.protocol)) throw new Error('must start with redis:// or rediss://');
  },
});

convict.addFormat({
  name: 'host-list',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a comma-separated list of host:port');
    if (value === '') return;
    for (const item of value.split(',')) {
      if (!/^[^\s:,]+:\d{1,5}$/.test(item.trim()) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(item.trim())) {
        throw new Error(`"${item.trim()}" is not host:port`);
      }
    }
  },
});

export const schema = {
  project: {
    doc: 'The FDL project this sidecar belongs to; every Redis key of a project shares its hash tag.',
    format: 'name-or-empty',
    default: '',
    env: 'CLOUDAUTH_PROJECT',
  },
  node: {
    id: {
      doc: "This node's identity on the authorization server (not its hardware).",
      format: 'name-or-empty',
      default: os
        .hostname()
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .slice(0, 64),
      env: 'CLOUDAUTH_NODE_ID',
    },
    ip: {
      doc: 'IP address reported to the authorization server.',
      format: String,
      default: firstExternalIPv4(),
      env: 'CLOUDAUTH_NODE_IP',
    },
    domain: {
      doc: 'Domain reported to the authorization server.',
      format: String,
      default: os.hostname(),
      env: 'CLOUDAUTH_NODE_DOMAIN',
    },
    appName: {
      doc: 'Web application name reported to the authorization server.',
      format: String,
      default: 'webroot',
      env: 'CLOUDAUTH_APP_NAME',
    },
  },
  product: {
    version: {
      doc: 'FDL product version reported to the authorization server (required for daemon, and for register unless --no-verify).',
      format: String,
      default: '',
      env: 'CLOUDAUTH_PRODUCT_VERSION',
    },
  },
  redis: {
    url: {
      doc: 'Redis URL for a standalone server (also the source of password and TLS for Sentinel and Cluster).',
      format: 'redis-url',
      default: 'redis://127.0.0.1:6379',
      env: 'CLOUDAUTH_REDIS_URL',
      sensitive: true,
    },
    sentinels: {
      doc: 'Comma-separated Sentinel host:port list; when set, Redis is reached through Sentinel.',
      format: 'host-list',
      default: '',
      env: 'CLOUDAUTH_REDIS_SENTINELS',
    },
    sentinelName: {
      doc: 'Name of the Sentinel-monitored primary.',
      format: String,
      default: 'mymaster',
      env: 'CLOUDAUTH_REDIS_SENTINEL_NAME',
    },
    clusterNodes: {
      doc: 'Comma-separated Redis Cluster seed nodes host:port; when set, Redis Cluster mode is used.',
      format: 'host-list',
      default: '',
      env: 'CLOUDAUTH_REDIS_CLUSTER_NODES',
    },
    sentinelUsername: {
      doc: 'User name the Sentinels require (Sentinel ACL); empty when they need none.',
      format: String,
      default: '',
      env: 'CLOUDAUTH_REDIS_SENTINEL_USERNAME',
    },
    sentinelPassword: {
      doc: "Password the Sentinels require (their requirepass); the primary's own password comes from redis.url.",
      format: String,
      default: '',
      env: 'CLOUDAUTH_REDIS_SENTINEL_PASSWORD',
      sensitive: true,
    },
    sentinelTls: {
      doc: 'Reach the Sentinels over TLS too (with the redis.tls.* settings); the primary uses TLS when redis.url is rediss://.',
      format: Boolean,
      default: false,
      env: 'CLOUDAUTH_REDIS_SENTINEL_TLS',
    },
    tls: {
      caFile: {
        doc: 'PEM file of CA certificates to trust for Redis TLS instead of the system CAs.',
        format: String,
        default: '',
        env: 'CLOUDAUTH_REDIS_TLS_CA_FILE',
      },
      certFile: {
        doc: 'PEM client certificate for Redis TLS (when Redis requires client certificates); with keyFile.',
        format: String,
        default: '',
        env: 'CLOUDAUTH_REDIS_TLS_CERT_FILE',
      },
      keyFile: {
        doc: 'PEM private key of the Redis client certificate.',
        format: String,
        default: '',
        env: 'CLOUDAUTH_REDIS_TLS_KEY_FILE',
      },
      servername: {
        doc: 'Name to verify in the Redis server certificate (and send as SNI) when it differs from the host connected to.',
        format: String,
        default: '',
        env: 'CLOUDAUTH_REDIS_TLS_SERVERNAME',
      },
    },
    keyPrefix: {
      doc: 'Prefix of every Redis key (several installations may share one Redis).',
      format: 'name-or-empty',
      default: 'fdl-cloudauth',
      env: 'CLOUDAUTH_REDIS_KEY_PREFIX',
    },
  },
  authServer: {
    url: {
      doc: 'Base URL of the authorization server (required for daemon and unbind, and for register unless --no-verify).',
      format: 'url-or-empty',
      default: '',
      env: 'CLOUDAUTH_AUTH_SERVER_URL',
    },
    timeout: {
      doc: 'Time limit of one HTTP request to the authorization server.',
      format: 'duration-text',
      default: '30s',
      env: 'CLOUDAUTH_AUTH_TIMEOUT',
    },
    caFile: {
      doc: 'PEM file of CA certificates to trust instead of the system CAs.',
      format: String,
      default: '',
      env: 'CLOUDAUTH_AUTH_CA_FILE',
    },
    allowHttp: {
      doc: 'Allow plain HTTP to a non-loopback authorization server.',
      format: Boolean,
      default: false,
      env: 'CLOUDAUTH_AUTH_ALLOW_HTTP',
    },
    proxy: {
      doc: 'HTTP(S) proxy URL for reaching the authorization server (else HTTPS_PROXY, except for a loopback server).',
      format: 'url-or-empty',
      // The HTTPS_PROXY fallback is applied by compileConfig, from the environment it is given.
      default: '',
      env: 'CLOUDAUTH_AUTH_PROXY',
      sensitive: true,
    },
  },
  crypto: {
    algorithm: {
      doc: 'Algorithm register uses to encrypt the password; crypto switch changes it.',
      format: ['rsa', 'sm2'],
      default: 'rsa',
      env: 'CLOUDAUTH_CRYPTO_ALGORITHM',
    },
    keyDir: {
      doc: 'Directory holding the key pairs (private keys mode 0600).',
      format: String,
      default: '/var/lib/fdl-cloudauth/keys',
      env: 'CLOUDAUTH_KEY_DIR',
    },
  },
  heartbeat: {
    interval: {
      doc: 'Time between two authentications of a node.',
      format: 'duration-text',
      default: '2h',
      env: 'CLOUDAUTH_HEARTBEAT_INTERVAL',
    },
    failureThreshold: {
      doc: 'Consecutive failures that make a node failed.',
      format: 'nat',
      default: 12,
      env: 'CLOUDAUTH_FAILURE_THRESHOLD',
    },
    retries: {
      doc: 'Retries of a transient failure inside one attempt.',
      format: 'nat',
      default: 2,
      env: 'CLOUDAUTH_HEARTBEAT_RETRIES',
    },
  },
  probe: {
    // Between two heartbeats (2 h) a firewall or proxy change would go unnoticed; the
    // probe notices it within minutes without authenticating.
    interval: {
      doc: 'Time between two reachability probes of the authorization server (DNS, TCP, TLS; no authentication); 0 turns the probe off.',
      format: 'duration-text',
      default: '1m',
      env: 'CLOUDAUTH_PROBE_INTERVAL',
    },
  },
  cluster: {
    failurePolicy: {
      doc: 'When the project is failed: any failed node, all nodes failed, or a majority failed.',
      format: ['any', 'all', 'majority'],
      default: 'any',
      env: 'CLOUDAUTH_FAILURE_POLICY',
    },
  },
  leader: {
    lease: {
      doc: 'Lease of the aggregator leader.',
      format: 'duration-text',
      default: '15s',
      env: 'CLOUDAUTH_LEADER_LEASE',
    },
    renew: {
      doc: 'How often the leader renews its lease (and candidates try to take it).',
      format: 'duration-text',
      default: '5s',
      env: 'CLOUDAUTH_LEADER_RENEW',
    },
  },
  http: {
    host: {
      doc: 'Address of the sidecar HTTP server (metrics, health, status).',
      format: String,
      default: '0.0.0.0',
      env: 'CLOUDAUTH_HTTP_HOST',
    },
    port: {
      doc: 'Port of the sidecar HTTP server (0 picks a free one).',
      format: 'port',
      default: 9464,
      env: 'CLOUDAUTH_HTTP_PORT',
    },
    webConfigFile: {
      doc: 'Web configuration file in Prometheus exporter-toolkit format (every key it documents: tls_server_config, http_server_config, rate_limit, basic_auth_users) protecting every sidecar endpoint but the probes `/healthz` and `/readyz`; re-read when it changes',
      format: String,
      default: '',
      env: 'CLOUDAUTH_WEB_CONFIG_FILE',
    },
    externalUrl: {
      doc: 'The URL people open this sidecar at (its Registration page), e.g. https://fdl-1.example.com:9464/, when it is not the address Prometheus scrapes: the alerts link to it (page_url, runbook_url); by default they link to the scraped address, with https:// when the web configuration has TLS',
      format: 'url-or-empty',
      default: '',
      env: 'CLOUDAUTH_HTTP_EXTERNAL_URL',
    },
  },
  journal: {
    dir: {
      doc: 'Directory of the local journal kept while Redis is unreachable.',
      format: String,
      default: '/var/lib/fdl-cloudauth/journal',
      env: 'CLOUDAUTH_JOURNAL_DIR',
    },
  },
  log: {
    level: {
      doc: 'Log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'CLOUDAUTH_LOG_LEVEL',
    },
  },
  authserver: {
    host: {
      doc: 'Address of the reference authorization server.',
      format: String,
      default: '127.0.0.1',
      env: 'CLOUDAUTH_AUTHSERVER_HOST',
    },
    port: {
      doc: 'Port of the reference authorization server (0 picks a free one).',
      format: 'port',
      default: 8443,
      env: 'CLOUDAUTH_AUTHSERVER_PORT',
    },
    adminToken: {
      doc: 'Bearer token of the reference server admin API (required for authserver).',
      format: String,
      default: '',
      env: 'CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN',
      sensitive: true,
    },
    tlsCert: {
      doc: 'PEM certificate of the reference server; with tlsKey it serves HTTPS.',
      format: String,
      default: '',
      env: 'CLOUDAUTH_AUTHSERVER_TLS_CERT',
    },
    tlsKey: {
      doc: 'PEM private key of the reference server.',
      format: String,
      default: '',
      env: 'CLOUDAUTH_AUTHSERVER_TLS_KEY',
    },
    passwordHashCost: {
      doc: "Cost of the reference server's account password hashes: scrypt's N is 2 to this power, 14 to 17 (17, OWASP's minimum, takes 128 MiB and about 0.4 s of CPU a hash; lower it only for tests and demos).",
      format: 'int',
      default: 17,
      env: 'CLOUDAUTH_AUTHSERVER_PASSWORD_HASH_COST',
    },
  },
};

/** A convict instance over this schema; values come from `env`, never from process.argv. */
export function createConvict(env: NodeJS.ProcessEnv) {
  return convict(schema, { env, args: [] });
}

export type RawConfig = ReturnType<ReturnType<typeof createConvict>['getProperties']>;
