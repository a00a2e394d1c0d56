import { createReadStream } from 'node:fs';
import { Router, type Request, type RequestHandler } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import { AdminOnly, RecordingNotFound } from '../http/wire-errors.js';
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
  live(): Array<{ id: string; user: string; app: string; startedAt: number }>;
  audit: AuditLog;
  requireSignedIn: RequestHandler;
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

  return router;
}
