import { rootCertificates } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Request } from 'express';
import * as client from 'openid-client';
import { Strategy, type AuthenticateOptions } from 'openid-client/passport';
import { Agent, fetch as undiciFetch } from 'undici';
import { createRemoteJWKSet, customFetch as joseFetch, jwtVerify } from 'jose';
import type { IdentityConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { IdentityProviderUnavailable } from '../http/wire-errors.js';
import { DEV_IDP_DISCOVERY_MARKER } from '../dev-idp/discovery-marker.js';
import { mapEntraClaims } from './entra-claims.js';
import { mapOidcClaims } from './oidc-claims.js';
import type { Claims, Identity } from './identity.js';


/**
 * openid-client's strategy only sends `state` when the IdP lacks PKCE. We always send state and
 * nonce as well: they are cheap, and Entra ID and most IdPs expect them.
 */
class CodeFlowStrategy extends Strategy {
  override authorizationRequestParams<T extends AuthenticateOptions>(req: Request, options: T): URLSearchParams {
    const params = new URLSearchParams(super.authorizationRequestParams(req, options) as URLSearchParams);
    params.set('state', client.randomState());
    params.set('nonce', client.randomNonce());
    return params;
  }
}

export interface IdentityProvider {
  readonly issuer: string;
  /** Discovers lazily and retries after a failure, so an IdP outage at start does not stop the gateway. */
  strategy(): Promise<Strategy>;
  isDevelopmentIdp(): Promise<boolean>;
  mapClaims(claims: Claims): Identity;
}

export function issuerOf(cfg: IdentityConfig): string {
  if (cfg.provider === 'oidc') return cfg.issuer;
  return `${cfg.authority.replace(/\/$/, '')}/${cfg.tenantId}/v2.0`;
}

export function fetchTrusting(caPem: string): client.CustomFetch {
  const dispatcher = new Agent({ connect: { ca: [...rootCertificates, caPem] } });
  return ((url: string, init: client.CustomFetchOptions) =>
    undiciFetch(url, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as client.CustomFetch;
}

export function createIdentityProvider(
  cfg: IdentityConfig,
  opts: { clientSecret: string; callbackUrl: string; log: Logger; refuseDevelopmentIdp?: boolean },
): IdentityProvider {
  const issuer = issuerOf(cfg);
  const customFetch = cfg.caFile ? fetchTrusting(readFileSync(cfg.caFile, 'utf8')) : undefined;
  const allowedTenants = cfg.provider === 'entra' ? (cfg.allowedTenants ?? [cfg.tenantId]) : [];
  let pending: Promise<client.Configuration> | undefined;

  function discover(): Promise<client.Configuration> {
    pending ??= client
      .discovery(new URL(issuer), cfg.clientId, opts.clientSecret, undefined, customFetch ? { [client.customFetch]: customFetch } : undefined)
      .then((config) => {
        if (customFetch) config[client.customFetch] = customFetch;
        opts.log.info({ issuer }, 'identity provider discovered');
        return config;
      })
      .catch((err: unknown) => {
        pending = undefined;
        opts.log.warn({ issuer, err: String(err) }, 'identity provider discovery failed');
        throw new IdentityProviderUnavailable(`discovery of ${issuer} failed: ${String(err)}`);
      });
    return pending;
  }

  let strategy: Strategy | undefined;
  let toldDevelopmentIdp = false;
  const mapClaims = (claims: Claims): Identity =>
    cfg.provider === 'entra' ? mapEntraClaims(claims, allowedTenants) : mapOidcClaims(claims, cfg.claims);

  return {
    issuer,
    mapClaims,
    async strategy() {
      if (strategy) return strategy;
      const config = await discover();
      const meta = config.serverMetadata();
      // checked at start too, but an IdP that was down then is checked here, before any sign-in
      if (opts.refuseDevelopmentIdp && meta[DEV_IDP_DISCOVERY_MARKER] === true) {
        // once: every sign-in attempt lands here, and anyone can start one
        if (!toldDevelopmentIdp) opts.log.error({ issuer }, 'identity provider is the Drawbridge development IdP, which a production gateway refuses; no sign-in is possible');
        toldDevelopmentIdp = true;
        throw new IdentityProviderUnavailable(`${issuer} is the Drawbridge development IdP, refused in production mode`);
      }
      if (!meta.jwks_uri) throw new IdentityProviderUnavailable(`${issuer} publishes no jwks_uri`);
      // openid-client trusts an ID token fetched over TLS from the token endpoint without checking
      // its signature (OIDC allows that). We check it anyway: a TLS-intercepting proxy or a
      // mis-routed token endpoint must not be able to mint users.
      const jwks = createRemoteJWKSet(new URL(meta.jwks_uri), customFetch ? { [joseFetch]: customFetch as never } : {});
      strategy = new CodeFlowStrategy(
        { config, scope: cfg.scopes.join(' '), callbackURL: opts.callbackUrl, name: 'drawbridge-oidc', sessionKey: 'oidc' },
        (tokens, done) => {
          const claims = tokens.claims();
          if (!claims || !tokens.id_token) return done(new Error('token response has no ID token'));
          jwtVerify(tokens.id_token, jwks, { issuer: meta.issuer, audience: cfg.clientId })
            .then(() => done(null, mapClaims(claims as Claims)))
            .catch((err: unknown) => done(err));
        },
      );
      return strategy;
    },
    async isDevelopmentIdp() {
      const config = await discover();
      return config.serverMetadata()[DEV_IDP_DISCOVERY_MARKER] === true;
    },
  };
}
