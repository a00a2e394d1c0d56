import { createHash, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const JWKS_FILE = 'jwks.json';

export interface PrivateJwks {
  keys: (JsonWebKey & { kid: string; alg: 'RS256'; use: 'sig' })[];
}

/**
 * The RS256 key the IdP signs ID tokens with, created once and kept in `dir`: a gateway that cached
 * the JWKS (or a browser session holding an ID token) keeps working across IdP restarts.
 */
export function ensureSigningKeys(dir: string): PrivateJwks {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, JWKS_FILE);
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as PrivateJwks;
    if (!Array.isArray(parsed.keys) || parsed.keys.length === 0 || parsed.keys.some((k) => k.kty !== 'RSA' || typeof k.d !== 'string')) {
      throw new Error(`${file} does not hold an RSA private JWKS; delete it to create a new signing key`);
    }
    return parsed;
  }

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const jwks: PrivateJwks = { keys: [{ ...jwk, kid: thumbprint(jwk), alg: 'RS256', use: 'sig' }] };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(jwks, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return jwks;
}

/** RFC 7638 thumbprint: a kid that is stable and derived from the key itself. */
function thumbprint(jwk: JsonWebKey): string {
  const canonical = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}
