import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/** Where Linux distributions, macOS and the BSDs keep the system's CA bundle, most common first. */
export const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

export class TrustedCaError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'TrustedCaError';
  }
}

export interface TrustedCas {
  /** PEM texts, each possibly holding many certificates, for the `ca` option of tls.connect. */
  ca: string[];
  /** What they came from, for the start-up log line. */
  sources: string[];
}

export interface CaFiles {
  exists(path: string): boolean;
  read(path: string): string;
}

const realFiles: CaFiles = { exists: existsSync, read: (p) => readFileSync(p, 'utf8') };

function readPem(files: CaFiles, path: string, what: string): string {
  let text: string;
  try {
    text = files.read(path);
  } catch (err) {
    throw new TrustedCaError(what, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new TrustedCaError(what, `${path} holds no PEM certificate`);
  return text;
}

/**
 * The certificates the connector trusts for the gateway: Node's bundled roots, the operating
 * system's bundle and the configured caFile. Node on its own trusts only its bundled roots, so a
 * company root installed in the system (the usual way for an internal gateway or a TLS-inspecting
 * proxy) would be refused. SSL_CERT_FILE, OpenSSL's own variable, names the system bundle where it
 * is not at a usual path. Windows keeps no bundle file: there, caFile or NODE_EXTRA_CA_CERTS.
 */
export function trustedCas(caFile: string | undefined, env: NodeJS.ProcessEnv, files: CaFiles = realFiles): TrustedCas {
  const ca = [...rootCertificates];
  const sources = [`node's ${rootCertificates.length} bundled roots`];
  const named = env.SSL_CERT_FILE;
  const system = named ?? SYSTEM_BUNDLES.find((p) => files.exists(p));
  if (system) {
    ca.push(readPem(files, system, named ? 'SSL_CERT_FILE' : 'system CA bundle'));
    sources.push(system);
  }
  if (caFile) {
    ca.push(readPem(files, caFile, 'caFile'));
    sources.push(caFile);
  }
  return { ca, sources };
}
