import type { RequestHandler } from 'express';
import { OriginRejected } from './wire-errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when `origin` is the gateway itself or an explicitly allowed origin. */
export function isAllowedOrigin(origin: string | undefined, allowed: ReadonlySet<string>): boolean {
  return origin !== undefined && allowed.has(origin);
}

/**
 * Cross-site request forgery defence for state-changing requests: browsers always send Origin on
 * them, so a missing or foreign Origin means the request did not come from our page.
 */
export function requireSameOrigin(allowed: ReadonlySet<string>): RequestHandler {
  return (req, _res, next) => {
    if (SAFE.has(req.method)) return next();
    const origin = req.get('origin');
    if (!isAllowedOrigin(origin, allowed)) return next(new OriginRejected(`${req.method} ${req.path} from origin ${origin ?? '(none)'}`));
    next();
  };
}
