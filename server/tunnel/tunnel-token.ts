import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';

/**
 * A connector token names its tunnel and carries the tunnel's secret; it is shown once, when the
 * tunnel is created. The gateway keeps only a hash of the secret. The secret is 32 random bytes,
 * so a plain SHA-256 is enough: there is nothing to guess that a slow hash would protect.
 */
export interface TunnelToken {
  /** Gateway origin the connector dials, e.g. https://desktops.example.com */
  gateway: string;
  tunnelId: string;
  name: string;
  secret: string;
}

const PREFIX = 'dbt1_';

export class TunnelTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TunnelTokenError';
  }
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'base64url');
  const b = Buffer.from(storedHash, 'base64url');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function encodeTunnelToken(t: TunnelToken): string {
  return PREFIX + Buffer.from(JSON.stringify({ g: t.gateway, i: t.tunnelId, n: t.name, s: t.secret }), 'utf8').toString('base64url');
}

export function decodeTunnelToken(raw: string): TunnelToken {
  const text = raw.trim();
  if (!text.startsWith(PREFIX)) throw new TunnelTokenError('not a Drawbridge tunnel token (it should start with "dbt1_")');
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(text.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new TunnelTokenError('the tunnel token is damaged (copy it again from `drawbridge tunnel create`)');
  }
  const b = body as Record<string, unknown>;
  if (typeof b.g !== 'string' || typeof b.i !== 'string' || typeof b.n !== 'string' || typeof b.s !== 'string' || b.s.length < 32) {
    throw new TunnelTokenError('the tunnel token is damaged (copy it again from `drawbridge tunnel create`)');
  }
  return { gateway: b.g, tunnelId: b.i, name: b.n, secret: b.s };
}
