import { DEV_IDP_DISCOVERY_MARKER } from './discovery-marker.js';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ClientMetadata, Configuration, ErrorOut, ProviderContext } from 'oidc-provider';
import { createLogger, type Logger } from '../log/logger.js';
import { DevAccounts, pairwiseSub } from './accounts.js';
import { ensureDevCa, issueServerCert } from './dev-ca.js';
import { newNonce, pageHeaders, renderPage, type PageParts } from './html-page.js';
import { createInteractionHandler, interactionPath } from './interactions.js';
import { loadOidcProvider } from './load-oidc-provider.js';
import { errorPage, logoutConfirmPage, signedOutPage } from './login-page.js';
import { createMemoryAdapter } from './memory-adapter.js';
import { ensureSigningKeys } from './signing-keys.js';
import type { DevUser } from './users.js';

export interface DevIdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** How the client authenticates at the token endpoint; oidc-provider holds each client to one. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Shown on the sign-in page. */
  name?: string;
}

export interface DevIdpOptions {
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** 0 = ephemeral, default 9443. */
  port?: number;
  /** Name used in the issuer and the certificate, default 'localhost'. */
  hostname?: string;
  /** Tenant GUID in the issuer path and the tid claim. */
  tenantId?: string;
  users: DevUser[];
  clients: DevIdpClient[];
  /** CA and signing keys persist here so restarts keep the same CA and JWKS. */
  stateDir: string;
  idTokenTtlSeconds?: number;
  log?: Logger;
}

export interface DevIdp {
  issuer: string;
  origin: string;
  tenantId: string;
  caFile: string;
  caPem: string;
  close(): Promise<void>;
}

export const DEFAULT_DEV_TENANT_ID = 'd6b0c4ad-0000-4000-8000-000000000001';

const SESSION_TTL = 12 * 60 * 60;

/**
 * Starts an OpenID Connect provider over https that looks like Entra ID v2.0 from a relying party's
 * side: issuer https://host:port/<tenant>/v2.0, pairwise sub, tid/oid/groups/amr in the ID token.
 * For the demo and the tests only — it says so on every page and in its discovery document.
 */
export async function startDevIdp(opts: DevIdpOptions): Promise<DevIdp> {
  const log = (opts.log ?? createLogger()).child({ component: 'dev-idp' });
  const host = opts.host ?? '127.0.0.1';
  const hostname = opts.hostname ?? 'localhost';
  const tenantId = (opts.tenantId ?? DEFAULT_DEV_TENANT_ID).toLowerCase();
  const prefix = `/${tenantId}/v2.0`;
  if (opts.clients.length === 0) throw new Error('the development IdP needs at least one client');
  if (opts.users.length === 0) throw new Error('the development IdP needs at least one user');

  const ca = ensureDevCa(opts.stateDir);
  const jwks = ensureSigningKeys(opts.stateDir);
  const tls = issueServerCert(ca, [...new Set([hostname, 'localhost'])], ['127.0.0.1', '::1']);
  const Provider = await loadOidcProvider(log);

  // The issuer carries the real port, which is only known once listening; requests that arrive in
  // that instant get a 503 rather than a half-configured provider.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503).end();
  };
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => handler(req, res));
  await listen(server, opts.port ?? 9443, host);
  const port = (server.address() as AddressInfo).port;
  const origin = `https://${hostname}:${port}`;
  const issuer = `${origin}${prefix}`;

  const accounts = new DevAccounts(opts.users, tenantId);
  const clientNames = new Map(opts.clients.map((c) => [c.clientId, c.name ?? c.clientId]));
  const ttl = opts.idTokenTtlSeconds ?? 3600;

  const configuration: Configuration = {
    adapter: createMemoryAdapter(),
    clients: opts.clients.map((c) => clientMetadata(c, origin)),
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    // Scope -> claims. With conformIdTokenClaims off these land in the ID token, as Entra puts them
    // there; groups and the ids ride on `openid` because Entra emits them regardless of scope.
    claims: {
      // amr comes from the login result rather than the account; oidc-provider only puts it in the
      // ID token when the scope mask asks for it, so it rides on `openid` too.
      openid: ['sub', 'tid', 'oid', 'ver', 'groups', 'amr'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
    },
    conformIdTokenClaims: false,
    subjectTypes: ['pairwise'],
    pairwiseIdentifier: (_ctx, accountId, client) => pairwiseSub(accountId, client.clientId),
    // Our sub ignores the sector (it is per client, like Entra), so the sector_identifier_uri that
    // multi-host clients must carry is never fetched.
    sectorIdentifierUriValidate: () => false,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    findAccount: async (_ctx, id) => accounts.account(id),
    // Cookie signing keys only need to outlive a sign-in, and a restart ends those anyway.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks,
    discovery: { [DEV_IDP_DISCOVERY_MARKER]: true, claim_types_supported: ['normal'] },
    interactions: { url: (_ctx, interaction) => interactionPath(prefix, interaction.uid) },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The confirmation posts and then redirects to the client's post_logout_redirect_uri, which
        // the page's CSP form-action has to allow.
        logoutSource: (ctx: ProviderContext, form: string) => renderInto(ctx, logoutConfirmPage(form, ctx.host), originsOf(ctx.oidc?.params?.post_logout_redirect_uri)),
        postLogoutSuccessSource: (ctx: ProviderContext) => renderInto(ctx, signedOutPage(ctx.oidc?.client?.clientName ?? ctx.oidc?.client?.clientId)),
      },
    },
    // Explicit TTLs: besides being the values we want, the library prints a notice for each default.
    ttl: {
      IdToken: ttl,
      AccessToken: 3600,
      AuthorizationCode: 60,
      Interaction: 15 * 60,
      Session: SESSION_TTL,
      Grant: SESSION_TTL,
      RefreshToken: SESSION_TTL,
    },
    clientBasedCORS: () => false,
    renderError: (ctx: ProviderContext, out: ErrorOut) => renderInto(ctx, errorPage(out.error, out.error_description)),
  };

  let provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (err) {
    await closeServer(server);
    throw err;
  }
  provider.on('server_error', (_ctx: unknown, err: Error) => log.error({ err }, 'development IdP: server error'));
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'end_session.error']) {
    provider.on(event, (_ctx: unknown, err: Error) => log.warn({ event, err: { name: err.name, message: err.message } }, 'development IdP: request rejected'));
  }
  // Koa prints unhandled errors to stderr unless someone listens.
  provider.on('error', (err: Error) => log.error({ err }, 'development IdP: unhandled error'));

  const oidcCallback = provider.callback();
  const interactions = createInteractionHandler({ provider, accounts, prefix, clients: clientNames, log });

  handler = (req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    interactions(req, res, path)
      .then((handled) => {
        if (handled) return;
        if (path !== prefix && !path.startsWith(`${prefix}/`)) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
          return;
        }
        // Mount the provider the way Express would: it routes on req.url relative to the mount
        // point and recovers the prefix for its own URLs (endpoints, cookie paths) from
        // originalUrl. Without this discovery 404s and the resume cookie gets the wrong path.
        (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
        req.url = url.slice(prefix.length) || '/';
        return oidcCallback(req, res);
      })
      .catch((err: unknown) => {
        log.error({ err }, 'development IdP: request failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
  };

  let closing: Promise<void> | undefined;
  log.info({ issuer, listen: `${host}:${port}`, caFile: ca.certFile, users: opts.users.length }, 'development identity provider started — NOT FOR PRODUCTION');

  return {
    issuer,
    origin,
    tenantId,
    caFile: ca.certFile,
    caPem: ca.certPem,
    close: () => (closing ??= closeServer(server)),
  };
}

function clientMetadata(c: DevIdpClient, origin: string): ClientMetadata {
  const hosts = new Set(c.redirectUris.map((u) => new URL(u).host));
  return {
    client_id: c.clientId,
    client_secret: c.clientSecret,
    client_name: c.name,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? 'client_secret_basic',
    subject_type: 'pairwise',
    // oidc-provider insists on a sector identifier for pairwise clients whose redirect URIs span
    // hosts (e.g. localhost and 127.0.0.1); it is a formality here, see sectorIdentifierUriValidate.
    ...(hosts.size > 1 ? { sector_identifier_uri: `${origin}/sector/${encodeURIComponent(c.clientId)}` } : {}),
  };
}

function renderInto(ctx: ProviderContext, parts: PageParts, formAction: string[] = []): void {
  const nonce = newNonce();
  for (const [name, value] of Object.entries(pageHeaders(nonce, formAction))) ctx.set(name, value);
  ctx.body = renderPage(parts, nonce);
}

function originsOf(uri: unknown): string[] {
  const parsed = typeof uri === 'string' ? URL.parse(uri) : null;
  return parsed ? [parsed.origin] : [];
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}
