import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A launch token lets one browser tab open one desktop once. It names the app, never the target:
 * the gateway looks the target up from its own config when the WebSocket arrives, so a token can
 * not be edited into a ticket for another host. HMAC-SHA256 for integrity, a short expiry, a jti
 * that is burnt on first use, and bound to the user and the sign-in session that asked for it.
 */
export interface LaunchClaims {
  jti: string;
  sub: string;
  sid: string;
  app: string;
  /** The user's stated reason, when the policy asked for one; re-checked at the upgrade. */
  purpose?: string;
  /** An admin's ticket to watch this live session (read-only) instead of opening the app. */
  watch?: string;
  iat: number;
  exp: number;
}

export type TokenFailure = 'malformed' | 'bad_signature' | 'expired' | 'replayed' | 'wrong_user' | 'wrong_session';

export class LaunchTokenError extends Error {
  override readonly name = 'LaunchTokenError';
  constructor(readonly reason: TokenFailure) {
    super(`launch token rejected: ${reason}`);
  }
}

export interface LaunchTokenOptions {
  ttlSeconds?: number;
  now?: () => number;
}

export function deriveLaunchKey(sessionSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', sessionSecret, 'drawbridge', 'launch-token/v1', 32));
}

export class LaunchTokens {
  private readonly ttl: number;
  private readonly now: () => number;
  /** jti → expiry (ms); entries leave once they could no longer verify anyway. */
  private readonly used = new Map<string, number>();

  constructor(
    private readonly key: Buffer,
    opts: LaunchTokenOptions = {},
  ) {
    this.ttl = opts.ttlSeconds ?? 60;
    this.now = opts.now ?? Date.now;
  }

  get ttlSeconds(): number {
    return this.ttl;
  }

  mint(input: { user: string; session: string; app: string; purpose?: string; watch?: string }): string {
    const iat = Math.floor(this.now() / 1000);
    const claims: LaunchClaims = { jti: randomBytes(16).toString('base64url'), sub: input.user, sid: input.session, app: input.app, ...(input.purpose ? { purpose: input.purpose } : {}), ...(input.watch ? { watch: input.watch } : {}), iat, exp: iat + this.ttl };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  verify(token: string, expected: { user: string; session: string }): LaunchClaims {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 2048) throw new LaunchTokenError('malformed');
    const body = token.slice(0, dot);
    const sig = Buffer.from(token.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.sign(body), 'base64url');
    if (sig.length !== want.length || !timingSafeEqual(sig, want)) throw new LaunchTokenError('bad_signature');
    let claims: LaunchClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as LaunchClaims;
    } catch {
      throw new LaunchTokenError('malformed');
    }
    if (typeof claims.jti !== 'string' || typeof claims.exp !== 'number' || typeof claims.app !== 'string') throw new LaunchTokenError('malformed');
    const nowMs = this.now();
    this.purge(nowMs);
    if (nowMs >= claims.exp * 1000) throw new LaunchTokenError('expired');
    if (this.used.has(claims.jti)) throw new LaunchTokenError('replayed');
    // Burnt before the binding checks: a token shown by the wrong user is spent, not retried.
    this.used.set(claims.jti, claims.exp * 1000);
    if (claims.sub !== expected.user) throw new LaunchTokenError('wrong_user');
    if (claims.sid !== expected.session) throw new LaunchTokenError('wrong_session');
    return claims;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  private purge(nowMs: number): void {
    for (const [jti, exp] of this.used) if (exp <= nowMs) this.used.delete(jti);
  }
}
