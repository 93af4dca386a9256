import type forgeType from 'node-forge';

/**
 * The subject alternative names of a certificate, read from its DER and written as Go's
 * crypto/x509 writes them (exporter-toolkit compares client_allowed_sans against
 * `cert.DNSNames`, `cert.EmailAddresses`, `ip.String()` and `uri.String()`): DNS names
 * and e-mail addresses as they are, IPv4 dotted, IPv6 compressed (`::1`), URIs as
 * written.
 *
 * Node's `subjectaltname` is text made for people (IPv6 spelled out in full, commas
 * inside a name escaped by quoting): splitting it is a parser of its own, so the names
 * are read from the certificate with node-forge's ASN.1 reader, which the product
 * already ships. Only the ASN.1 layer is used: forge's certificate reader refuses keys
 * that are not RSA, and a client certificate may well be ECDSA.
 *
 * node-forge is loaded on the first certificate read (only configurations with
 * client_allowed_sans read any).
 */
const SAN_OID = '2.5.29.17';

type Asn1 = forgeType.asn1.Asn1;

function children(node: Asn1 | undefined): Asn1[] {
  return node && Array.isArray(node.value) ? (node.value as Asn1[]) : [];
}

function bytes(node: Asn1): string {
  return typeof node.value === 'string' ? node.value : '';
}

function ipText(raw: string): string | undefined {
  const b = Buffer.from(raw, 'binary');
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) return undefined;
  // Go prints an IPv4-mapped address dotted.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return [...b.subarray(12)].join('.');
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16));
  // WHATWG URL compresses as Go does (the longest run of two or more zero groups, the first on a tie).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The SANs of a DER certificate, in Go's spelling; an empty list when it has none or cannot be read. */
export function sansOfCertificate(der: Buffer): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const forge = require('node-forge') as typeof forgeType;
  let cert: Asn1;
  try {
    cert = forge.asn1.fromDer(der.toString('binary'), true);
  } catch {
    return [];
  }
  const tbs = children(cert)[0];
  // The extensions are tbsCertificate's [3], an explicit tag around a SEQUENCE of extensions.
  const extensions = children(tbs).find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  const sans: string[] = [];
  for (const extension of children(children(extensions)[0])) {
    const [oid, ...rest] = children(extension);
    if (!oid || forge.asn1.derToOid(bytes(oid)) !== SAN_OID) continue;
    const octets = rest[rest.length - 1];
    if (!octets) continue;
    let names: Asn1;
    try {
      names = forge.asn1.fromDer(bytes(octets), true);
    } catch {
      return [];
    }
    for (const name of children(names)) {
      if (name.tagClass !== forge.asn1.Class.CONTEXT_SPECIFIC) continue;
      const value = bytes(name);
      if (name.type === 1 || name.type === 2) sans.push(Buffer.from(value, 'binary').toString('latin1'));
      else if (name.type === 6) sans.push(Buffer.from(value, 'binary').toString('utf8'));
      else if (name.type === 7) {
        const ip = ipText(value);
        if (ip) sans.push(ip);
      }
    }
  }
  return sans;
}
