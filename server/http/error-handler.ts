import type { ErrorRequestHandler, Request } from 'express';
import type { Logger } from '../log/logger.js';
import { InternalError, WireError } from './wire-errors.js';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function wantsHtml(req: Request): boolean {
  return !req.path.startsWith('/api/') && req.method === 'GET' && req.accepts(['json', 'html']) === 'html';
}

/** Last middleware: a public message and a stable code to the client, the detail to the log. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const wire = err instanceof WireError ? err : new InternalError(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    const level = wire.status >= 500 ? 'error' : 'warn';
    log[level]({ code: wire.code, status: wire.status, detail: wire.detail, method: req.method, path: req.path, ip: req.ip }, 'request failed');
    if (res.headersSent) return;
    res.status(wire.status);
    if (wantsHtml(req)) {
      res.type('html').send(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Drawbridge</title></head><body><main><h1>${escapeHtml(wire.publicMessage)}</h1><p>Error code: <code>${wire.code}</code></p><p><a href="/auth/login?returnTo=%2F">Sign in again</a> · <a href="/">Your desktops</a></p></main></body></html>`,
      );
    } else {
      res.json(wire.toJSON());
    }
  };
}
