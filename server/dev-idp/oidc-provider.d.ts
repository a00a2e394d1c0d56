// oidc-provider ships no type declarations and @types/oidc-provider is not installed, so this
// declares just the slice of the v9 API the development IdP uses. Keep it narrow: anything
// declared here is a promise about a library we do not control.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type AdapterPayload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; consumed?: number };

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface AccountClaims {
    sub: string;
    [claim: string]: unknown;
  }

  export interface Account {
    accountId: string;
    claims(use: string, scope: string, claims: unknown, rejected: string[]): AccountClaims | Promise<AccountClaims>;
  }

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    redirect_uris?: string[];
    post_logout_redirect_uris?: string[];
    grant_types?: string[];
    response_types?: string[];
    token_endpoint_auth_method?: string;
    subject_type?: string;
    sector_identifier_uri?: string;
    client_name?: string;
    [key: string]: unknown;
  }

  export interface Client {
    clientId: string;
    clientName?: string;
  }

  /** The parts of the Koa context (plus ctx.oidc) that our callbacks touch. */
  export interface ProviderContext {
    type: string;
    body: unknown;
    status: number;
    host: string;
    set(field: string, value: string): void;
    oidc?: {
      client?: Client;
      params?: Record<string, unknown>;
    };
  }

  export interface ErrorOut {
    error: string;
    error_description?: string;
    [key: string]: unknown;
  }

  export interface InteractionResults {
    login?: { accountId: string; amr?: string[]; acr?: string; remember?: boolean; ts?: number };
    consent?: { grantId?: string };
    error?: string;
    error_description?: string;
  }

  export interface PromptDetail {
    name: string;
    reasons: string[];
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
      [key: string]: unknown;
    };
  }

  export interface Interaction {
    uid: string;
    returnTo: string;
    prompt: PromptDetail;
    params: Record<string, unknown>;
    grantId?: string;
    session?: { accountId?: string; uid?: string };
  }

  export class Grant {
    constructor(properties: { accountId: string; clientId: string });
    static find(id: string): Promise<Grant | undefined>;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(ttl?: number): Promise<string>;
  }

  export interface Configuration {
    adapter?: new (name: string) => Adapter;
    clients?: ClientMetadata[];
    claims?: Record<string, string[] | null>;
    scopes?: string[];
    subjectTypes?: string[];
    clientAuthMethods?: string[];
    conformIdTokenClaims?: boolean;
    cookies?: { keys?: string[]; long?: Record<string, unknown>; short?: Record<string, unknown> };
    discovery?: Record<string, unknown>;
    features?: Record<string, Record<string, unknown>>;
    interactions?: { url?: (ctx: ProviderContext, interaction: Interaction) => string | Promise<string> };
    jwks?: { keys: Record<string, unknown>[] };
    pkce?: { required?: (ctx: ProviderContext, client: Client) => boolean };
    responseTypes?: string[];
    ttl?: Record<string, number>;
    findAccount?: (ctx: ProviderContext, id: string) => Promise<Account | undefined>;
    pairwiseIdentifier?: (ctx: ProviderContext, accountId: string, client: Client) => string | Promise<string>;
    sectorIdentifierUriValidate?: (client: Client) => boolean;
    clientBasedCORS?: (ctx: ProviderContext, origin: string, client: Client) => boolean;
    renderError?: (ctx: ProviderContext, out: ErrorOut, error: Error) => void | Promise<void>;
    [key: string]: unknown;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    readonly Grant: typeof Grant;
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: InteractionResults, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    on(event: string, listener: (...args: never[]) => void): this;
  }

  export default Provider;
}
