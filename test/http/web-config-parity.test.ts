import { writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import forge from 'node-forge';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SidecarServer } from '../../daemon/http/sidecar-server';
import { WebConfigError } from '../../daemon/http/web-config';
import { WebConfigSource } from '../../daemon/http/web-config-source';
import { writeCertificates, type CertificateFiles } from '../../harness/tls';

/**
 * exporter-toolkit's own cases for the web configuration file — the files of its
 * web/testdata and the cases of tls_config_test.go and handler_test.go, plus its
 * documented semantics — as a table over configuration files written here, each with
 * the result exporter-toolkit gives: refused at start (with the reason it names), or
 * what a client sees (an HTTP status, a negotiated cipher, or a failed connection).
 * Each case runs the sidecar's real HTTP(S) server on loopback with a real client.
 * A refusal counts only with exporter-toolkit's reason. Before the parity work (0.2.0), 24 of these 63
 * cases behaved as exporter-toolkit does; issue 28 added 12 (header values, own-property header
 * names, client_allowed_sans only with a required and verified certificate, SANs as Go spells
 * them), of which 10 failed before it. `PARITY_DETAILS=1` prints every case's result.
 */
jest.setTimeout(120_000);

type Client = {
  /** Speak TLS (trusting the test CA). */
  readonly tls?: boolean;
  /** Present a client certificate: the CA-signed one, or one of the self-signed ones. */
  readonly cert?: 'self' | 'self2' | 'self3';
  readonly maxVersion?: 'TLSv1.1' | 'TLSv1.2';
  readonly ciphers?: string;
  readonly ecdhCurve?: string;
  readonly user?: string;
  readonly password?: string;
};
type Expected =
  | { readonly refused: RegExp }
  | { readonly status: number; readonly cipher?: string; readonly headers?: Record<string, string> }
  | { readonly fails: true };
interface Case {
  readonly name: string;
  /** The configuration file's text; `$dir`-relative file names as exporter-toolkit's tests use. Absent: no file. */
  readonly config?: string;
  readonly client?: Client;
  readonly expected: Expected;
}

let files: CertificateFiles;
let dir: string;
const PEM = { serverKeyInline: '', serverCertInline: '' };
const log = pino({ level: 'silent' });

type AltName = { type: 1 | 2 | 6; value: string } | { type: 7; ip: string };
function selfSigned(cn: string, dns: string[], more: AltName[] = []): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0a';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer([{ name: 'commonName', value: cn }]);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
    { name: 'extKeyUsage', clientAuth: true },
    ...(dns.length || more.length ? [{ name: 'subjectAltName', altNames: [...dns.map((value) => ({ type: 2, value })), ...more] }] : []),
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}
const clients: Record<string, { cert: string; key: string }> = {};

const indent = (pem: string) =>
  pem
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
const TLS = 'tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n';
const NO_AUTH = `${TLS}  client_auth_type: VerifyClientCertIfGiven\n`;
const users = () =>
  `basic_auth_users:\n  alice: ${bcrypt.hashSync('alice123', 4)}\n  bob: ${bcrypt.hashSync('bob123', 4)}\n  carol: ${bcrypt.hashSync('carol123', 4)}\n  dave: ${bcrypt.hashSync('dave123', 4)}\n`;

function cases(): Case[] {
  const USERS = users();
  const someCiphers = `${NO_AUTH}  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  min_version: TLS12\n  max_version: TLS12\n`;
  const noOrder = `${NO_AUTH}  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  prefer_server_cipher_suites: false\n  min_version: TLS12\n  max_version: TLS12\n`;
  const someCurves = `${NO_AUTH}  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n`;
  const allCiphers = [
    'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
    'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
    'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
    'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
    'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
    'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
    'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  ];
  const both = 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384';
  return [
    // TestYAMLFiles: accepted or refused at start, with exporter-toolkit's reason.
    { name: 'path to config yml invalid', config: undefined, expected: { refused: /cannot be read \(ENOENT\)/ } },
    { name: 'empty config yml', config: '', client: {}, expected: { status: 200 } },
    {
      name: 'invalid structure (junk)',
      config: 'hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\nay3RiOtykgt4m6m3KOol\n',
      expected: { refused: /must be a YAML mapping/ },
    },
    {
      name: 'invalid key (cert_filse)',
      config: 'tls_server_config:\n  cert_filse: "server.pem"\n',
      expected: { refused: /unknown key tls_server_config\.cert_filse/ },
    },
    {
      name: 'cert path empty',
      config: 'tls_server_config:\n  cert_file: ""\n  key_file: server.key\n',
      expected: { refused: /missing one of cert or cert_file/ },
    },
    { name: 'cert empty', config: 'tls_server_config:\n  cert: ""\n  key_file: server.key\n', expected: { refused: /missing one of cert or cert_file/ } },
    {
      name: 'key path empty',
      config: 'tls_server_config:\n  cert_file: server.pem\n  key_file: ""\n',
      expected: { refused: /missing one of key or key_file/ },
    },
    { name: 'key empty', config: 'tls_server_config:\n  cert_file: server.pem\n  key: ""\n', expected: { refused: /missing one of key or key_file/ } },
    {
      name: 'cert path and key path empty',
      config: 'tls_server_config:\n  cert_file: ""\n  key_file: ""\n  client_auth_type: "x"\n',
      expected: { refused: /missing one of cert or cert_file/ },
    },
    {
      name: 'cert path invalid',
      config: 'tls_server_config:\n  cert_file: somefile\n  key_file: server.key\n',
      expected: { refused: /cert_file: .*somefile cannot be read \(ENOENT\)/ },
    },
    {
      name: 'key path invalid',
      config: 'tls_server_config:\n  cert_file: server.cert\n  key_file: somefile\n',
      expected: { refused: /key_file: .*somefile cannot be read \(ENOENT\)/ },
    },
    {
      name: 'cert path and key path invalid',
      config: 'tls_server_config:\n  cert_file: somefile\n  key_file: somefile\n',
      expected: { refused: /cannot be read \(ENOENT\)/ },
    },
    {
      name: 'client CA without a client auth policy',
      config: `${TLS}  client_ca_file: /dev/null\n`,
      expected: { refused: /client CA's have been configured without a Client Auth Policy/ },
    },
    {
      name: 'client CA file path invalid',
      config: `${TLS}  client_ca_file: somefile\n`,
      expected: { refused: /client_ca_file: .*somefile cannot be read \(ENOENT\)/ },
    },
    {
      name: 'invalid user list (a password where a hash belongs)',
      config: `${TLS}basic_auth_users:\n  john: doe\n`,
      expected: { refused: /basic_auth_users\.john is not a bcrypt hash/ },
    },
    {
      name: 'invented cipher',
      config: `${NO_AUTH}  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\n`,
      expected: { refused: /unknown cipher TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048/ },
    },
    { name: 'invented curve', config: `${NO_AUTH}  curve_preferences:\n    - CurveP257\n`, expected: { refused: /unknown curve CurveP257/ } },
    { name: 'wrong TLS version', config: `${NO_AUTH}  min_version: TLS111\n`, expected: { refused: /min_version: unknown TLS version/ } },
    {
      name: 'invalid client_auth_type',
      config: `${TLS}  client_auth_type: SometimesClientCert\n`,
      expected: { refused: /invalid ClientAuth "SometimesClientCert"/ },
    },

    // TestServerBehaviour.
    { name: 'no config and a plain client', config: undefined, client: {}, expected: { status: 200 } },
    { name: 'no config and a TLS client', config: '', client: { tls: true }, expected: { fails: true } },
    { name: 'TLS config (VerifyClientCertIfGiven without CA) and a plain client', config: NO_AUTH, client: {}, expected: { fails: true } },
    { name: 'TLS config (VerifyClientCertIfGiven without CA) and a TLS client', config: NO_AUTH, client: { tls: true }, expected: { status: 200 } },
    {
      name: 'cert and key inline and a TLS client',
      config: `tls_server_config:\n  cert: |\n${indent(PEM.serverCertInline)}\n  key: |\n${indent(PEM.serverKeyInline)}\n  client_auth_type: VerifyClientCertIfGiven\n`,
      client: { tls: true },
      expected: { status: 200 },
    },
    { name: 'a TLS 1.1 client', config: NO_AUTH, client: { tls: true, maxVersion: 'TLSv1.1' }, expected: { fails: true } },
    {
      name: 'all ciphers',
      config: `${NO_AUTH}  cipher_suites:\n${allCiphers.map((c) => `  - ${c}`).join('\n')}\n`,
      client: { tls: true },
      expected: { status: 200 },
    },
    {
      name: 'some ciphers, a client with one of them',
      config: someCiphers,
      client: { tls: true, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' },
      expected: { status: 200 },
    },
    {
      name: 'some ciphers, a client with none of them',
      config: someCiphers,
      client: { tls: true, ciphers: 'ECDHE-RSA-AES256-SHA' },
      expected: { fails: true },
    },
    {
      name: 'some ciphers, the server picks',
      config: someCiphers,
      client: { tls: true, ciphers: both },
      expected: { status: 200, cipher: 'ECDHE-RSA-AES128-GCM-SHA256' },
    },
    {
      name: 'some ciphers, prefer_server_cipher_suites false: the client picks',
      config: noOrder,
      client: { tls: true, ciphers: both },
      expected: { status: 200, cipher: 'ECDHE-RSA-AES128-GCM-SHA256' },
    },
    {
      name: 'all curves',
      config: `${NO_AUTH}  curve_preferences:\n    - CurveP256\n    - CurveP384\n    - CurveP521\n    - X25519\n`,
      client: { tls: true },
      expected: { status: 200 },
    },
    { name: 'some curves, a client with that curve', config: someCurves, client: { tls: true, ecdhCurve: 'P-521' }, expected: { status: 200 } },
    { name: 'some curves, a client with no common curve', config: someCurves, client: { tls: true, ecdhCurve: 'P-384' }, expected: { fails: true } },
    {
      name: 'a non-HTTP/2 cipher with http2 false',
      config: `${NO_AUTH}  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\nhttp_server_config:\n  http2: false\n`,
      client: { tls: true },
      expected: { status: 200 },
    },
    {
      name: 'a non-HTTP/2 cipher with http2 on (the default)',
      config: `${NO_AUTH}  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n`,
      expected: { refused: /cipher_suites is missing an HTTP\/2-required cipher/ },
    },
    {
      name: 'valid headers',
      config: `http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 1\n    Content-Security-Policy: "default-src 'self' *.test.example.net"\n`,
      client: {},
      expected: {
        status: 200,
        headers: {
          'x-frame-options': 'deny',
          'strict-transport-security': 'max-age=31536000; includeSubDomains',
          'x-content-type-options': 'nosniff',
          'x-xss-protection': '1',
        },
      },
    },
    {
      name: 'X-Content-Type-Options: sniff',
      config: 'http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n',
      expected: { refused: /invalid value for X-Content-Type-Options/ },
    },
    {
      name: 'X-Frame-Options: foo',
      config: 'http_server_config:\n  headers:\n    X-Frame-Options: foo\n',
      expected: { refused: /invalid value for X-Frame-Options/ },
    },
    // Header values (issue 28): Go's Header.Write turns CR and LF into spaces and trims the value, and
    // writes other bytes as they are (UTF-8); Node refused such a value on every answer (500, probes too).
    {
      name: 'a header value ending in a newline (a YAML | block)',
      config: 'http_server_config:\n  headers:\n    Strict-Transport-Security: |\n      max-age=31536000\n',
      client: {},
      expected: { status: 200, headers: { 'strict-transport-security': 'max-age=31536000' } },
    },
    {
      name: 'a header value with a newline inside',
      config: 'http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \'self\';\\nimg-src *"\n',
      client: {},
      expected: { status: 200, headers: { 'content-security-policy': "default-src 'self'; img-src *" } },
    },
    {
      name: 'a header value with a typographic apostrophe (UTF-8 on the wire, as Go sends it)',
      config: 'http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \u2019self\u2019"\n',
      client: {},
      expected: { status: 200, headers: { 'content-security-policy': Buffer.from('default-src \u2019self\u2019').toString('latin1') } },
    },
    {
      name: 'a constructor header',
      config: 'http_server_config:\n  headers:\n    constructor: x\n',
      expected: { refused: /HTTP header "constructor" can not be configured/ },
    },
    {
      name: 'a toString header',
      config: 'http_server_config:\n  headers:\n    toString: x\n',
      expected: { refused: /HTTP header "toString" can not be configured/ },
    },
    {
      name: 'a header value with a control character',
      config: 'http_server_config:\n  headers:\n    X-XSS-Protection: "1\\u0000"\n',
      expected: { refused: /http_server_config\.headers\.X-XSS-Protection: the value holds a control character/ },
    },
    {
      name: 'a header that can not be configured',
      config: 'http_server_config:\n  headers:\n    Content-Type: foo\n',
      expected: { refused: /HTTP header "Content-Type" can not be configured/ },
    },
    {
      name: 'RequireAnyClientCert, a client certificate given',
      config: `${TLS}  client_auth_type: RequireAnyClientCert\n`,
      client: { tls: true, cert: 'self' },
      expected: { status: 200 },
    },
    {
      name: 'RequireAnyClientCert with the key inline, a client certificate given',
      config: `tls_server_config:\n  cert_file: server.pem\n  key: |\n${indent(PEM.serverKeyInline)}\n  client_auth_type: RequireAnyClientCert\n`,
      client: { tls: true, cert: 'self' },
      expected: { status: 200 },
    },
    {
      name: 'RequireAnyClientCert, no client certificate',
      config: `${TLS}  client_auth_type: RequireAnyClientCert\n`,
      client: { tls: true },
      expected: { fails: true },
    },
    {
      name: 'RequireClientCert (the old name of RequireAnyClientCert), no client certificate',
      config: `${TLS}  client_auth_type: RequireClientCert\n`,
      client: { tls: true },
      expected: { fails: true },
    },
    {
      name: 'RequireAndVerifyClientCert, a trusted client certificate given',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self.pem\n`,
      client: { tls: true, cert: 'self' },
      expected: { status: 200 },
    },
    {
      name: 'RequireAndVerifyClientCert, an untrusted client certificate given',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self.pem\n`,
      client: { tls: true, cert: 'self2' },
      expected: { fails: true },
    },
    {
      name: 'RequireAndVerifyClientCert without client_ca_file: accepted, nothing verifies',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`,
      client: { tls: true, cert: 'self' },
      expected: { fails: true },
    },
    {
      name: 'VerifyClientCertIfGiven without a CA, a certificate given: it does not verify',
      config: NO_AUTH,
      client: { tls: true, cert: 'self' },
      expected: { fails: true },
    },
    {
      name: 'client_allowed_sans with a SAN of the certificate',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self2.pem\n  client_allowed_sans:\n    - "one"\n    - "test3"\n    - "two"\n`,
      client: { tls: true, cert: 'self2' },
      expected: { status: 200 },
    },
    {
      name: 'client_allowed_sans without a SAN of the certificate',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self2.pem\n  client_allowed_sans:\n    - "bad"\n`,
      client: { tls: true, cert: 'self2' },
      expected: { fails: true },
    },
    // Beyond exporter-toolkit (issue 28): SANs without a required, verified certificate let a client
    // with no certificate in (Go hands VerifyPeerCertificate an empty list; the fix there refuses in the
    // handshake), so the combination is refused at load, in the words of its client-CA check.
    {
      name: 'client_allowed_sans under VerifyClientCertIfGiven',
      config: `${TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: client-self2.pem\n  client_allowed_sans:\n    - "test3"\n`,
      expected: { refused: /client_allowed_sans have been configured without a Client Auth Policy of RequireAndVerifyClientCert/ },
    },
    {
      name: 'client_allowed_sans under RequestClientCert',
      config: `${TLS}  client_auth_type: RequestClientCert\n  client_allowed_sans:\n    - "test3"\n`,
      expected: { refused: /client_allowed_sans have been configured without a Client Auth Policy of RequireAndVerifyClientCert/ },
    },
    {
      name: 'client_allowed_sans with an IPv6 SAN, written as Go writes it (::1)',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self3.pem\n  client_allowed_sans:\n    - "::1"\n`,
      client: { tls: true, cert: 'self3' },
      expected: { status: 200 },
    },
    {
      name: 'client_allowed_sans with a URI SAN (SPIFFE)',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self3.pem\n  client_allowed_sans:\n    - "spiffe://example.org/prometheus"\n`,
      client: { tls: true, cert: 'self3' },
      expected: { status: 200 },
    },
    {
      name: 'client_allowed_sans with an e-mail SAN',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self3.pem\n  client_allowed_sans:\n    - "ops@example.org"\n`,
      client: { tls: true, cert: 'self3' },
      expected: { status: 200 },
    },
    {
      name: 'client_allowed_sans naming the IPv6 SAN as Node spells it out: not a SAN to Go',
      config: `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-self3.pem\n  client_allowed_sans:\n    - "0:0:0:0:0:0:0:1"\n`,
      client: { tls: true, cert: 'self3' },
      expected: { fails: true },
    },
    { name: 'rate limiter off (interval 0)', config: 'rate_limit:\n  interval: 0\n  burst: 0\n', client: {}, expected: { status: 200 } },
    { name: 'rate limiter of one second with burst 0', config: 'rate_limit:\n  interval: "1s"\n  burst: 0\n', client: {}, expected: { status: 429 } },
    {
      name: 'min_version TLS13, a TLS 1.2 client',
      config: `${NO_AUTH}  min_version: TLS13\n`,
      client: { tls: true, maxVersion: 'TLSv1.2' },
      expected: { fails: true },
    },
    {
      name: 'min_version above max_version',
      config: `${NO_AUTH}  min_version: TLS13\n  max_version: TLS12\n`,
      expected: { refused: /min_version is above max_version/ },
    },

    // TestUsers and handler_test.go.
    { name: 'users without TLS, no credentials', config: USERS, client: {}, expected: { status: 401 } },
    { name: 'users without TLS, right credentials', config: USERS, client: { user: 'dave', password: 'dave123' }, expected: { status: 200 } },
    { name: 'users with TLS, no credentials', config: `${TLS}${USERS}`, client: { tls: true }, expected: { status: 401 } },
    {
      name: 'users with TLS, right credentials',
      config: `${TLS}${USERS}`,
      client: { tls: true, user: 'dave', password: 'dave123' },
      expected: { status: 200 },
    },
    {
      name: 'users with TLS, another user right',
      config: `${TLS}${USERS}`,
      client: { tls: true, user: 'carol', password: 'carol123' },
      expected: { status: 200 },
    },
    { name: 'users with TLS, bad password', config: `${TLS}${USERS}`, client: { tls: true, user: 'dave', password: 'bad' }, expected: { status: 401 } },
    {
      name: 'users with TLS, bad user name',
      config: `${TLS}${USERS}`,
      client: { tls: true, user: 'nonexistent', password: 'nonexistent' },
      expected: { status: 401 },
    },
    {
      name: 'an unknown user with the fake password of the unknown-user hash',
      config: USERS,
      client: { user: 'fakeuser', password: 'fakepassword' },
      expected: { status: 401 },
    },
    {
      name: 'the user name and password run together (cache key bypass)',
      config: USERS,
      client: { user: 'alice:alice123', password: '' },
      expected: { status: 401 },
    },
    { name: 'a known user with the password of another', config: USERS, client: { user: 'alice', password: 'bob123' }, expected: { status: 401 } },
  ];
}

type Outcome = { readonly status: number; readonly cipher?: string; readonly headers: http.IncomingHttpHeaders } | { readonly error: string };

function call(port: number, client: Client): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (client.user !== undefined) headers.authorization = `Basic ${Buffer.from(`${client.user}:${client.password ?? ''}`).toString('base64')}`;
  const certificate = client.cert ? clients[client.cert] : undefined;
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port, path: '/metrics', headers, agent: false, timeout: 10_000 };
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      const cipher = (res.socket as TLSSocket).getCipher?.()?.name;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cipher, headers: res.headers }));
      res.on('error', (error) => resolve({ error: error.message }));
    };
    const req = client.tls
      ? https.request(
          {
            ...options,
            ca: files.pems.caPem,
            cert: certificate?.cert,
            key: certificate?.key,
            maxVersion: client.maxVersion,
            ciphers: client.ciphers,
            ecdhCurve: client.ecdhCurve,
          },
          onResponse,
        )
      : http.request(options, onResponse);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ error: error.message }));
    req.end();
  });
}

function verdict(expected: Expected, start: { error?: Error }, outcome: Outcome | undefined): boolean {
  if ('refused' in expected) return start.error instanceof WebConfigError && expected.refused.test(start.error.message);
  if (start.error || !outcome) return false;
  if ('fails' in expected) return 'error' in outcome;
  if ('error' in outcome || outcome.status !== expected.status) return false;
  if (expected.cipher && outcome.cipher !== expected.cipher) return false;
  return Object.entries(expected.headers ?? {}).every(([name, value]) => outcome.headers[name] === value);
}

beforeAll(() => {
  files = writeCertificates();
  dir = files.dir;
  PEM.serverCertInline = files.pems.certPem;
  PEM.serverKeyInline = files.pems.keyPem;
  clients.self = selfSigned('client', []);
  clients.self2 = selfSigned('client2', ['test3']);
  // Go renders an IPv6 SAN compressed (::1) and a URI as written; Node's subjectaltname text spells IPv6 out in full.
  clients.self3 = selfSigned(
    'client3',
    [],
    [
      { type: 7, ip: '::1' },
      { type: 6, value: 'spiffe://example.org/prometheus' },
      { type: 1, value: 'ops@example.org' },
    ],
  );
  writeFileSync(path.join(dir, 'client-self.pem'), clients.self.cert);
  writeFileSync(path.join(dir, 'client-self2.pem'), clients.self2.cert);
  writeFileSync(path.join(dir, 'client-self3.pem'), clients.self3.cert);
});
afterAll(() => files.remove());

async function runCase(c: Case, index: number): Promise<{ same: boolean; detail: string }> {
  const file = path.join(dir, `case-${index}.yml`);
  if (c.config !== undefined) writeFileSync(file, c.config);
  const start: { error?: Error } = {};
  let source: WebConfigSource | undefined;
  const noFileAtAll = c.config === undefined && c.client !== undefined;
  if (!noFileAtAll) {
    try {
      source = new WebConfigSource(file, log);
    } catch (error) {
      start.error = error as Error;
    }
  }
  let outcome: Outcome | undefined;
  if (!start.error && c.client) {
    const server = new SidecarServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      logger: log,
      readiness: () => ({ ready: true, checks: {} }),
      status: () => Promise.resolve({}),
      webConfig: source,
    });
    await server.start();
    try {
      outcome = await call(server.port, c.client);
    } finally {
      await server.close();
    }
  }
  const same = verdict(c.expected, start, outcome);
  const got = start.error
    ? `refused: ${start.error.message}`
    : JSON.stringify(outcome && ('error' in outcome ? outcome : { status: outcome.status, cipher: outcome.cipher }));
  return { same, detail: `${c.name}: expected ${JSON.stringify(c.expected, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v))}, got ${got}` };
}

it('behaves as exporter-toolkit in each of its cases', async () => {
  const table = cases();
  const results: Array<{ same: boolean; detail: string }> = [];
  for (const [i, c] of table.entries()) results.push(await runCase(c, i));
  const differing = results.filter((r) => !r.same).map((r) => r.detail);
  if (process.env.PARITY_DETAILS) console.log(results.map((r) => r.detail).join('\n'));
  console.log(`web configuration: ${results.length - differing.length} of ${results.length} of exporter-toolkit's cases behave as exporter-toolkit does`);
  expect(differing).toEqual([]);
});

it('re-reads the file per connection: a blocking configuration replaced by a good one serves without a restart (TestConfigReloading)', async () => {
  const file = path.join(dir, 'reload.yml');
  writeFileSync(file, `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`);
  const source = new WebConfigSource(file, log);
  const server = new SidecarServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    logger: log,
    readiness: () => ({ ready: true, checks: {} }),
    status: () => Promise.resolve({}),
    webConfig: source,
  });
  await server.start();
  try {
    expect(await call(server.port, { tls: true })).toHaveProperty('error');
    writeFileSync(file, `${NO_AUTH}  min_version: TLS12\n`);
    expect(await call(server.port, { tls: true })).toMatchObject({ status: 200 });
    expect(source.reload.ok).toBe(true);
    // A certificate rotated in place: the next connection gets the new one.
    const rotated = writeCertificates();
    writeFileSync(path.join(dir, 'server.pem'), rotated.pems.certPem);
    writeFileSync(path.join(dir, 'server.key'), rotated.pems.keyPem);
    const answer = await new Promise<string>((resolve) => {
      https
        .get({ host: '127.0.0.1', port: server.port, path: '/healthz', agent: false, ca: rotated.pems.caPem }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        })
        .on('error', (e) => resolve(e.message));
    });
    expect(answer).toBe('200');
    rotated.remove();
  } finally {
    await server.close();
  }
});
