/**
 * exporter-toolkit's web configuration names TLS settings the way Go's crypto/tls does;
 * Node speaks OpenSSL. These tables translate the names exporter-toolkit accepts and
 * nothing else, so a name Go refuses is refused here too.
 */

/**
 * The suites of Go's `tls.CipherSuites()` (the only ones exporter-toolkit accepts) with
 * their OpenSSL names. The TLS 1.3 suites are accepted but, as in Go, not configurable:
 * TLS 1.3 always negotiates among its own three.
 */
export const GO_CIPHER_SUITES: Readonly<Record<string, string | null>> = Object.freeze({
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
});

/**
 * Go's net/http refuses to serve HTTP/2 when cipher_suites (for TLS 1.2) lacks both of
 * these; exporter-toolkit then fails to start unless http2 is false.
 */
export const HTTP2_REQUIRED_CIPHERS: readonly string[] = ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'];

/** exporter-toolkit's curve names (its own table) with OpenSSL's. */
export const GO_CURVES: Readonly<Record<string, string>> = Object.freeze({
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
});

export type NodeTlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export const GO_TLS_VERSIONS: Readonly<Record<string, NodeTlsVersion>> = Object.freeze({
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
});

const VERSION_ORDER: readonly NodeTlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

export function versionRank(version: NodeTlsVersion): number {
  return VERSION_ORDER.indexOf(version);
}

/** exporter-toolkit's client_auth_type values; RequireClientCert is its old name of RequireAnyClientCert. */
export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/**
 * The headers http_server_config.headers may set, and the values allowed where
 * exporter-toolkit restricts them (an empty list: any value).
 */
export const CONFIGURABLE_HEADERS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'Strict-Transport-Security': [],
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': [],
  'Content-Security-Policy': [],
});
