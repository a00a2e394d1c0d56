import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/** Where Linux distributions and the BSDs keep the system's CA bundle, most common first. */
export const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

/** A trust source that was asked for (caFile, or an environment variable) and cannot be used. */
export class TrustedCaError extends Error {
  constructor(
    /** `caFile` (from connector.yml) or the environment variable that named the file. */
    readonly source: 'caFile' | 'SSL_CERT_FILE' | 'NODE_EXTRA_CA_CERTS',
    readonly reason: string,
  ) {
    super(`${source}: ${reason}`);
    this.name = 'TrustedCaError';
  }
}

export interface TrustedCas {
  /** PEM texts, each possibly holding many certificates, for the `ca` option of tls.connect. */
  ca: string[];
  /** What they came from, for the start-up log line. */
  sources: string[];
  /** A bundle found at a usual path that could not be used: logged, then left out. */
  warnings: string[];
}

export interface CaFiles {
  exists(path: string): boolean;
  read(path: string): string;
}

const realFiles: CaFiles = { exists: existsSync, read: (p) => readFileSync(p, 'utf8') };

/** The PEM text of `path`, or why it cannot serve as one. */
function readPem(files: CaFiles, path: string): { pem: string } | { why: string } {
  let text: string;
  try {
    text = files.read(path);
  } catch (err) {
    return { why: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  return text.includes('-----BEGIN CERTIFICATE-----') ? { pem: text } : { why: `${path} holds no PEM certificate` };
}

/**
 * The certificates the connector trusts for the gateway. Node on its own trusts only its bundled
 * roots, so a company root installed in the system (the usual way for an internal gateway) would
 * be refused; and once a `ca` option is given, Node drops NODE_EXTRA_CA_CERTS, so it is read here.
 *
 * - `only: true` (connector.yml `caFileOnly`) pins the gateway to caFile alone: nothing in the
 *   system store — a TLS-inspecting proxy's root, say — can then see the connector's token.
 * - Otherwise: Node's roots, the system bundle (SSL_CERT_FILE, OpenSSL's own variable, or the
 *   first usual path found; none on Windows, where `C:\etc\...` would be any local user's to
 *   plant), NODE_EXTRA_CA_CERTS and caFile.
 */
export function trustedCas(opts: { caFile?: string; only?: boolean }, env: NodeJS.ProcessEnv, files: CaFiles = realFiles, platform: NodeJS.Platform = process.platform): TrustedCas {
  const ca: string[] = [];
  const sources: string[] = [];
  const warnings: string[] = [];
  const add = (source: TrustedCaError['source'], path: string) => {
    const r = readPem(files, path);
    if ('why' in r) throw new TrustedCaError(source, r.why);
    ca.push(r.pem);
    sources.push(path);
  };
  if (!opts.only) {
    ca.push(...rootCertificates);
    sources.push(`node's ${rootCertificates.length} bundled roots`);
    // an empty variable counts as unset, as OpenSSL reads it
    const named = env.SSL_CERT_FILE || undefined;
    if (named) add('SSL_CERT_FILE', named);
    else if (platform !== 'win32') {
      const found = SYSTEM_BUNDLES.find((p) => files.exists(p));
      const r = found ? readPem(files, found) : undefined;
      if (r && 'pem' in r) {
        ca.push(r.pem);
        sources.push(found!);
      } else if (r) warnings.push(`system CA bundle left out: ${r.why}`);
    }
    if (env.NODE_EXTRA_CA_CERTS) add('NODE_EXTRA_CA_CERTS', env.NODE_EXTRA_CA_CERTS);
  }
  if (opts.caFile) add('caFile', opts.caFile);
  return { ca, sources, warnings };
}
