import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/** A certificate authority that exists only to make local https work for the demo and the tests. */
export interface DevCa {
  certPem: string;
  keyPem: string;
  /** Where the CA certificate lives, so a browser or NODE_EXTRA_CA_CERTS can be pointed at it. */
  certFile: string;
}

export interface ServerCert {
  certPem: string;
  keyPem: string;
}

export const DEV_CA_COMMON_NAME = 'Drawbridge Development CA (NOT FOR PRODUCTION)';
const CA_CERT_FILE = 'dev-ca.pem';
const CA_KEY_FILE = 'dev-ca-key.pem';
const CA_YEARS = 10;
const LEAF_DAYS = 365;

/**
 * Returns the development CA stored in `dir`, creating it on first use. Reusing it across restarts
 * matters: a user who trusted it once in a browser should not have to do so again.
 */
export function ensureDevCa(dir: string): DevCa {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);

  if (existsSync(certFile) && existsSync(keyFile)) {
    const certPem = readFileSync(certFile, 'utf8');
    const keyPem = readFileSync(keyFile, 'utf8');
    assertPairMatches(certPem, keyPem, certFile);
    return { certPem, keyPem, certFile };
  }

  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  const { notBefore, notAfter } = validity(CA_YEARS * 365);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const subject = [
    { name: 'commonName', value: DEV_CA_COMMON_NAME },
    { name: 'organizationName', value: 'Drawbridge development' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());

  const certPem = forge.pki.certificateToPem(cert);
  const keyPem = forge.pki.privateKeyToPem(keys.privateKey);
  // Key first and via rename, so a crash never leaves a certificate whose key is missing or torn.
  writeAtomically(keyFile, keyPem, 0o600);
  writeAtomically(certFile, certPem, 0o644);
  return { certPem, keyPem, certFile };
}

/**
 * Issues a TLS server certificate signed by `ca`. Generated fresh on every start: only the CA
 * has to be stable for clients to keep trusting the server.
 */
export function issueServerCert(ca: Pick<DevCa, 'certPem' | 'keyPem'>, hostnames: string[], ips: string[]): ServerCert {
  if (hostnames.length === 0 && ips.length === 0) throw new Error('a server certificate needs at least one hostname or IP address');
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new Error(`not an IP address: ${ip}`);
  }
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);

  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  const { notBefore, notAfter } = validity(LEAF_DAYS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  // Clients only look at the SANs; the CN is for humans reading the certificate.
  cert.setSubject([{ name: 'commonName', value: hostnames[0] ?? ips[0] ?? 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      // type 2 = dNSName, type 7 = iPAddress (RFC 5280 GeneralName tags)
      altNames: [...[...new Set(hostnames)].map((value) => ({ type: 2, value })), ...[...new Set(ips)].map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());

  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

function assertPairMatches(certPem: string, keyPem: string, certFile: string): void {
  let matches: boolean;
  try {
    const cert = forge.pki.certificateFromPem(certPem);
    const key = forge.pki.privateKeyFromPem(keyPem);
    const certKey = cert.publicKey as forge.pki.rsa.PublicKey;
    matches = certKey.n.equals(key.n) && certKey.e.equals(key.e);
  } catch (err) {
    throw new Error(`the development CA in ${certFile} cannot be read (${(err as Error).message}); delete it to create a new one`);
  }
  if (!matches) throw new Error(`the development CA certificate ${certFile} does not match its key; delete both files to create a new CA`);
}

/** Positive 128-bit serial: a leading zero bit keeps the DER INTEGER from being read as negative. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  // Backdated an hour so a client whose clock runs slightly behind still accepts a fresh cert.
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(notBefore.getTime() + days * 24 * 60 * 60 * 1000);
  return { notBefore, notAfter };
}

function writeAtomically(file: string, content: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode); // the umask may have masked bits off the mode given to writeFileSync
  renameSync(tmp, file);
}
