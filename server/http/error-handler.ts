import type { ErrorRequestHandler, Request } from 'express';
import type { Logger } from '../log/logger.js';
import { InternalError, WireError } from './wire-errors.js';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function wantsHtml(req: Request): boolean {
  return !req.path.startsWith('/api/') && req.method === 'GET' && req.accepts(['json', 'html']) === 'html';
}

/**
 * Errors whose route already logged them with more context (or chose not to, as the sign-in
 * throttle does): here they get a debug line only, so a caller cannot get past that route's limits.
 */
const loggedByRoute = new WeakSet<object>();
export function loggedAlready<E extends object>(err: E): E {
  loggedByRoute.add(err);
  return err;
}

/** Details can carry what a caller sent (an IdP's error_description): bounded in the log. */
const MAX_DETAIL = 300;

/** Last middleware: a public message and a stable code to the client, the detail to the log. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const wire = err instanceof WireError ? err : new InternalError(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    const level = loggedByRoute.has(wire) ? 'debug' : wire.status >= 500 ? 'error' : 'warn';
    log[level]({ code: wire.code, status: wire.status, detail: wire.detail?.slice(0, MAX_DETAIL), method: req.method, path: req.path, ip: req.ip }, 'request failed');
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
