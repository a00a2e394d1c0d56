import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log/logger.js';
import { DEFAULT_DEV_TENANT_ID, startDevIdp, type DevIdp } from '../../server/dev-idp/dev-idp.js';
import { demoUsersFile, loadDevUsers, type DevUser } from '../../server/dev-idp/users.js';
import { SignInRejectedError, signInByForm } from '../support/sign-in-by-form.js';

const CLIENT_ID = 'drawbridge-test';
const CLIENT_SECRET = 'test-client-secret';
const REDIRECT_URI = 'https://localhost:8443/auth/callback';
const DESKTOP_ADMINS = '11111111-1111-4111-8111-111111111111';
const ENGINEERING = '22222222-2222-4222-8222-222222222222';
const GUEST_TENANT = '0a0b0c0d-1111-4222-8333-444455556666';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('development identity provider', () => {
  let stateDir: string;
  let idp: DevIdp;
  let dispatcher: Agent;
  let config: client.Configuration;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'drawbridge-dev-idp-'));
    const guest: DevUser = {
      username: 'gail@fabrikam.example',
      password: 'gail-password',
      name: 'Gail Guest',
      email: 'gail@fabrikam.example',
      oid: '9e9e9e9e-0000-4000-8000-00000000000a',
      groups: [],
      mfa: false,
      tenantId: GUEST_TENANT,
    };
    idp = await startDevIdp({
      port: 0,
      stateDir,
      users: [...loadDevUsers(demoUsersFile()), guest],
      // Two redirect hosts exercise the pairwise sector-identifier path.
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT_URI, 'https://127.0.0.1:8443/auth/callback'] }],
      log: createLogger({ level: 'silent' }),
    });
    // The dev CA is trusted by this test's requests only, never process-wide.
    dispatcher = new Agent({ connect: { ca: idp.caPem } });
    config = await client.discovery(new URL(idp.issuer), CLIENT_ID, CLIENT_SECRET, undefined, {
      [client.customFetch]: (url, init) => undiciFetch(url, { ...init, dispatcher } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>,
    });
  });

  afterAll(async () => {
    await idp?.close();
    await dispatcher?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  async function signIn(username: string, password: string) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile email',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await signInByForm({ authorizationUrl, dispatcher, username, password });
    expect(callback.href.startsWith(`${REDIRECT_URI}?`)).toBe(true);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims();
    if (!claims) throw new Error('no ID token');
    return { tokens, claims };
  }

  it('has an Entra-shaped issuer and advertises that it is a development IdP', async () => {
    const issuer = new URL(idp.issuer);
    expect(issuer.protocol).toBe('https:');
    expect(issuer.hostname).toBe('localhost');
    expect(issuer.pathname).toBe(`/${DEFAULT_DEV_TENANT_ID}/v2.0`);
    expect(idp.tenantId).toBe(DEFAULT_DEV_TENANT_ID);
    expect(idp.origin).toBe(issuer.origin);

    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(idp.issuer);
    expect(meta.x_drawbridge_development_idp).toBe(true);
    expect(meta.authorization_endpoint).toBe(`${idp.issuer}/auth`);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.subject_types_supported).toEqual(['pairwise']);
  });

  it('keeps the CA key private on disk', () => {
    expect(statSync(join(stateDir, 'dev-ca-key.pem')).mode & 0o077).toBe(0);
    expect(statSync(join(stateDir, 'jwks.json')).mode & 0o077).toBe(0);
    expect(idp.caFile).toBe(join(stateDir, 'dev-ca.pem'));
  });

  it('signs alice in through the login page with Entra v2.0 claims and mfa', async () => {
    const { tokens, claims } = await signIn('alice@contoso.example', 'alice');
    expect(claims.iss).toBe(idp.issuer);
    expect(claims.aud).toBe(CLIENT_ID);
    expect(claims.tid).toBe(DEFAULT_DEV_TENANT_ID);
    expect(claims.oid).toMatch(GUID);
    expect(claims.ver).toBe('2.0');
    expect(claims.preferred_username).toBe('alice@contoso.example');
    expect(claims.name).toBe('Alice Admin');
    expect(claims.email).toBe('alice@contoso.example');
    expect(claims.groups).toEqual([DESKTOP_ADMINS, ENGINEERING]);
    expect(claims.amr).toEqual(['pwd', 'mfa']);
    // Pairwise like Entra: not the oid, but stable for the same user and client.
    expect(claims.sub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(claims.sub).not.toBe(claims.oid);
    const again = await signIn('Alice@Contoso.example', 'alice');
    expect(again.claims.sub).toBe(claims.sub);
    expect(again.claims.oid).toBe(claims.oid);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, oid: claims.oid, tid: DEFAULT_DEV_TENANT_ID, preferred_username: 'alice@contoso.example', groups: [DESKTOP_ADMINS, ENGINEERING] });
  });

  it('signs bob in with a password-only amr', async () => {
    const { claims } = await signIn('bob@contoso.example', 'bob');
    expect(claims.preferred_username).toBe('bob@contoso.example');
    expect(claims.groups).toEqual([ENGINEERING]);
    expect(claims.amr).toEqual(['pwd']);
  });

  it('puts a guest user’s own tenant in tid', async () => {
    const { claims } = await signIn('gail@fabrikam.example', 'gail-password');
    expect(claims.tid).toBe(GUEST_TENANT);
    expect(claims.iss).toBe(idp.issuer);
    expect(claims.groups).toEqual([]);
  });

  it('shows the form again, with an error and no redirect, for a wrong password', async () => {
    for (const [username, password] of [
      ['alice@contoso.example', 'wrong'],
      ['nobody@contoso.example', 'alice'],
    ] as const) {
      const authorizationUrl = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: client.randomState(),
      });
      const error = await signInByForm({ authorizationUrl, dispatcher, username, password }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SignInRejectedError);
      const rejected = error as SignInRejectedError;
      expect(rejected.status).toBe(200);
      expect(rejected.html).toContain('Wrong username or password');
      expect(rejected.html).toContain('type="password"');
      expect(rejected.html).toContain('Development identity provider — not for production; demo users only');
    }
  });

  it('serves the login page with a strict CSP and refuses a post without the interaction cookie', async () => {
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const first = await request(authorizationUrl, { dispatcher });
    await first.body.dump();
    expect(first.statusCode).toBe(303);
    const loginUrl = new URL(String(first.headers.location), authorizationUrl);
    expect(loginUrl.pathname).toMatch(new RegExp(`^/${DEFAULT_DEV_TENANT_ID}/v2.0/interaction/`));
    const cookies = ([] as string[]).concat(first.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');

    const page = await request(loginUrl, { dispatcher, headers: { cookie: cookies } });
    const html = await page.body.text();
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain('form-action');
    expect(csp).not.toContain('unsafe-inline');
    expect(html).not.toMatch(/<script/i);

    // No cookie (what a cross-site POST looks like under SameSite=Lax): refused, no redirect.
    const forged = await request(new URL(`${loginUrl.pathname}/login`, loginUrl), {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=alice%40contoso.example&password=alice',
    });
    await forged.body.dump();
    expect(forged.statusCode).toBe(400);
    expect(forged.headers.location).toBeUndefined();
  });

  it('keeps its CA and signing key across restarts', async () => {
    const before = await (await undiciFetch(`${idp.issuer}/jwks`, { dispatcher })).json();
    const second = await startDevIdp({
      port: 0,
      stateDir,
      users: loadDevUsers(demoUsersFile()),
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT_URI] }],
      log: createLogger({ level: 'silent' }),
    });
    try {
      expect(second.caPem).toBe(idp.caPem);
      const after = await (await undiciFetch(`${second.issuer}/jwks`, { dispatcher })).json();
      expect(after).toEqual(before);
    } finally {
      await second.close();
    }
  });
});
