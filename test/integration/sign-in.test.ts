import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../server/config/load-config.js';
import { signIn } from '../support/http-client.js';
import { startRogueIdp, type RogueIdp } from '../support/rogue-idp.js';
import { CLIENT_ID, startStack, testCa, type Stack } from '../support/stack.js';
import { pino } from 'pino';
import { createIdentityProvider } from '../../server/authenticate/identity-provider.js';
import { startDevIdp } from '../../server/dev-idp/dev-idp.js';
import { demoUsersFile, loadDevUsers } from '../../server/dev-idp/users.js';

const APPS = [{ id: 'win11', name: 'Windows 11', description: 'Finance desktop', host: '127.0.0.1', port: 3389 }];

describe('sign-in through the development IdP (Entra-shaped, https)', () => {
  let stack: Stack;
  beforeAll(async () => {
    // guacd deliberately absent: the launcher must say so on the tile
    stack = await startStack({ guacd: { host: '127.0.0.1', port: 1 }, apps: APPS });
  });
  afterAll(() => stack?.close());

  it('redirects a page visit to sign-in and answers the API with 401', async () => {
    const c = stack.client();
    const page = await c.request(`${stack.url}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2F');
    const api = await c.request(`${stack.url}/api/me`);
    expect(api.status).toBe(401);
    expect(await api.json()).toEqual({ error: { code: 'not_signed_in', message: expect.any(String) } });
  });

  it('signs in by the authorization code flow with PKCE, state and nonce through the real login page', async () => {
    const c = stack.client();
    const loginStart = await c.request(`${stack.url}/auth/login?returnTo=%2Fdesktop%2Fwin11`);
    const authorize = new URL(loginStart.headers.get('location')!);
    expect(authorize.origin).toBe(stack.idp.origin);
    expect(authorize.pathname).toMatch(new RegExp(`^/${stack.idp.tenantId}/v2\\.0/`));
    for (const p of ['state', 'nonce', 'code_challenge']) expect(authorize.searchParams.get(p)).toBeTruthy();
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('response_type')).toBe('code');
    const preSignIn = c.cookie(stack.url, '__Host-drawbridge');
    expect(preSignIn).toBeTruthy();

    const c2 = stack.client();
    const done = await signIn(c2, stack.url, 'alice@contoso.example', 'alice', '/desktop/win11');
    expect(done.url).toBe(`${stack.url}/desktop/win11`);
    const me = await c2.request(`${stack.url}/api/me`);
    expect(me.status).toBe(200);
    const body = (await me.json()) as { user: { username: string; name: string }; csrfToken: string };
    expect(body.user).toMatchObject({ username: 'alice@contoso.example', name: 'Alice Admin' });
    expect(body.csrfToken).toMatch(/^[\w-]{20,}$/);
    const entry = stack.audit.entries!.find((e) => e.event === 'sign-in' && e.result === 'success' && e.username === 'alice@contoso.example');
    expect(entry).toMatchObject({ user: expect.stringMatching(new RegExp(`^${stack.idp.tenantId}:`)), ip: '127.0.0.1', amr: ['pwd', 'mfa'] });
  });

  it('rotates the session id at sign-in and sets a __Host- cookie that is HttpOnly, Secure and SameSite=Lax', async () => {
    const c = stack.client();
    const start = await c.request(`${stack.url}/auth/login?returnTo=%2F`);
    const before = c.cookie(stack.url, '__Host-drawbridge');
    const raw = start.headers.getSetCookie().find((l) => l.startsWith('__Host-drawbridge='))!;
    expect(raw).toMatch(/; Path=\//);
    expect(raw).toMatch(/; HttpOnly/);
    expect(raw).toMatch(/; Secure/);
    expect(raw).toMatch(/; SameSite=Lax/);
    expect(raw).not.toMatch(/Domain=/i);
    const c2 = stack.client();
    await signIn(c2, stack.url, 'bob@contoso.example', 'bob');
    const after = c2.cookie(stack.url, '__Host-drawbridge');
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
  });

  it('shows tiles with a plain message when guacd does not answer', async () => {
    const c = stack.client();
    await signIn(c, stack.url, 'bob@contoso.example', 'bob');
    const res = await c.request(`${stack.url}/api/apps`);
    expect(await res.json()).toEqual({
      apps: [{ id: 'win11', name: 'Windows 11', description: 'Finance desktop', icon: 'windows', needsPurpose: false, status: 'unavailable', statusMessage: expect.stringMatching(/guacd\) is not reachable/) }],
    });
  });

  it('checks Origin and the CSRF token on state-changing requests', async () => {
    const c = stack.client();
    await signIn(c, stack.url, 'bob@contoso.example', 'bob');
    const { csrfToken } = (await (await c.request(`${stack.url}/api/me`)).json()) as { csrfToken: string };
    const launch = (headers: Record<string, string>) => c.request(`${stack.url}/api/apps/win11/launch`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
    const noOrigin = await launch({ 'x-csrf-token': csrfToken });
    expect(noOrigin.status).toBe(403);
    expect(((await noOrigin.json()) as { error: { code: string } }).error.code).toBe('origin_rejected');
    const foreign = await launch({ origin: 'https://evil.example', 'x-csrf-token': csrfToken });
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('origin_rejected');
    const noToken = await launch({ origin: stack.url });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { error: { code: string } }).error.code).toBe('csrf_rejected');
    const ok = await launch({ origin: stack.url, 'x-csrf-token': csrfToken });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ token: expect.any(String), websocketPath: '/ws/desktop', expiresInSeconds: 60, capabilities: { clipboardCopy: true, clipboardPaste: true, drive: false, upload: false, download: false, microphone: false }, keyboard: { appLayout: null, layouts: expect.arrayContaining(['en-us-qwerty', 'de-de-qwertz', 'failsafe']) } });
    const unknown = await c.request(`${stack.url}/api/apps/nope/launch`, { method: 'POST', headers: { origin: stack.url, 'x-csrf-token': csrfToken }, body: '' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('app_not_found');
    expect(stack.audit.entries!.some((e) => e.event === 'launch' && e.app === 'win11' && e.username === 'bob@contoso.example')).toBe(true);
  });

  it('sends a strict Content-Security-Policy and other security headers', async () => {
    const res = await stack.client().request(`${stack.url}/signed-out`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('signs out, which ends the session', async () => {
    const c = stack.client();
    await signIn(c, stack.url, 'carol@contoso.example', 'carol');
    const { csrfToken } = (await (await c.request(`${stack.url}/api/me`)).json()) as { csrfToken: string };
    const out = await c.request(`${stack.url}/auth/logout`, { method: 'POST', headers: { origin: stack.url, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: '{}' });
    expect(out.status).toBe(200);
    expect(await out.json()).toEqual({ redirect: '/signed-out' });
    expect((await c.request(`${stack.url}/api/me`)).status).toBe(401);
    expect(stack.audit.entries!.some((e) => e.event === 'sign-out' && e.username === 'carol@contoso.example')).toBe(true);
  });

  it('never lets returnTo leave the gateway', async () => {
    const c = stack.client();
    const done = await signIn(c, stack.url, 'bob@contoso.example', 'bob', 'https://evil.example/phish');
    expect(done.url).toBe(`${stack.url}/`);
  });
});

describe('the gateway refuses bad ID tokens', () => {
  let rogue: RogueIdp;
  let stack: Stack;
  beforeAll(async () => {
    const ca = testCa();
    rogue = await startRogueIdp(ca, CLIENT_ID);
    stack = await startStack({
      stateDir: ca.stateDir,
      guacd: { host: '127.0.0.1', port: 1 },
      identity: { tenantId: rogue.tenantId, authority: rogue.origin },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await rogue?.close();
  });

  async function attempt() {
    const c = stack.client();
    const { res, url } = await c.follow(`${stack.url}/auth/login?returnTo=%2F`);
    const signedIn = (await c.request(`${stack.url}/api/me`)).status === 200;
    return { status: res.status, url, signedIn, body: await res.text() };
  }

  it('accepts an honest token (control)', async () => {
    rogue.tamper = {};
    const r = await attempt();
    expect(r.signedIn).toBe(true);
  });

  it.each([
    ['wrong issuer', { iss: 'https://login.microsoftonline.com/0badc0de-0000-4000-8000-000000000bad/v2.0' }],
    ['wrong audience', { aud: 'some-other-app' }],
    ['wrong nonce', { nonce: 'not-the-nonce-we-sent' }],
    ['expired token', { expiredSecondsAgo: 600 }],
    ['signature by another key', { signWithOtherKey: true }],
  ])('%s', async (_name, tamper) => {
    rogue.tamper = tamper;
    const r = await attempt();
    expect(r.signedIn).toBe(false);
    expect(r.status).toBe(401);
    expect(r.body).toContain('sign_in_failed');
    const last = stack.audit.entries!.filter((e) => e.event === 'sign-in').at(-1)!;
    expect(last.result).toBe('failure');
  });

  it('wrong tenant (a tid outside allowedTenants)', async () => {
    rogue.tamper = { tid: '99999999-9999-4999-8999-999999999999' };
    const r = await attempt();
    expect(r.signedIn).toBe(false);
    expect(r.status).toBe(403);
    expect(r.body).toContain('tenant_not_allowed');
  });
});

describe('production mode', () => {
  it('refuses to start against the development IdP', async () => {
    await expect(startStack({ guacd: { host: '127.0.0.1', port: 1 }, server: { mode: 'production' } })).rejects.toThrow(ConfigError);
  });

  it('refuses sign-ins through the development IdP found only later (it was down at start)', async () => {
    const { stateDir } = testCa();
    const idp = await startDevIdp({ port: 0, users: loadDevUsers(demoUsersFile()), clients: [{ clientId: CLIENT_ID, clientSecret: 'secret-0123456789', redirectUris: ['https://gw.example/auth/callback'] }], stateDir, log: pino({ level: 'silent' }) });
    try {
      const lines: string[] = [];
      const make = (refuseDevelopmentIdp: boolean) =>
        createIdentityProvider(
          { provider: 'entra', tenantId: idp.tenantId, clientId: CLIENT_ID, clientSecret: { value: 'x' }, authority: idp.origin, caFile: idp.caFile, scopes: ['openid', 'profile', 'email'] } as never,
          { clientSecret: 'secret-0123456789', callbackUrl: 'https://gw.example/auth/callback', log: pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) }), refuseDevelopmentIdp },
        );
      await expect(make(true).strategy()).rejects.toThrow(/is the Drawbridge development IdP, refused in production mode/);
      expect(lines.some((l) => l.includes('a production gateway refuses'))).toBe(true);
      await expect(make(false).strategy()).resolves.toBeDefined();
    } finally {
      await idp.close();
    }
  });
});
