import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Interaction, Provider } from 'oidc-provider';
import type { Logger } from '../log/logger.js';
import { amrFor, type DevAccounts } from './accounts.js';
import { sendPage } from './html-page.js';
import { errorPage, expiredPage, loginPage, WRONG_CREDENTIALS } from './login-page.js';

const MAX_FORM_BYTES = 16 * 1024;

export interface InteractionDeps {
  provider: Provider;
  accounts: DevAccounts;
  /** Path prefix the IdP is mounted under, e.g. /<tenant>/v2.0 */
  prefix: string;
  /** client_id -> display name, for the clients this IdP serves (all first-party). */
  clients: ReadonlyMap<string, string>;
  log: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Path of the page a sign-in interaction starts at; also what oidc-provider redirects to. */
export function interactionPath(prefix: string, uid: string): string {
  return `${prefix}/interaction/${encodeURIComponent(uid)}`;
}

/**
 * Serves the IdP's own pages at <prefix>/interaction/<uid>[/login|/abort]. Returns false when the
 * path is not one of them so the caller can hand the request to oidc-provider.
 */
export function createInteractionHandler(deps: InteractionDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  const { provider, accounts, prefix, clients, log } = deps;
  const pattern = new RegExp(`^${escapeRegExp(prefix)}/interaction/([A-Za-z0-9_-]+)(?:/(login|abort))?$`);

  async function details(req: IncomingMessage, res: ServerResponse, uid: string): Promise<Interaction> {
    const interaction = await provider.interactionDetails(req, res);
    // The cookie names the interaction this browser is in; the uid in the URL must agree, so a
    // form rendered for one sign-in can never complete another.
    if (interaction.uid !== uid) throw new HttpError(400, 'interaction uid mismatch');
    return interaction;
  }

  function redirectOrigins(interaction: Interaction): string[] {
    const uri = interaction.params.redirect_uri;
    const parsed = typeof uri === 'string' ? URL.parse(uri) : null;
    return parsed ? [parsed.origin] : [];
  }

  function clientNameOf(interaction: Interaction): string {
    const id = interaction.params.client_id;
    return (typeof id === 'string' && clients.get(id)) || 'the application';
  }

  function showLogin(res: ServerResponse, interaction: Interaction, status: number, username?: string, error?: string): void {
    const base = interactionPath(prefix, interaction.uid);
    sendPage(
      res,
      status,
      loginPage({ action: `${base}/login`, abortAction: `${base}/abort`, clientName: clientNameOf(interaction), username, error }),
      redirectOrigins(interaction),
    );
  }

  /**
   * Every client of this IdP is first-party, so consent is granted without asking, as an Entra
   * tenant with admin consent does. Grants exactly what the prompt reports missing.
   */
  async function autoConsent(req: IncomingMessage, res: ServerResponse, interaction: Interaction): Promise<void> {
    const clientId = interaction.params.client_id;
    const accountId = interaction.session?.accountId;
    if (typeof clientId !== 'string' || !clients.has(clientId) || !accountId) throw new HttpError(400, 'consent for an unknown client or without a session');
    const grant = (interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = interaction.prompt.details;
    if (missingOIDCScope?.length) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims?.length) grant.addOIDCClaims(missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> {
    const method = req.method ?? 'GET';
    if (action === undefined) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      const interaction = await details(req, res, uid);
      if (interaction.prompt.name === 'login') return showLogin(res, interaction, 200);
      if (interaction.prompt.name === 'consent') return autoConsent(req, res, interaction);
      throw new HttpError(400, `unsupported prompt ${interaction.prompt.name}`);
    }

    if (method !== 'POST') throw new HttpError(405, 'method not allowed');
    const form = await readForm(req);
    const interaction = await details(req, res, uid);

    if (action === 'abort') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
      return;
    }

    if (interaction.prompt.name !== 'login') throw new HttpError(400, 'this sign-in is not waiting for credentials');
    const username = form.get('username') ?? '';
    const user = accounts.verify(username, form.get('password') ?? '');
    if (!user) {
      log.info({ event: 'dev-idp.sign-in.failed', username }, 'development IdP: wrong username or password');
      // 200 with the form again, the same for unknown users and wrong passwords.
      return showLogin(res, interaction, 200, username, WRONG_CREDENTIALS);
    }
    log.info({ event: 'dev-idp.sign-in', username: user.username, oid: user.oid }, 'development IdP: user signed in');
    await provider.interactionFinished(req, res, { login: { accountId: user.oid, amr: amrFor(user) } }, { mergeWithLastSubmission: false });
  }

  return async (req, res, path) => {
    const match = pattern.exec(path);
    if (!match) return false;
    const uid = match[1] ?? '';
    try {
      await handle(req, res, uid, match[2]);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
      } else if (err instanceof HttpError) {
        sendPage(res, err.status, errorPage('invalid_request', err.message));
      } else if ((err as { name?: unknown }).name === 'SessionNotFound') {
        // No or stale interaction cookie: the sign-in timed out, finished already, or the cookie
        // never arrived (another browser, or a cross-site POST that SameSite=Lax withheld).
        sendPage(res, 400, expiredPage());
      } else {
        log.error({ err }, 'development IdP: interaction failed');
        sendPage(res, 500, errorPage('server_error', undefined));
      }
    }
    return true;
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'expected a form submission');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
