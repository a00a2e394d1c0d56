import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { CsrfRejected } from '../http/wire-errors.js';

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Synchroniser token on top of the Origin check: a second, independent reason to trust a POST. */
export const requireCsrfToken: RequestHandler = (req, _res, next) => {
  const want = req.session?.csrfToken;
  const got = req.get('x-csrf-token');
  if (!want || !got || want.length !== got.length || !timingSafeEqual(Buffer.from(want), Buffer.from(got))) {
    return next(new CsrfRejected(`${req.method} ${req.path}: ${got ? 'wrong' : 'missing'} X-CSRF-Token`));
  }
  next();
};
