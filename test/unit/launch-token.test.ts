import { describe, expect, it } from 'vitest';
import { deriveLaunchKey, LaunchTokenError, LaunchTokens } from '../../server/proxy/launch-token.js';

const key = deriveLaunchKey('x'.repeat(40));
const who = { user: 'tid:alice', session: 'sess-1' };

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof LaunchTokenError) return err.reason;
    throw err;
  }
  return 'accepted';
}

describe('launch tokens', () => {
  it('verify once for the user and session they were minted for', () => {
    const tokens = new LaunchTokens(key);
    const t = tokens.mint({ ...who, app: 'win11' });
    const claims = tokens.verify(t, who);
    expect(claims.app).toBe('win11');
    expect(claims.exp - claims.iat).toBe(60);
  });

  it('are refused when replayed', () => {
    const tokens = new LaunchTokens(key);
    const t = tokens.mint({ ...who, app: 'a' });
    tokens.verify(t, who);
    expect(reasonOf(() => tokens.verify(t, who))).toBe('replayed');
  });

  it('expire within a minute', () => {
    let now = 1_000_000;
    const tokens = new LaunchTokens(key, { now: () => now });
    const t = tokens.mint({ ...who, app: 'a' });
    now += 59_000;
    const t2 = tokens.mint({ ...who, app: 'a' });
    now += 1_000;
    expect(reasonOf(() => tokens.verify(t, who))).toBe('expired');
    expect(reasonOf(() => tokens.verify(t2, who))).toBe('accepted');
  });

  it('are refused for another user or another sign-in', () => {
    const tokens = new LaunchTokens(key);
    expect(reasonOf(() => tokens.verify(tokens.mint({ ...who, app: 'a' }), { user: 'tid:mallory', session: 'sess-1' }))).toBe('wrong_user');
    expect(reasonOf(() => tokens.verify(tokens.mint({ ...who, app: 'a' }), { user: who.user, session: 'sess-2' }))).toBe('wrong_session');
  });

  it('detect tampering with the claims or the signature', () => {
    const tokens = new LaunchTokens(key);
    const t = tokens.mint({ ...who, app: 'a' });
    const [body, sig] = t.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, app: 'domain-controller' })).toString('base64url');
    expect(reasonOf(() => tokens.verify(`${forged}.${sig}`, who))).toBe('bad_signature');
    expect(reasonOf(() => tokens.verify(`${body}.${sig.slice(0, -2)}AA`, who))).toBe('bad_signature');
    const other = new LaunchTokens(deriveLaunchKey('y'.repeat(40)));
    expect(reasonOf(() => other.verify(t, who))).toBe('bad_signature');
  });

  it('reject garbage', () => {
    const tokens = new LaunchTokens(key);
    expect(reasonOf(() => tokens.verify('', who))).toBe('malformed');
    expect(reasonOf(() => tokens.verify('nodot', who))).toBe('malformed');
    expect(reasonOf(() => tokens.verify('a'.repeat(5000) + '.b', who))).toBe('malformed');
  });
});
