import { readFileSync, statSync } from 'node:fs';
import { validateHeaderValue } from 'node:http';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseGoDuration } from './go-duration';
import {
  CLIENT_AUTH_TYPES,
  CONFIGURABLE_HEADERS,
  GO_CIPHER_SUITES,
  GO_CURVES,
  GO_TLS_VERSIONS,
  HTTP2_REQUIRED_CIPHERS,
  versionRank,
  type ClientAuthType,
  type NodeTlsVersion,
} from './go-tls-names';

/**
 * The web configuration file of Prometheus' exporter-toolkit (its
 * docs/web-configuration.md), so the sidecar's endpoints are protected the way every
 * exporter's are and a file written for an exporter works here unchanged:
 * tls_server_config (files or inline PEM, client_auth_type, client CAs, allowed SANs,
 * TLS versions, cipher suites and curves by their Go names), http_server_config
 * (http2, security headers), rate_limit and basic_auth_users (bcrypt hashes).
 *
 * Accept and refuse as exporter-toolkit does: unknown keys are refused (its strict
 * YAML), a client CA without a client_auth_type is refused, a client_auth_type that
 * needs a CA is accepted without one (then no client certificate verifies, as with
 * Go's empty pool). Beyond exporter-toolkit, a basic_auth_users value that is not a
 * bcrypt hash is refused at start (its `Validate` does the same; its server would
 * start and refuse every login) and never repeated, since it may be a password.
 */
export type { ClientAuthType } from './go-tls-names';

export interface TlsSettings {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
  readonly clientAuth: ClientAuthType;
  readonly minVersion: NodeTlsVersion;
  readonly maxVersion: NodeTlsVersion;
  /** OpenSSL names of the TLS ≤ 1.2 suites; Node's defaults when absent. */
  readonly ciphers?: string;
  readonly honorCipherOrder: boolean;
  readonly ecdhCurve?: string;
  /** A client certificate must carry one of these SANs (DNS, IP, e-mail or URI). */
  readonly clientAllowedSans?: readonly string[];
}

export interface WebConfig {
  readonly tls?: TlsSettings;
  readonly http: { readonly http2: boolean; readonly headers: Readonly<Record<string, string>> };
  /** Token bucket over every request but the probes; absent when interval is 0. */
  readonly rateLimit?: { readonly intervalMs: number; readonly burst: number };
  /** User name → bcrypt hash. */
  readonly basicAuthUsers: ReadonlyMap<string, string>;
  /** Every file this configuration was read from (itself and the PEM files it names), for change detection. */
  readonly files: readonly string[];
  /** fileIdentity of each of `files`, taken just before it was read. */
  readonly identities: readonly string[];
}

/**
 * Who a file is and what it holds, as far as a stat tells: device, inode, size and the
 * modification and change times in nanoseconds. Taken before a read and compared after
 * it, it tells whether the read may have caught the file half-written.
 */
export function fileIdentity(file: string): string {
  try {
    const s = statSync(file, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return 'missing';
  }
}

export class WebConfigError extends Error {
  readonly code = 'ERR_WEB_CONFIG';
  readonly exitCode = 2;
  readonly problems: readonly string[];
  constructor(file: string, problems: string[]) {
    super(
      `http.webConfigFile (CLOUDAUTH_WEB_CONFIG_FILE) ${file}: ${problems.join('; ')}. ` +
        'Fix the file (Prometheus exporter-toolkit web-config format, docs/security.md) or unset the variable.',
    );
    this.name = 'WebConfigError';
    this.problems = problems;
  }
}

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'rate_limit', 'basic_auth_users'];
const TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
];
const HTTP_KEYS = ['http2', 'headers'];
const RATE_KEYS = ['interval', 'burst'];
// Go's bcrypt.Cost reads the version and the cost; a hash of another scheme fails there.
const BCRYPT = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(problems: string[], where: string, doc: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(doc)) {
    if (!known.includes(key)) problems.push(`unknown key ${where}${key} (exporter-toolkit knows: ${known.join(', ')})`);
  }
}

/** A string-valued key; undefined when absent, empty or null (Go's zero value). */
function text(problems: string[], name: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    problems.push(`${name} must be a string`);
    return undefined;
  }
  return value;
}

function stringList(problems: string[], name: string, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    problems.push(`${name} must be a list of strings`);
    return undefined;
  }
  return value as string[];
}

function readYaml(file: string, identities: string[]): unknown {
  let content: string;
  identities.push(fileIdentity(file));
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new WebConfigError(file, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  // yaml is loaded only when a web configuration file is used (most sidecars have none; ~8 MiB).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse } = require('yaml') as typeof import('yaml');
  try {
    return parse(content) ?? {};
  } catch (error) {
    // The parser's message quotes the offending line, which may hold a hash or a key: say where only.
    const at = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    throw new WebConfigError(file, [`is not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}`]);
  }
}

class Reader {
  readonly problems: string[] = [];
  readonly files: string[] = [];
  readonly identities: string[] = [];
  constructor(private readonly dir: string) {}

  /** A PEM from `<name>_file` (relative to the configuration's folder) or inline `<name>`; the file wins, as in Go. */
  pem(doc: Record<string, unknown>, fileKey: string, inlineKey: string): Buffer | undefined {
    const file = text(this.problems, `tls_server_config.${fileKey}`, doc[fileKey]);
    if (file !== undefined) {
      const resolved = path.resolve(this.dir, file);
      this.files.push(resolved);
      this.identities.push(fileIdentity(resolved));
      try {
        return readFileSync(resolved);
      } catch (error) {
        this.problems.push(`tls_server_config.${fileKey}: ${resolved} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        return undefined;
      }
    }
    const inline = text(this.problems, `tls_server_config.${inlineKey}`, doc[inlineKey]);
    return inline === undefined ? undefined : Buffer.from(inline);
  }
}

function tlsVersion(problems: string[], name: string, value: unknown, fallback: NodeTlsVersion): NodeTlsVersion {
  if (value === undefined || value === null) return fallback;
  const version = typeof value === 'string' ? GO_TLS_VERSIONS[value] : undefined;
  if (!version) problems.push(`${name}: unknown TLS version (use one of ${Object.keys(GO_TLS_VERSIONS).join(', ')})`);
  return version ?? fallback;
}

function readTls(doc: Record<string, unknown>, reader: Reader, http2: boolean): TlsSettings | undefined {
  const problems = reader.problems;
  unknownKeys(problems, 'tls_server_config.', doc, TLS_KEYS);
  // exporter-toolkit turns TLS on when any of these is set, and then wants a certificate and a key.
  const enabling = ['cert_file', 'cert', 'key_file', 'key', 'client_ca_file', 'client_ca', 'client_auth_type'];
  if (!enabling.some((k) => doc[k] !== undefined && doc[k] !== null && doc[k] !== '')) return undefined;
  const cert = reader.pem(doc, 'cert_file', 'cert');
  const key = reader.pem(doc, 'key_file', 'key');
  const noCert = doc.cert_file === undefined || doc.cert_file === null || doc.cert_file === '';
  if (noCert && cert === undefined) problems.push('tls_server_config: missing one of cert or cert_file');
  const noKey = doc.key_file === undefined || doc.key_file === null || doc.key_file === '';
  if (noKey && key === undefined) problems.push('tls_server_config: missing one of key or key_file');
  const clientCa = reader.pem(doc, 'client_ca_file', 'client_ca');

  let clientAuth: ClientAuthType = 'NoClientCert';
  const auth = text(problems, 'tls_server_config.client_auth_type', doc.client_auth_type);
  if (auth === 'RequireClientCert') clientAuth = 'RequireAnyClientCert';
  else if (auth !== undefined) {
    if ((CLIENT_AUTH_TYPES as readonly string[]).includes(auth)) clientAuth = auth as ClientAuthType;
    else problems.push(`tls_server_config.client_auth_type: invalid ClientAuth "${auth.slice(0, 64)}" (use one of ${CLIENT_AUTH_TYPES.join(', ')})`);
  }
  if (clientCa !== undefined && clientAuth === 'NoClientCert' && auth === undefined) {
    problems.push(
      "tls_server_config: client CA's have been configured without a Client Auth Policy: set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)",
    );
  }

  const minVersion = tlsVersion(problems, 'tls_server_config.min_version', doc.min_version, 'TLSv1.2');
  const maxVersion = tlsVersion(problems, 'tls_server_config.max_version', doc.max_version, 'TLSv1.3');
  if (versionRank(minVersion) > versionRank(maxVersion)) problems.push('tls_server_config: min_version is above max_version, so no TLS version is left');

  const suites = stringList(problems, 'tls_server_config.cipher_suites', doc.cipher_suites);
  let ciphers: string | undefined;
  if (suites && suites.length > 0) {
    const openssl: string[] = [];
    for (const suite of suites) {
      if (!(suite in GO_CIPHER_SUITES))
        problems.push(`tls_server_config.cipher_suites: unknown cipher ${suite.slice(0, 80)} (use the names of Go's tls.CipherSuites())`);
      else if (GO_CIPHER_SUITES[suite]) openssl.push(GO_CIPHER_SUITES[suite]);
    }
    // Only TLS 1.3 suites listed: Go then has no TLS 1.2 suite either.
    ciphers = openssl.length > 0 ? openssl.join(':') : undefined;
    if (http2 && versionRank(minVersion) < versionRank('TLSv1.3') && !suites.some((s) => HTTP2_REQUIRED_CIPHERS.includes(s))) {
      problems.push(
        `tls_server_config.cipher_suites is missing an HTTP/2-required cipher (${HTTP2_REQUIRED_CIPHERS.join(' or ')}): add one, or set http_server_config.http2: false`,
      );
    }
  }
  const prefer = doc.prefer_server_cipher_suites ?? true;
  if (typeof prefer !== 'boolean') problems.push('tls_server_config.prefer_server_cipher_suites must be true or false');

  const curveNames = stringList(problems, 'tls_server_config.curve_preferences', doc.curve_preferences);
  const curves: string[] = [];
  for (const curve of curveNames ?? []) {
    const name = GO_CURVES[curve];
    if (!name) problems.push(`tls_server_config.curve_preferences: unknown curve ${curve.slice(0, 80)} (use ${Object.keys(GO_CURVES).join(', ')})`);
    else curves.push(name);
  }
  const clientAllowedSans = stringList(problems, 'tls_server_config.client_allowed_sans', doc.client_allowed_sans);
  // Beyond exporter-toolkit: SANs checked on a certificate that is optional or unverified let a client
  // without one in, or one that signed its own SANs; worded as its client-CA check.
  if (clientAllowedSans !== undefined && clientAuth !== 'RequireAndVerifyClientCert') {
    problems.push(
      'tls_server_config: client_allowed_sans have been configured without a Client Auth Policy of RequireAndVerifyClientCert: set client_auth_type: RequireAndVerifyClientCert (with client_ca_file), or remove client_allowed_sans',
    );
  }

  if (!cert || !key) return undefined;
  const settings: TlsSettings = {
    cert,
    key,
    clientCa,
    clientAuth,
    minVersion,
    maxVersion,
    ciphers,
    honorCipherOrder: prefer !== false,
    ecdhCurve: curves.length > 0 ? curves.join(':') : undefined,
    clientAllowedSans,
  };
  try {
    // What Go's tls.X509KeyPair and its CA pool check, done by OpenSSL: the pair matches, the PEMs parse.
    createSecureContext(secureContextOptions(settings));
  } catch (error) {
    // OpenSSL's reason names the problem (e.g. "key values mismatch"), never the key.
    problems.push(`tls_server_config: the certificate, key or client CA cannot be used (${(error as Error).message.slice(0, 200)})`);
  }
  return settings;
}

/** The options of tls.createSecureContext / server.setSecureContext for these settings. */
export function secureContextOptions(t: TlsSettings): import('node:tls').SecureContextOptions {
  return {
    cert: t.cert,
    key: t.key,
    ca: t.clientCa,
    minVersion: t.minVersion,
    maxVersion: t.maxVersion,
    ciphers: t.ciphers,
    honorCipherOrder: t.honorCipherOrder,
    ecdhCurve: t.ecdhCurve,
  };
}

/**
 * A header value as Go's Header.Write sends it: CR and LF become spaces and the value
 * is trimmed; other bytes go out as they are, UTF-8 (Node writes a header string as
 * Latin-1, so the UTF-8 bytes are given as a Latin-1 string). Undefined when another
 * control character is left, which Node refuses to send (every answer would be a 500).
 */
function headerValue(value: string): string | undefined {
  const text = value.replace(/[\r\n]/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '');
  const wire = Buffer.from(text, 'utf8').toString('latin1');
  try {
    validateHeaderValue('x', wire);
  } catch {
    return undefined;
  }
  return wire;
}

function readHttp(problems: string[], doc: unknown): WebConfig['http'] {
  if (doc === undefined || doc === null) return { http2: true, headers: {} };
  if (!isRecord(doc)) {
    problems.push('http_server_config must be a mapping');
    return { http2: true, headers: {} };
  }
  unknownKeys(problems, 'http_server_config.', doc, HTTP_KEYS);
  const http2 = doc.http2 ?? true;
  if (typeof http2 !== 'boolean') problems.push('http_server_config.http2 must be true or false');
  const headers: Record<string, string> = {};
  if (doc.headers !== undefined && doc.headers !== null) {
    if (!isRecord(doc.headers)) problems.push('http_server_config.headers must be a mapping of header name to value');
    else {
      for (const [name, value] of Object.entries(doc.headers)) {
        // Own properties only: "constructor" or "toString" is a header name like any other, not Object's.
        const allowed = Object.hasOwn(CONFIGURABLE_HEADERS, name) ? CONFIGURABLE_HEADERS[name] : undefined;
        if (!allowed)
          problems.push(
            `http_server_config.headers: HTTP header "${name.slice(0, 64)}" can not be configured (only ${Object.keys(CONFIGURABLE_HEADERS).join(', ')})`,
          );
        else if (typeof value !== 'string' && typeof value !== 'number') problems.push(`http_server_config.headers.${name} must be a string`);
        else if (allowed.length > 0 && !allowed.includes(String(value)))
          problems.push(`http_server_config.headers: invalid value for ${name}: expected one of ${allowed.join(', ')}`);
        else {
          const wire = headerValue(String(value));
          if (wire === undefined)
            problems.push(`http_server_config.headers.${name}: the value holds a control character; remove it (a newline is sent as a space)`);
          else if (wire !== '') headers[name] = wire;
        }
      }
    }
  }
  return { http2: http2 !== false, headers };
}

function readRateLimit(problems: string[], doc: unknown): WebConfig['rateLimit'] {
  if (doc === undefined || doc === null) return undefined;
  if (!isRecord(doc)) {
    problems.push('rate_limit must be a mapping with interval and burst');
    return undefined;
  }
  unknownKeys(problems, 'rate_limit.', doc, RATE_KEYS);
  const intervalMs = parseGoDuration(doc.interval ?? 0);
  if (intervalMs === undefined) problems.push('rate_limit.interval must be a duration such as 1s or 100ms (0 turns the limiter off)');
  const burst = doc.burst ?? 0;
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 0) problems.push('rate_limit.burst must be a whole number of at least 0');
  if (!intervalMs || typeof burst !== 'number') return undefined;
  return { intervalMs, burst };
}

function readUsers(problems: string[], doc: unknown): Map<string, string> {
  const users = new Map<string, string>();
  if (doc === undefined || doc === null) return users;
  if (!isRecord(doc)) {
    problems.push('basic_auth_users must be a mapping of user name to bcrypt hash');
    return users;
  }
  for (const [user, hash] of Object.entries(doc)) {
    if (!user || user.includes(':')) problems.push(`basic_auth_users: user name "${user.slice(0, 64)}" must be non-empty and without ":"`);
    // The value is never repeated: it should be a hash, but it may be a password.
    else if (typeof hash !== 'string' || !BCRYPT.test(hash))
      problems.push(`basic_auth_users.${user} is not a bcrypt hash ($2a$/$2b$/$2y$): make one with \`htpasswd -nBC 10 ${user}\``);
    else users.set(user, hash);
  }
  return users;
}

export function loadWebConfig(file: string): WebConfig {
  const identities: string[] = [];
  const doc = readYaml(file, identities);
  if (!isRecord(doc)) throw new WebConfigError(file, ['must be a YAML mapping (tls_server_config, http_server_config, rate_limit, basic_auth_users)']);
  const reader = new Reader(path.dirname(path.resolve(file)));
  const problems = reader.problems;
  unknownKeys(problems, '', doc, TOP_KEYS);
  const http = readHttp(problems, doc.http_server_config);
  let tls: TlsSettings | undefined;
  if (doc.tls_server_config !== undefined && doc.tls_server_config !== null) {
    if (!isRecord(doc.tls_server_config)) problems.push('tls_server_config must be a mapping');
    else tls = readTls(doc.tls_server_config, reader, http.http2);
  }
  const rateLimit = readRateLimit(problems, doc.rate_limit);
  const basicAuthUsers = readUsers(problems, doc.basic_auth_users);
  if (problems.length > 0) throw new WebConfigError(file, problems);
  return { tls, http, rateLimit, basicAuthUsers, files: [path.resolve(file), ...reader.files], identities: [...identities, ...reader.identities] };
}
