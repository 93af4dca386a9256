import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isOlder, MIN_REDIS_VERSION } from '../../daemon/doctor/redis-version';
import { schema } from '../../shared/config/schema';
import { assertBuilt, cleanEnv, getAccount, spawnAuthServer, TEST_ADMIN_TOKEN, type ChildAuthServer } from '../../harness/authserver';
import { asList, asMap, asString, parseYaml, type YamlValue } from '../support/mini-yaml';
import { track } from '../../harness/process-registry';
import { checkConfig } from '../support/promtool';
import { projectUserName } from '../../shared/redis/acl-rules';
import { projectUserUrl } from '../../harness/project-acl';
import { disposeAllRedis, startRedis, testPrefix } from '../../harness/redis-server';

/**
 * The deployment examples of deploy/ (SPEC section 10): the Kubernetes sidecar
 * manifest, the systemd unit, the compose site. No cluster, systemd or Docker engine
 * runs here, so the files are read structurally (test/support/mini-yaml.ts;
 * `docker compose config` is not installed) and held to what the code really needs:
 * real configuration variables, the image's user and paths, the key-file rules of
 * shared/crypto/key-files.ts. The compose site's init script runs for real against a
 * Redis and a reference server.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');
const K8S_FILE = path.join(DEPLOY, 'kubernetes/fdl-with-sidecar.yaml');
const UNIT_FILE = path.join(DEPLOY, 'systemd/fdl-cloudauth.service');
const ENV_EXAMPLE = path.join(DEPLOY, 'systemd/fdl-cloudauth.env.example');
const COMPOSE_DIR = path.join(DEPLOY, 'compose');
const COMPOSE_FILE = path.join(COMPOSE_DIR, 'docker-compose.yml');
const KEY_DIR = '/var/lib/fdl-cloudauth/keys';
const JOURNAL_DIR = '/var/lib/fdl-cloudauth/journal';
/** The image's user (Dockerfile USER). */
const IMAGE_UID = '10001';

type YamlMap = { [key: string]: YamlValue };

function schemaEnvNames(): Set<string> {
  const names = new Set<string>();
  const walk = (node: Record<string, unknown>) => {
    for (const value of Object.values(node)) {
      const v = value as Record<string, unknown>;
      if (typeof v.env === 'string' && 'default' in v) names.add(v.env);
      else walk(v);
    }
  };
  walk(schema as unknown as Record<string, unknown>);
  return names;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

function at(value: YamlValue | undefined, ...keys: string[]): YamlValue | undefined {
  let v = value;
  for (const key of keys) {
    if (v === undefined || typeof v === 'string' || Array.isArray(v)) return undefined;
    v = v[key];
  }
  return v;
}

function byName(list: YamlValue | undefined, name: string, where: string): YamlMap {
  const found = asList(list, where).find((item) => at(item, 'name') === name);
  if (!found) throw new Error(`${where} has no entry named ${name}`);
  return asMap(found, `${where}[${name}]`);
}

describe('every deploy file', () => {
  test('uses only CLOUDAUTH_* variables that the configuration schema defines', () => {
    const known = schemaEnvNames();
    const files = [K8S_FILE, UNIT_FILE, ENV_EXAMPLE, ...filesUnder(COMPOSE_DIR), path.join(ROOT, 'Dockerfile')];
    const used = new Set<string>();
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/(?<![A-Z0-9_])CLOUDAUTH_[A-Z0-9_]+/g)) used.add(m[0]);
    }
    expect(used.size).toBeGreaterThan(10);
    const unknown = [...used].filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });
});

describe('Kubernetes example (deploy/kubernetes/fdl-with-sidecar.yaml)', () => {
  const docs = readFileSync(K8S_FILE, 'utf8')
    .split(/^---[ \t]*$/m)
    .map((text) => parseYaml(text))
    .filter((doc) => doc !== '')
    .map((doc, i) => asMap(doc, `document ${i + 1}`));
  const kind = (k: string, name?: string) => {
    const found = docs.filter((d) => d.kind === k && (name === undefined || at(d, 'metadata', 'name') === name));
    expect(found).toHaveLength(1);
    return found[0] as YamlMap;
  };
  const sts = kind('StatefulSet');
  const pod = asMap(at(sts, 'spec', 'template', 'spec'), 'pod spec');
  const sidecar = byName(pod.containers, 'fdl-cloudauth', 'containers');
  const env = asList(sidecar.env, 'sidecar env');
  const envNamed = (name: string) =>
    asMap(
      env.find((e) => at(e, 'name') === name),
      `env ${name}`,
    );

  test('runs the sidecar beside an FDL container in a StatefulSet (stable pod names are stable node ids)', () => {
    expect(asList(pod.containers, 'containers').map((c) => at(c, 'name'))).toEqual(['fdl', 'fdl-cloudauth']);
    expect(asList(sidecar.args, 'args')).toEqual(['daemon']);
    expect(at(envNamed('CLOUDAUTH_NODE_ID'), 'valueFrom', 'fieldRef', 'fieldPath')).toBe('metadata.name');
    expect(at(envNamed('CLOUDAUTH_NODE_IP'), 'valueFrom', 'fieldRef', 'fieldPath')).toBe('status.podIP');
    expect(at(sts, 'spec', 'serviceName')).toBe('fdl');
    kind('Service', 'fdl');
  });

  test('takes non-secret settings from a ConfigMap and the Redis URL from a Secret', () => {
    const configMap = kind('ConfigMap');
    const data = asMap(configMap.data, 'ConfigMap data');
    for (const required of ['CLOUDAUTH_PROJECT', 'CLOUDAUTH_PRODUCT_VERSION', 'CLOUDAUTH_AUTH_SERVER_URL']) expect(data[required]).toBeTruthy();
    expect(data.CLOUDAUTH_REDIS_URL).toBeUndefined();
    expect(at(asList(sidecar.envFrom, 'envFrom')[0], 'configMapRef', 'name')).toBe(at(configMap, 'metadata', 'name'));
    const ref = asMap(at(envNamed('CLOUDAUTH_REDIS_URL'), 'valueFrom', 'secretKeyRef'), 'secretKeyRef');
    const secret = kind('Secret', asString(ref.name, 'secret name'));
    expect(at(secret, 'stringData', asString(ref.key, 'secret key'))).toMatch(/^rediss?:\/\//);
    // The project's least-privilege ACL user (deploy/redis/), never the default user.
    const url = new URL(asString(at(secret, 'stringData', asString(ref.key, 'secret key')), 'redis url'));
    expect(url.username).toBe(
      projectUserName(asString(data.CLOUDAUTH_REDIS_KEY_PREFIX ?? 'fdl-cloudauth', 'prefix'), asString(data.CLOUDAUTH_PROJECT, 'project')),
    );
  });

  test('gives the sidecar its private keys owner-only, as regular files, read-only at the key directory', () => {
    // The sidecar refuses symlinks and group-readable private keys (key-files.ts); a
    // Secret volume has both, so an init container copies the keys with mode 0600.
    const secretVolume = byName(pod.volumes, 'keys-secret', 'volumes');
    expect(at(secretVolume, 'secret', 'secretName')).toBe('fdl-cloudauth-keys');
    const mode = parseInt(asString(at(secretVolume, 'secret', 'defaultMode'), 'defaultMode'), 8);
    expect(mode & 0o007).toBe(0);
    expect(at(byName(pod.volumes, 'keys', 'volumes'), 'emptyDir', 'medium')).toBe('Memory');
    const init = byName(pod.initContainers, 'install-keys', 'initContainers');
    expect(init.image).toBe(sidecar.image);
    const script = asList(init.command, 'command')
      .map((c) => asString(c, 'command'))
      .join(' ');
    expect(script).toContain('install -m 0600');
    expect(at(init, 'securityContext', 'runAsUser')).toBe(IMAGE_UID);
    const mounts = asList(sidecar.volumeMounts, 'volumeMounts');
    const keys = asMap(
      mounts.find((m) => at(m, 'name') === 'keys'),
      'keys mount',
    );
    expect(keys).toMatchObject({ mountPath: KEY_DIR, readOnly: 'true' });
    const keyDirEnv = envNamed('CLOUDAUTH_KEY_DIR');
    expect(keyDirEnv.value).toBe(KEY_DIR);
  });

  test('keeps the journal on a per-pod volume claim that outlives pod restarts', () => {
    const claim = asList(at(sts, 'spec', 'volumeClaimTemplates'), 'volumeClaimTemplates')[0];
    expect(at(claim, 'metadata', 'name')).toBe('journal');
    const mount = asList(sidecar.volumeMounts, 'volumeMounts').find((m) => at(m, 'name') === 'journal');
    expect(at(mount, 'mountPath')).toBe(JOURNAL_DIR);
    expect(at(mount, 'readOnly')).toBeUndefined();
    expect(envNamed('CLOUDAUTH_JOURNAL_DIR').value).toBe(JOURNAL_DIR);
    expect(at(pod, 'securityContext', 'fsGroup')).toBe(IMAGE_UID);
  });

  test('probes /readyz and /healthz over HTTPS, requests little, and stops within its grace period', () => {
    expect(at(sidecar, 'readinessProbe', 'httpGet', 'path')).toBe('/readyz');
    expect(at(sidecar, 'livenessProbe', 'httpGet', 'path')).toBe('/healthz');
    // The endpoints are behind the web configuration's TLS: the kubelet must speak it (the probes need no password).
    expect(at(sidecar, 'readinessProbe', 'httpGet', 'scheme')).toBe('HTTPS');
    expect(at(sidecar, 'livenessProbe', 'httpGet', 'scheme')).toBe('HTTPS');
    const web = byName(pod.volumes, 'web', 'volumes');
    const mount = byName(sidecar.volumeMounts, 'web', 'volumeMounts');
    expect(at(mount, 'readOnly')).toBe('true');
    expect(path.posix.dirname(asString(envNamed('CLOUDAUTH_WEB_CONFIG_FILE').value, 'web config file'))).toBe(at(mount, 'mountPath'));
    expect(at(web, 'secret', 'secretName')).toBe('fdl-cloudauth-web');
    const port = asList(sidecar.ports, 'ports')[0];
    expect(at(port, 'containerPort')).toBe(String(schema.http.port.default));
    expect(at(sidecar, 'readinessProbe', 'httpGet', 'port')).toBe(at(port, 'name'));
    expect(at(sidecar, 'resources', 'requests')).toEqual({ cpu: '50m', memory: '96Mi' });
    expect(at(sidecar, 'resources', 'limits', 'memory')).toBeDefined();
    // The agent gives a running attempt 10 s, then closes its other parts.
    expect(Number(at(pod, 'terminationGracePeriodSeconds'))).toBeGreaterThanOrEqual(30);
  });

  test('runs every fdl-cloudauth container non-root, read-only, without capabilities or privilege escalation', () => {
    for (const container of [sidecar, byName(pod.initContainers, 'install-keys', 'initContainers')]) {
      const sc = asMap(container.securityContext, `${String(container.name)} securityContext`);
      expect(sc).toMatchObject({ runAsNonRoot: 'true', runAsUser: IMAGE_UID, readOnlyRootFilesystem: 'true', allowPrivilegeEscalation: 'false' });
      expect(at(sc, 'capabilities', 'drop')).toEqual(['ALL']);
      expect(at(container, 'resources', 'limits', 'memory')).toBeDefined();
    }
    expect(at(pod, 'securityContext', 'seccompProfile', 'type')).toBe('RuntimeDefault');
  });

  test('can be scraped by annotations (over HTTPS) or by the PodMonitor of monitoring.yaml', () => {
    const annotations = asMap(at(sts, 'spec', 'template', 'metadata', 'annotations'), 'annotations');
    expect(annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(schema.http.port.default),
      'prometheus.io/path': '/metrics',
      'prometheus.io/scheme': 'https',
    });
    // The PodMonitor itself is checked by kubernetes-monitoring.process.test.ts; the port name is what it selects.
    expect(at(asList(sidecar.ports, 'ports')[0], 'name')).toBe('cloudauth-metrics');
  });
});

function systemdAnalyze(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'systemd-analyze');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

describe('systemd unit (deploy/systemd/fdl-cloudauth.service)', () => {
  const text = readFileSync(UNIT_FILE, 'utf8');
  const entries = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    entries.set(key, [...(entries.get(key) ?? []), line.slice(eq + 1)]);
  }
  const one = (key: string) => {
    const values = entries.get(`Service.${key}`);
    expect({ key, count: values?.length }).toEqual({ key, count: 1 });
    return values?.[0] ?? '';
  };

  test('is hardened: no privileges, no capabilities, read-only system, its own state directory', () => {
    expect(one('DynamicUser')).toBe('yes');
    expect(one('StateDirectory').split(/\s+/)).toContain('fdl-cloudauth');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ProtectHome')).toBe('yes');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('SystemCallFilter')).toBe('@system-service');
    // AF_NETLINK is there for os.networkInterfaces() (the default node.ip).
    expect(one('RestrictAddressFamilies').split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    // V8's JIT needs writable-then-executable memory.
    expect(entries.has('Service.MemoryDenyWriteExecute')).toBe(false);
    expect(text).toMatch(/#[^\n]*MemoryDenyWriteExecute[^\n]*JIT/);
  });

  test('writes no core dump and keeps the rest of the sandbox: only the state directory is writable (issue 28, item 9)', () => {
    // A core dump of the sidecar holds the decrypted account password and the private keys.
    expect(one('LimitCORE')).toBe('0');
    for (const [key, value] of [
      ['PrivateDevices', 'yes'],
      ['ProtectKernelTunables', 'yes'],
      ['ProtectKernelModules', 'yes'],
      ['ProtectKernelLogs', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['ProtectClock', 'yes'],
      ['ProtectHostname', 'yes'],
      ['ProtectProc', 'invisible'],
      ['RestrictSUIDSGID', 'yes'],
      ['RestrictNamespaces', 'yes'],
      ['RestrictRealtime', 'yes'],
      ['LockPersonality', 'yes'],
      ['UMask', '0077'],
    ] as const)
      expect({ key, value: one(key) }).toEqual({ key, value });
    // ProtectSystem=strict: nothing is writable but the state directories systemd makes (journal
    // included); no ReadWritePaths widens it.
    expect(one('StateDirectory').split(/\s+/).sort()).toEqual(['fdl-cloudauth', 'fdl-cloudauth/journal']);
    expect(entries.has('Service.ReadWritePaths')).toBe(false);
    expect(one('StateDirectoryMode')).toBe('0700');
  });

  test('stops with SIGTERM, waits well past the agent close grace, restarts on failure but not on a bad configuration', () => {
    expect(one('KillSignal')).toBe('SIGTERM');
    const stop = /^(\d+)s$/.exec(one('TimeoutStopSec'));
    expect(Number(stop?.[1])).toBeGreaterThanOrEqual(30);
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('2');
  });

  test('runs the built CLI with the environment file and hands it the keys as credentials', () => {
    expect(one('ExecStart')).toMatch(/ \/opt\/fdl-cloudauth\/dist\/daemon\/cli\/main\.js daemon$/);
    expect(one('EnvironmentFile')).toBe('/etc/fdl-cloudauth/env');
    const env = entries.get('Service.Environment') ?? [];
    expect(env).toContain('CLOUDAUTH_KEY_DIR=%d');
    expect(env).toContain('CLOUDAUTH_JOURNAL_DIR=%S/fdl-cloudauth/journal');
    const credentials = (entries.get('Service.LoadCredential') ?? []).map((c) => c.split(':')[0]).sort();
    expect(credentials).toEqual(['rsa-private.pem', 'rsa-public.pem', 'sm2-private.key', 'sm2-public.key']);
    // The example environment file sets what the daemon requires and leaves the paths to the unit.
    const example = readFileSync(ENV_EXAMPLE, 'utf8');
    for (const required of ['CLOUDAUTH_PROJECT', 'CLOUDAUTH_PRODUCT_VERSION', 'CLOUDAUTH_AUTH_SERVER_URL'])
      expect(example).toMatch(new RegExp(`^${required}=\\S`, 'm'));
    expect(example).not.toMatch(/^(CLOUDAUTH_KEY_DIR|CLOUDAUTH_JOURNAL_DIR)=/m);
  });

  const analyze = systemdAnalyze();
  (analyze ? test : test.skip)('passes `systemd-analyze verify` without a warning (skipped when systemd-analyze is not installed)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-cloudauth-unit-'));
    try {
      // verify checks that ExecStart's binary exists: point it at the node running this test.
      const unit = readFileSync(UNIT_FILE, 'utf8').replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
      writeFileSync(path.join(dir, 'fdl-cloudauth.service'), unit);
      const result = spawnSync(analyze as string, ['verify', path.join(dir, 'fdl-cloudauth.service')], { encoding: 'utf8', timeout: 30_000 });
      expect({ status: result.status, stderr: result.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('compose site (deploy/compose/docker-compose.yml)', () => {
  const compose = asMap(parseYaml(readFileSync(COMPOSE_FILE, 'utf8')), 'compose file');
  const services = asMap(compose.services, 'services');
  const service = (name: string) => asMap(services[name], `service ${name}`);
  const envFile = (file: string) =>
    Object.fromEntries(
      readFileSync(path.join(COMPOSE_DIR, file), 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  /** The service's environment as the container sees it: env_file first, environment over it. */
  const envOf = (name: string): Record<string, string> => {
    const s = service(name);
    const fromFiles = s.env_file ? asList(s.env_file, 'env_file').map((f) => envFile(asString(f, 'env_file'))) : [];
    const direct = s.environment ? asMap(s.environment, 'environment') : {};
    return Object.assign({}, ...fromFiles, direct) as Record<string, string>;
  };

  test('runs Redis with AOF persistence and no eviction', () => {
    const command = asList(service('redis').command, 'redis command').join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(asList(service('redis').volumes, 'redis volumes')).toContain('redis-data:/data');
  });

  test('runs a pinned, supported Redis whose default user has a password, which the reference server and the health check use', () => {
    // An exact release, not older than the oldest supported one (docs/operations.md, "Redis versions").
    const image = asString(service('redis').image, 'redis image');
    const version = /^redis:(\d+\.\d+\.\d+)-alpine$/.exec(image)?.[1] ?? '';
    expect({ image, supported: version !== '' && !isOlder(version, MIN_REDIS_VERSION) }).toEqual({ image, supported: true });
    const password = '${REDIS_PASSWORD:?export REDIS_PASSWORD first}';
    // The default user's password is written into the ACL file (as its SHA-256), not given on the command line.
    expect(asList(service('redis').command, 'redis command').join(' ')).not.toContain('requirepass');
    expect(asList(service('redis-acl').entrypoint, 'entrypoint').join(' ')).toContain(
      `printf 'user default on %s%s ~* &* +@all\\n' '#' "$$(printf '%s' "$$REDIS_PASSWORD" | sha256sum`,
    );
    expect(envOf('redis-acl').REDIS_PASSWORD).toBe(password);
    // The health check authenticates without putting the password in its arguments.
    expect(asList(at(service('redis'), 'healthcheck', 'test'), 'healthcheck').join(' ')).toContain('REDISCLI_AUTH="$$REDIS_PASSWORD" redis-cli ping');
    expect(envOf('authserver').CLOUDAUTH_REDIS_URL).toBe(`redis://:${password}@redis:6379`);
    expect(asString(service('redis-acl').image, 'redis-acl image')).toBe(image);
  });

  test('pins Prometheus and Alertmanager to exact releases', () => {
    expect(asString(service('prometheus').image, 'prometheus image')).toMatch(/^prom\/prometheus:v3\.\d+\.\d+$/);
    expect(asString(service('alertmanager').image, 'alertmanager image')).toMatch(/^prom\/alertmanager:v0\.\d+\.\d+$/);
  });

  test("runs the nodes and init as the project's least-privilege Redis user, written by deploy/redis/project-user.sh before Redis starts", () => {
    const project = envOf('node-1').CLOUDAUTH_PROJECT ?? '';
    const user = projectUserName('fdl-cloudauth', project);
    for (const name of ['init', 'node-1', 'node-2', 'node-3']) {
      expect({ name, url: envOf(name).CLOUDAUTH_REDIS_URL }).toEqual({
        name,
        url: `redis://${user}:\${FDL_REDIS_PASSWORD:?export FDL_REDIS_PASSWORD first}@redis:6379`,
      });
    }
    const acl = service('redis-acl');
    expect(asList(acl.entrypoint, 'entrypoint').join(' ')).toContain(`sh /redis/project-user.sh fdl-cloudauth ${project}; } > /acl/users.acl`);
    expect(asList(acl.volumes, 'redis-acl volumes')).toEqual(['../redis:/redis:ro', 'redis-acl:/acl']);
    expect(asList(service('redis').command, 'redis command').join(' ')).toContain('--aclfile /etc/redis-acl/users.acl');
    expect(asList(service('redis').volumes, 'redis volumes')).toContain('redis-acl:/etc/redis-acl:ro');
    expect(at(service('redis'), 'depends_on', 'redis-acl', 'condition')).toBe('service_completed_successfully');
  });

  test('runs the reference server from the image with the admin token from the environment', () => {
    const s = service('authserver');
    expect(asList(s.command, 'command')).toEqual(['authserver']);
    expect(at(s, 'build', 'dockerfile')).toBe('Dockerfile');
    expect(path.resolve(COMPOSE_DIR, asString(at(s, 'build', 'context'), 'context'))).toBe(ROOT);
    const env = envOf('authserver');
    expect(env.CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN).toMatch(/^\$\{CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN:\?/);
    expect(env.CLOUDAUTH_AUTHSERVER_HOST).toBe('0.0.0.0');
  });

  test('runs three node sidecars with distinct node ids, the shared keys read-only and a journal each', () => {
    const nodes = Object.keys(services).filter((n) => /^node-\d+$/.test(n));
    expect(nodes).toEqual(['node-1', 'node-2', 'node-3']);
    const ids = new Set<string>();
    const journals = new Set<string>();
    const declared = asMap(compose.volumes, 'volumes');
    for (const name of nodes) {
      const s = service(name);
      expect(asList(s.command, 'command')).toEqual(['daemon']);
      const env = envOf(name);
      for (const required of ['CLOUDAUTH_PROJECT', 'CLOUDAUTH_PRODUCT_VERSION', 'CLOUDAUTH_AUTH_SERVER_URL', 'CLOUDAUTH_REDIS_URL', 'CLOUDAUTH_NODE_ID']) {
        expect({ name, required, set: Boolean(env[required]) }).toEqual({ name, required, set: true });
      }
      ids.add(env.CLOUDAUTH_NODE_ID ?? '');
      const volumes = asList(s.volumes, 'volumes').map((v) => asString(v, 'volume'));
      expect(volumes).toContain(`keys:${KEY_DIR}:ro`);
      const journal = volumes.find((v) => v.endsWith(`:${JOURNAL_DIR}`)) ?? '';
      journals.add(journal.split(':')[0] ?? '');
      expect(declared).toHaveProperty(journal.split(':')[0] ?? '?');
      expect(at(s, 'depends_on', 'init', 'condition')).toBe('service_completed_successfully');
    }
    expect(ids.size).toBe(3);
    expect(journals.size).toBe(3);
    // Plain HTTP to a non-loopback reference server must be allowed explicitly.
    expect(envOf('node-1').CLOUDAUTH_AUTH_ALLOW_HTTP).toBe('true');
  });

  test('runs Prometheus with a valid scrape config of the three nodes and the project alerts', () => {
    const volumes = asList(service('prometheus').volumes, 'prometheus volumes').map((v) => asString(v, 'volume'));
    expect(volumes).toContain('./prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(volumes).toContain('../prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
    const config = asMap(parseYaml(readFileSync(path.join(COMPOSE_DIR, 'prometheus.yml'), 'utf8')), 'prometheus.yml');
    const job = asMap(asList(config.scrape_configs, 'scrape_configs')[0], 'job');
    expect(job.job_name).toBe('fdl-cloudauth');
    expect(asList(at(asList(job.static_configs, 'static_configs')[0], 'targets'), 'targets')).toEqual(['node-1:9464', 'node-2:9464', 'node-3:9464']);
    // promtool resolves rule_files relative to the config, as the container's /etc/prometheus does.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-cloudauth-compose-prom-'));
    try {
      copyFileSync(path.join(COMPOSE_DIR, 'prometheus.yml'), path.join(dir, 'prometheus.yml'));
      copyFileSync(path.join(DEPLOY, 'prometheus/alerts.yml'), path.join(dir, 'alerts.yml'));
      const result = checkConfig(path.join(dir, 'prometheus.yml'));
      expect({ code: result.code, output: result.output }).toMatchObject({ code: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the init service is wired to the shared keys (writable) and waits for the reference server', () => {
    const init = service('init');
    expect(asList(init.entrypoint, 'entrypoint')).toEqual(['sh', '/init/init.sh']);
    const volumes = asList(init.volumes, 'init volumes').map((v) => asString(v, 'volume'));
    expect(volumes).toEqual(['./init.sh:/init/init.sh:ro', `keys:${KEY_DIR}`]);
    expect(at(init, 'depends_on', 'authserver', 'condition')).toBe('service_healthy');
    expect(at(service('authserver'), 'depends_on', 'redis', 'condition')).toBe('service_healthy');
    expect(spawnSync('sh', ['-n', path.join(COMPOSE_DIR, 'init.sh')]).status).toBe(0);
  });

  describe('init.sh against a real Redis and reference server', () => {
    let server: ChildAuthServer | undefined;
    let workDir = '';

    afterAll(async () => {
      await server?.stop();
      await disposeAllRedis();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    function runInit(env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
      return new Promise((resolve) => {
        const child = spawn('sh', [path.join(COMPOSE_DIR, 'init.sh')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        track(child);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
        child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
        child.once('exit', (code) => resolve({ code, out }));
      });
    }

    test('generates the keys once, creates the account, registers the project, and can run again', async () => {
      assertBuilt();
      const redis = await startRedis();
      const keyPrefix = testPrefix('compose');
      server = await spawnAuthServer({ redisUrl: redis.url, keyPrefix });
      workDir = mkdtempSync(path.join(os.tmpdir(), 'fdl-cloudauth-init-'));
      const keyDir = path.join(workDir, 'keys');
      const password = 'compose-secret-5c1e';
      const env = cleanEnv({
        ...envFile('cluster.env'),
        // register runs as the project's own Redis user, as in the compose site.
        CLOUDAUTH_REDIS_URL: await projectUserUrl(redis.url, keyPrefix, 'demo'),
        CLOUDAUTH_REDIS_KEY_PREFIX: keyPrefix,
        CLOUDAUTH_AUTH_SERVER_URL: server.url,
        CLOUDAUTH_KEY_DIR: keyDir,
        CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        FDL_ACCOUNT: 'demo',
        FDL_ACCOUNT_PASSWORD: password,
        FDL_CLOUDAUTH_HOME: ROOT,
      });

      const first = await runInit(env);
      expect(first).toMatchObject({ code: 0 });
      expect(first.out).toContain('rsa: wrote');
      expect(first.out).toContain('registered project demo: account demo');
      expect(first.out).not.toContain(password);
      expect(statSync(path.join(keyDir, 'rsa-private.pem')).mode & 0o777).toBe(0o600);
      const account = await getAccount(server.url, TEST_ADMIN_TOKEN, 'demo');
      expect(account.status).toBe(200);
      expect(account.json?.data).toMatchObject({ account: 'demo', capacity: 5, status: 'active' });

      const keyBefore = readFileSync(path.join(keyDir, 'rsa-private.pem'), 'utf8');
      const second = await runInit(env);
      expect(second).toMatchObject({ code: 0 });
      expect(second.out).toContain('init: keys already in');
      expect(second.out).toContain('registered project demo');
      expect(readFileSync(path.join(keyDir, 'rsa-private.pem'), 'utf8')).toBe(keyBefore);
    });
  });
});
