import { Router } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { AppConfig } from '../config/schema.js';
import { AppNotFound } from '../http/wire-errors.js';
import type { LaunchTokens } from '../proxy/launch-token.js';
import { DESKTOP_WS_PATH } from '../proxy/desktop-upgrade.js';
import type { GuacdProbe } from './guacd-probe.js';
import type { RequestHandler } from 'express';

export interface LauncherOptions {
  apps(): AppConfig[];
  tokens: LaunchTokens;
  probe: GuacdProbe;
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

  router.get('/api/apps', opts.requireSignedIn, async (_req, res) => {
    const health = await opts.probe.check();
    res.json({
      apps: opts.apps().map((a) => ({
        id: a.id,
        name: a.name,
        description: a.description,
        icon: a.icon,
        status: health.reachable ? 'ready' : 'unavailable',
        ...(health.reachable ? {} : { statusMessage: GUACD_DOWN }),
      })),
    });
  });

  router.post('/api/apps/:id/launch', opts.requireSignedIn, opts.requireCsrf, (req, res, next) => {
    const signedIn = req.signedIn!;
    const app = opts.apps().find((a) => a.id === req.params.id);
    if (!app) return next(new AppNotFound(`launch of unknown app ${String(req.params.id)}`));
    const token = opts.tokens.mint({ user: signedIn.identity.key, session: signedIn.sessionId, app: app.id });
    opts.audit.write({ event: 'launch', result: 'success', user: signedIn.identity.key, username: signedIn.identity.username, ip: req.ip, app: app.id });
    res.set('Cache-Control', 'no-store').json({ token, websocketPath: DESKTOP_WS_PATH, expiresInSeconds: opts.tokens.ttlSeconds });
  });

  return router;
}
