import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { issueServerCert } from '../../server/dev-idp/dev-ca.js';

/**
 * A deliberately misbehaving OpenID provider: it runs the protocol correctly up to the ID token,
 * which it then forges as the test asks (wrong issuer, audience, nonce, expiry, tenant, key).
 * The gateway must refuse every one of them.
 */
export interface Tamper {
  iss?: string;
  aud?: string;
  nonce?: string;
  expiredSecondsAgo?: number;
  tid?: string;
  signWithOtherKey?: boolean;
}

export interface RogueIdp {
  origin: string;
  tenantId: string;
  issuer: string;
  tamper: Tamper;
  close(): Promise<void>;
}

export async function startRogueIdp(ca: { certPem: string; keyPem: string }, clientId: string): Promise<RogueIdp> {
  const tenantId = '0badc0de-0000-4000-8000-000000000bad';
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig', alg: 'RS256' };
  const codes = new Map<string, { nonce: string | null }>();
  const cert = issueServerCert(ca, ['localhost'], ['127.0.0.1']);
  let origin = '';
  const state: RogueIdp = { origin: '', tenantId, issuer: '', tamper: {}, close: async () => undefined };

  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === `/${tenantId}/v2.0/.well-known/openid-configuration`) {
      return json({
        issuer: state.issuer,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        jwks_uri: `${origin}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      });
    }
    if (url.pathname === '/jwks') return json({ keys: [jwk] });
    if (url.pathname === '/authorize') {
      const code = randomBytes(12).toString('base64url');
      codes.set(code, { nonce: url.searchParams.get('nonce') });
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      const st = url.searchParams.get('state');
      if (st) back.searchParams.set('state', st);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', async () => {
        const code = new URLSearchParams(body).get('code') ?? '';
        const grant = codes.get(code);
        codes.delete(code);
        if (!grant) {
          res.writeHead(400, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: 'invalid_grant' }));
        }
        const t = state.tamper;
        const now = Math.floor(Date.now() / 1000) - (t.expiredSecondsAgo ?? 0);
        const idToken = await new SignJWT({
          tid: t.tid ?? tenantId,
          oid: '0a0a0a0a-0000-4000-8000-00000000000a',
          preferred_username: 'mallory@rogue.example',
          name: 'Mallory',
          ...(grant.nonce || t.nonce ? { nonce: t.nonce ?? grant.nonce } : {}),
          ver: '2.0',
        })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer(t.iss ?? state.issuer)
          .setAudience(t.aud ?? clientId)
          .setSubject('rogue-sub')
          .setIssuedAt(now - 10)
          .setExpirationTime(now + 300 - (t.expiredSecondsAgo ? 300 : 0))
          .sign(t.signWithOtherKey ? other.privateKey : privateKey);
        json({ access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token: idToken });
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  state.origin = origin;
  state.issuer = `${origin}/${tenantId}/v2.0`;
  state.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
