import type { TLSSocket } from 'node:tls';
import { sansOfCertificate } from './certificate-sans';
import type { TlsSettings } from './web-config';

/**
 * exporter-toolkit's client_auth_type and client_allowed_sans, judged on a TLS
 * connection. Go fails the handshake; Node's server cannot refuse a missing or
 * unverified certificate inside the handshake without also refusing the health
 * probes (a kubelet has no client certificate), so the server asks for a certificate
 * when the policy wants one, and a connection that does not satisfy the policy is
 * closed before any answer on every path but /healthz and /readyz. The client sees a
 * failed connection, as with exporter-toolkit, never an HTTP answer.
 */
function sansOf(socket: TLSSocket): string[] {
  // From the certificate's DER, as Go reads them (certificate-sans.ts), not Node's text rendering.
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  return raw ? sansOfCertificate(raw) : [];
}

/** Undefined when the connection satisfies the policy, else why not (for the debug log). */
export function clientCertProblem(tls: TlsSettings, socket: TLSSocket): string | undefined {
  const given = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
  // Go verifies against the client CA pool only; without one the pool is empty and nothing verifies.
  const verified = given && Boolean(tls.clientCa) && socket.authorized;
  switch (tls.clientAuth) {
    case 'NoClientCert':
    case 'RequestClientCert':
      break;
    case 'RequireAnyClientCert':
      if (!given) return 'a client certificate is required';
      break;
    case 'VerifyClientCertIfGiven':
      if (given && !verified) return 'the client certificate does not verify against client_ca_file';
      break;
    case 'RequireAndVerifyClientCert':
      if (!given) return 'a client certificate is required';
      if (!verified) return 'the client certificate does not verify against client_ca_file';
      break;
  }
  // Loading refuses client_allowed_sans under any policy but RequireAndVerifyClientCert (web-config.ts),
  // so a client without a certificate never reaches this line with SANs configured.
  if (given && tls.clientAllowedSans && !sansOf(socket).some((san) => tls.clientAllowedSans?.includes(san))) {
    return 'the client certificate has none of client_allowed_sans';
  }
  return undefined;
}
