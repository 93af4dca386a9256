import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';

export interface CertificateSet {
  caPem: string;
  /** Server certificate for 127.0.0.1 / localhost. */
  certPem: string;
  keyPem: string;
  /** Client certificate (extended key usage clientAuth), for servers that require one. */
  clientCertPem: string;
  clientKeyPem: string;
}

type Attr = { name: string; value: string };

function issue(commonName: string, issuer: Attr[], signer: forge.pki.rsa.PrivateKey, serial: string, extensions: object[]) {
  const now = Date.now();
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, all signed by it. */
export function makeCertificates(): CertificateSet {
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const ca = forge.pki.createCertificate();
  const now = Date.now();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = '01';
  ca.validity.notBefore = new Date(now - 60_000);
  ca.validity.notAfter = new Date(now + 24 * 3600_000);
  const caName = [{ name: 'commonName', value: 'fdl-cloudauth test CA' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());
  const server = issue('localhost', caName, caKeys.privateKey, '02', [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    // Redis uses its server certificate as its client certificate too (replication, cluster bus, Sentinel).
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ]);
  const client = issue('fdl-cloudauth sidecar', caName, caKeys.privateKey, '03', [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  return { caPem: forge.pki.certificateToPem(ca), ...server, clientCertPem: client.certPem, clientKeyPem: client.keyPem };
}

export interface CertificateFiles {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly pems: CertificateSet;
  remove(): void;
}

/** makeCertificates() written to a fresh temporary directory (keys mode 0600). */
export function writeCertificates(): CertificateFiles {
  const pems = makeCertificates();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdl-tls-'));
  const write = (name: string, content: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  };
  return {
    dir,
    caFile: write('ca.pem', pems.caPem),
    certFile: write('server.pem', pems.certPem),
    keyFile: write('server.key', pems.keyPem),
    clientCertFile: write('client.pem', pems.clientCertPem),
    clientKeyFile: write('client.key', pems.clientKeyPem),
    pems,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
