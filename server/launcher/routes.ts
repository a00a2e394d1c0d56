import { Router } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { AppConfig } from '../config/schema.js';
import { AccessDenied, AppNotFound, BadRequest, PurposeRequired, ReauthRequired } from '../http/wire-errors.js';
import type { LaunchTokens } from '../proxy/launch-token.js';
import { DESKTOP_WS_PATH } from '../proxy/desktop-upgrade.js';
import type { GuacdProbe } from './guacd-probe.js';
import type { Request, RequestHandler } from 'express';
import type { DecisionCode, Reason } from '../authorize/evaluate.js';
import { SERVER_LAYOUTS } from '../config/keyboard-layouts.js';

/** The access decision for one user and app, made by the authorize module. */
export interface LaunchDecision {
  allowed: boolean;
  code: DecisionCode;
  /** What the user may be told; absent for unexplained (listing) decisions. */
  message?: string;
  needsPurpose: boolean;
  policy?: string;
  reasons: Reason[];
  /** What may cross, so the page shows only the controls that will work. */
  dataControls?: { clipboardCopy: boolean; clipboardPaste: boolean; fileUpload: boolean; fileDownload: boolean; microphone: boolean };
}

export interface LauncherOptions {
  apps(): AppConfig[];
  /** The apps this user could possibly open, in config order; the listing decides only these. */
  candidates(req: Request): AppConfig[];
  /** `explain: false` skips the reasons: the listing decides for every app. */
  decide(req: Request, app: AppConfig, purpose?: string, explain?: boolean): LaunchDecision;
  tokens: LaunchTokens;
  probe: GuacdProbe;
  /** Whether a tunnel has a connector connected now. */
  tunnelUp(name: string): boolean;
  audit: AuditLog;
  requireSignedIn: RequestHandler;
  requireCsrf: RequestHandler;
}

const GUACD_DOWN = 'The remote desktop service (guacd) is not reachable, so desktops cannot open right now. Tell your administrator.';

export function launcherRoutes(opts: LauncherOptions): Router {
  const router = Router();

  router.get('/api/me', opts.requireSignedIn, (req, res) => {
    const id = req.signedIn!.identity;
    res.json({ user: { name: id.name, username: id.username, email: id.email }, csrfToken: req.session.csrfToken });
  });

  // tiles for apps the user may open now, or could after giving a reason or signing in again
  const visibleApps = (req: Request) =>
    opts.candidates(req).flatMap((a) => {
      const d = opts.decide(req, a, undefined, false);
      return d.allowed || d.code === 'purpose_required' || d.code === 'session_expired' ? [{ a, d }] : [];
    });
  const statusOf = (a: AppConfig, guacdUp: boolean): { status: 'ready' | 'unavailable' | 'offline'; statusMessage?: string } => {
    if (!guacdUp) return { status: 'unavailable', statusMessage: GUACD_DOWN };
    if (a.via && !opts.tunnelUp(a.via)) return { status: 'offline', statusMessage: `Offline: the connector for this desktop's network (${a.via}) is not connected.` };
    return { status: 'ready' };
  };

  // polled by the launcher so tiles follow tunnels going down and up; not audited (nothing new is shown)
  router.get('/api/apps/status', opts.requireSignedIn, async (req, res) => {
    const health = await opts.probe.check();
    res.set('Cache-Control', 'no-store').json({ apps: visibleApps(req).map(({ a }) => ({ id: a.id, ...statusOf(a, health.reachable) })) });
  });

  router.get('/api/apps', opts.requireSignedIn, async (req, res) => {
    const health = await opts.probe.check();
    const visible = visibleApps(req);
    // one line per listing: which tiles this user was shown (per-app reasons would flood the log)
    opts.audit.write({ event: 'launcher-list', result: 'success', user: req.signedIn!.identity.key, username: req.signedIn!.identity.username, ip: req.ip, apps: visible.map(({ a, d }) => (d.allowed ? a.id : `${a.id} (${d.code})`)) });
    res.json({
      apps: visible.map(({ a, d }) => ({
        id: a.id,
        name: a.name,
        description: a.description,
        icon: a.icon,
        needsPurpose: d.needsPurpose,
        ...statusOf(a, health.reachable),
      })),
    });
  });

  router.post('/api/apps/:id/launch', opts.requireSignedIn, opts.requireCsrf, (req, res, next) => {
    const signedIn = req.signedIn!;
    const app = opts.apps().find((a) => a.id === req.params.id);
    const rawPurpose: unknown = (req.body as { purpose?: unknown } | undefined)?.purpose;
    if (rawPurpose !== undefined && (typeof rawPurpose !== 'string' || rawPurpose.length > 500)) return next(new BadRequest('The reason must be text of at most 500 characters.'));
    const purpose = typeof rawPurpose === 'string' && rawPurpose.trim() ? rawPurpose.trim() : undefined;
    const who = { user: signedIn.identity.key, username: signedIn.identity.username, ip: req.ip };
    // an unknown app and a forbidden one look the same to the caller: no probing for app ids
    const d = app ? opts.decide(req, app, purpose) : undefined;
    if (!app || !d || !d.allowed) {
      opts.audit.write({ event: 'launch', result: 'denied', ...who, app: String(req.params.id), decision: d?.code ?? 'no_such_app', policy: d?.policy, reasons: d?.reasons });
      if (!app) return next(new AppNotFound(`launch of unknown app ${String(req.params.id)}`));
      if (d!.code === 'purpose_required') return next(new PurposeRequired(d!.message ?? ''));
      if (d!.code === 'session_expired') return next(new ReauthRequired(d!.message ?? ''));
      return next(new AccessDenied(d!.message ?? '', `${d!.code} for ${app.id}`));
    }
    const token = opts.tokens.mint({ user: signedIn.identity.key, session: signedIn.sessionId, app: app.id, purpose });
    opts.audit.write({ event: 'launch', result: 'success', ...who, app: app.id, decision: d.code, policy: d.policy, purpose, reasons: d.reasons });
    // the gateway enforces these whatever the page does; the page uses them to hide what would fail
    const dc = d.dataControls;
    const files = { upload: app.rdp.drive && Boolean(dc?.fileUpload), download: (app.rdp.drive || app.rdp.printing) && Boolean(dc?.fileDownload) };
    res.set('Cache-Control', 'no-store').json({
      token,
      websocketPath: DESKTOP_WS_PATH,
      expiresInSeconds: opts.tokens.ttlSeconds,
      // the page offers these as the user's own choice of server keyboard layout
      keyboard: { appLayout: app.rdp.serverLayout ?? null, layouts: SERVER_LAYOUTS },
      capabilities: { clipboardCopy: Boolean(app.rdp.clipboard.copy && dc?.clipboardCopy), clipboardPaste: Boolean(app.rdp.clipboard.paste && dc?.clipboardPaste), drive: app.rdp.drive, microphone: app.rdp.audio && Boolean(dc?.microphone), ...files },
    });
  });

  return router;
}
