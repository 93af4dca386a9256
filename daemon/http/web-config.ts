import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The web configuration file of Prometheus' exporter-toolkit, so the sidecar's
 * endpoints are protected the way every exporter's are and a Prometheus
 * `scrape_config` with `tls_config`/`basic_auth` works unchanged:
 *
 *   tls_server_config:
 *     cert_file: server.crt          # relative paths are relative to this file
 *     key_file: server.key
 *     client_ca_file: clients-ca.crt # optional
 *     client_auth_type: RequireAndVerifyClientCert   # default with client_ca_file
 *     min_version: TLS12             # TLS12 (default) or TLS13
 *   basic_auth_users:
 *     prometheus: $2y$10$...         # bcrypt hashes only, as exporter-toolkit
 *
 * Unknown keys are refused (exporter-toolkit refuses them too): a misspelt
 * `basic_auth_user` would otherwise leave the endpoints open.
 */
export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';

export interface WebConfig {
  readonly tls?: {
    readonly cert: Buffer;
    readonly key: Buffer;
    readonly clientCa?: Buffer;
    readonly clientAuth: ClientAuthType;
    readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  };
  /** User name → bcrypt hash. */
  readonly basicAuthUsers: ReadonlyMap<string, string>;
}

export class WebConfigError extends Error {
  readonly code = 'ERR_WEB_CONFIG';
  readonly exitCode = 2;
  constructor(file: string, problems: string[]) {
    super(
      `http.webConfigFile (CLOUDAUTH_WEB_CONFIG_FILE) ${file}: ${problems.join('; ')}. ` +
        'Fix the file (Prometheus exporter-toolkit web-config format: tls_server_config, basic_auth_users) or unset the variable.',
    );
    this.name = 'WebConfigError';
  }
}

const CLIENT_AUTH: readonly ClientAuthType[] = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];
const TLS_KEYS = ['cert_file', 'key_file', 'client_ca_file', 'client_auth_type', 'min_version'];
const TOP_KEYS = ['tls_server_config', 'basic_auth_users'];
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function loadWebConfig(file: string): WebConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new WebConfigError(file, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  // yaml is loaded only when a web configuration file is used (most sidecars have none; ~8 MiB).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse } = require('yaml') as typeof import('yaml');
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (error) {
    // The parser's message quotes the offending line, which may hold a hash: say where only.
    const at = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new WebConfigError(file, [`is not valid YAML${at ? ` (line ${at})` : ''}`]);
  }
  if (!isRecord(doc)) throw new WebConfigError(file, ['must be a YAML mapping with tls_server_config and/or basic_auth_users']);
  const problems: string[] = [];
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.includes(key)) problems.push(`unknown key ${key} (supported: ${TOP_KEYS.join(', ')})`);
  }
  const dir = path.dirname(path.resolve(file));
  const read = (key: string, value: unknown): Buffer | undefined => {
    if (typeof value !== 'string' || !value) {
      problems.push(`tls_server_config.${key} must be a file name`);
      return undefined;
    }
    const resolved = path.resolve(dir, value);
    try {
      return readFileSync(resolved);
    } catch (error) {
      problems.push(`tls_server_config.${key}: ${resolved} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };

  let tls: WebConfig['tls'];
  const tlsDoc = doc.tls_server_config;
  if (tlsDoc !== undefined && tlsDoc !== null) {
    if (!isRecord(tlsDoc)) problems.push('tls_server_config must be a mapping');
    else {
      for (const key of Object.keys(tlsDoc)) {
        if (!TLS_KEYS.includes(key)) problems.push(`unknown key tls_server_config.${key} (supported: ${TLS_KEYS.join(', ')})`);
      }
      const cert = read('cert_file', tlsDoc.cert_file);
      const key = read('key_file', tlsDoc.key_file);
      const clientCa = tlsDoc.client_ca_file === undefined ? undefined : read('client_ca_file', tlsDoc.client_ca_file);
      const clientAuth = (tlsDoc.client_auth_type ?? (clientCa ? 'RequireAndVerifyClientCert' : 'NoClientCert')) as ClientAuthType;
      if (!CLIENT_AUTH.includes(clientAuth)) problems.push(`tls_server_config.client_auth_type must be one of ${CLIENT_AUTH.join(', ')}`);
      if ((clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert') && !clientCa) {
        problems.push(`tls_server_config.client_auth_type ${clientAuth} needs client_ca_file`);
      }
      const minVersion = tlsDoc.min_version ?? 'TLS12';
      if (minVersion !== 'TLS12' && minVersion !== 'TLS13') problems.push('tls_server_config.min_version must be TLS12 or TLS13');
      if (cert && key) tls = { cert, key, clientCa, clientAuth, minVersion: minVersion === 'TLS13' ? 'TLSv1.3' : 'TLSv1.2' };
    }
  }

  const users = new Map<string, string>();
  const usersDoc = doc.basic_auth_users;
  if (usersDoc !== undefined && usersDoc !== null) {
    if (!isRecord(usersDoc)) problems.push('basic_auth_users must be a mapping of user name to bcrypt hash');
    else {
      for (const [user, hash] of Object.entries(usersDoc)) {
        if (!user || user.includes(':')) problems.push(`basic_auth_users: user name "${user.slice(0, 64)}" must be non-empty and without ":"`);
        // The value is never repeated: it should be a hash, but it may be a password.
        else if (typeof hash !== 'string' || !BCRYPT.test(hash)) problems.push(`basic_auth_users.${user} is not a bcrypt hash ($2a$/$2b$/$2y$): make one with \`htpasswd -nBC 10 ${user}\``);
        else users.set(user, hash);
      }
    }
  }
  if (problems.length > 0) throw new WebConfigError(file, problems);
  return { tls, basicAuthUsers: users };
}
