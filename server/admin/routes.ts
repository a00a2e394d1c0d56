import { createReadStream } from 'node:fs';
import { Router, type Request, type RequestHandler } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import { AdminOnly, BadRequest, RecordingNotFound, RouteNotFound } from '../http/wire-errors.js';
import type { RecordingStore } from '../recording/recording-store.js';

/** The admin decision for one request, made by the authorize module (admin.policies). */
export interface AdminDecision {
  allowed: boolean;
  code: string;
  policy?: string;
}

export interface AdminOptions {
  isAdmin(req: Request): AdminDecision;
  recordings: RecordingStore;
  live(): Array<{ id: string; user: string; username?: string; app: string; startedAt: number; watching?: string }>;
  /** Ends a live session with a message its user sees; false when there is no such session. */
  endSession(id: string, message: string, reason: string): boolean;
  /** A one-time ticket for this admin to watch the session read-only, or undefined if it is gone. */
  watchTicket(req: Request, id: string): { token: string; websocketPath: string } | undefined;
  audit: AuditLog;
  requireSignedIn: RequestHandler;
  requireCsrf: RequestHandler;
}

/**
 * /api/admin: session recordings (list, fetch for playback) and live sessions. Every request is
 * decided against admin.policies (nobody by default) and every decision is audited.
 */
export function adminRoutes(opts: AdminOptions): Router {
  const router = Router();
  const requireAdmin: RequestHandler = (req, _res, next) => {
    const d = opts.isAdmin(req);
    const who = { user: req.signedIn!.identity.key, username: req.signedIn!.identity.username, ip: req.ip };
    if (!d.allowed) {
      opts.audit.write({ event: 'access-denied', result: 'denied', ...who, reason: `admin ${req.method} ${req.path}: ${d.code}` });
      return next(new AdminOnly(`${who.username} is not an administrator (${d.code})`));
    }
    opts.audit.write({ event: 'admin', result: 'success', ...who, reason: `${req.method} ${req.path}`, policy: d.policy });
    next();
  };

  router.get('/api/admin/recordings', opts.requireSignedIn, requireAdmin, (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ recordings: opts.recordings.list() });
  });

  router.get('/api/admin/recordings/:id/file', opts.requireSignedIn, requireAdmin, (req, res, next) => {
    const file = opts.recordings.pathOf(String(req.params.id));
    if (!file) return next(new RecordingNotFound(`recording ${String(req.params.id)}`));
    res.set({ 'Cache-Control': 'no-store', 'Content-Type': 'application/octet-stream' });
    createReadStream(file).on('error', next).pipe(res);
  });

  router.get('/api/admin/sessions', opts.requireSignedIn, requireAdmin, (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ sessions: opts.live() });
  });

  router.post('/api/admin/sessions/:id/watch', opts.requireSignedIn, opts.requireCsrf, requireAdmin, (req, res, next) => {
    const ticket = opts.watchTicket(req, String(req.params.id));
    if (!ticket) return next(new RouteNotFound(`live session ${String(req.params.id)}`));
    res.set('Cache-Control', 'no-store').json(ticket);
  });

  router.post('/api/admin/sessions/:id/end', opts.requireSignedIn, opts.requireCsrf, requireAdmin, (req, res, next) => {
    const raw: unknown = (req.body as { reason?: unknown } | undefined)?.reason;
    if (typeof raw !== 'string' || raw.trim().length < 3 || raw.length > 300) return next(new BadRequest('Give a reason of 3 to 300 characters; the user will see it.'));
    const who = req.signedIn!.identity.username;
    const ended = opts.endSession(String(req.params.id), `An administrator ended this session: ${raw.trim()}`, `ended by administrator ${who}: ${raw.trim()}`);
    if (!ended) return next(new RouteNotFound(`live session ${String(req.params.id)}`));
    opts.audit.write({ event: 'admin', result: 'success', user: req.signedIn!.identity.key, username: who, ip: req.ip, reason: `ended session ${String(req.params.id)}: ${raw.trim()}` });
    res.json({ ended: true });
  });

  return router;
}
