import { Router, type Request, type RequestHandler, type Response, type NextFunction } from 'express';
import passport from 'passport';
import type { AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../log/logger.js';
import { loggedAlready } from '../http/error-handler.js';
import type { RefusalThrottle } from '../http/refusal-throttle.js';
import { NotSignedIn, SignInFailed, WireError } from '../http/wire-errors.js';
import { requireCsrfToken, newCsrfToken } from './csrf.js';
import type { Identity } from './identity.js';
import type { IdentityProvider } from './identity-provider.js';
import { safeReturnTo } from './return-to.js';
import { signedInFrom, type Sessions, type SignedIn } from './session.js';

export interface AuthRoutesOptions {
  idp: IdentityProvider;
  sessions: Sessions;
  publicUrl: string;
  audit: AuditLog;
  log: Logger;
  /** Sign-out ends the user's live desktops too: the sign-in was their only licence. */
  onSignOut: (signedIn: SignedIn, reason: string) => void;
  /** Holds back the log lines of failed sign-ins, which anyone can cause, past a rate per address. */
  refusals?: RefusalThrottle;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends Identity {}
    interface Request {
      signedIn?: SignedIn;
    }
  }
}

export function createAuthenticator(): passport.PassportStatic {
  const authenticator = new passport.Passport() as passport.PassportStatic;
  authenticator.serializeUser((user, done) => done(null, user));
  authenticator.deserializeUser((user: Identity, done) => done(null, user));
  return authenticator;
}

/** Attaches `req.signedIn` when the session is signed in and within its absolute lifetime. */
export function attachSignedIn(sessions: Sessions): RequestHandler {
  return (req, _res, next) => {
    const signedIn = signedInFrom(req, sessions.absoluteMs);
    if (signedIn) req.signedIn = signedIn;
    else if (req.session?.passport?.user) {
      // past the absolute lifetime: forget it entirely, so the next sign-in starts clean
      return req.session.regenerate(() => next());
    }
    next();
  };
}

export const requireSignedInApi: RequestHandler = (req, _res, next) => {
  if (!req.signedIn) return next(new NotSignedIn(`${req.method} ${req.path}`));
  next();
};

export function requireSignedInPage(publicUrl: string): RequestHandler {
  return (req, res, next) => {
    if (req.signedIn) return next();
    const returnTo = safeReturnTo(req.originalUrl, publicUrl);
    res.redirect(302, `/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  };
}

export function authRoutes(opts: AuthRoutesOptions, authenticator: passport.PassportStatic): Router {
  const router = Router();
  const { idp, audit, log } = opts;

  router.get('/auth/login', async (req, res, next) => {
    try {
      req.session.returnTo = safeReturnTo(req.query.returnTo, opts.publicUrl);
      const strategy = await idp.strategy();
      authenticator.authenticate(strategy)(req, res, next);
    } catch (err) {
      next(err);
    }
  });

  router.get('/auth/callback', async (req: Request, res: Response, next: NextFunction) => {
    const ip = req.ip;
    const fail = (err: unknown, why: string) => {
      const wire = err instanceof WireError ? err : new SignInFailed(why);
      // the IdP's error_description lands here, written by whoever sent the callback: bounded
      const reason = (wire.detail ?? why).slice(0, 300);
      if (opts.refusals?.shouldLog(ip ?? 'unknown') ?? true) {
        audit.write({ event: 'sign-in', result: 'failure', ip, reason });
        log.warn({ ip, reason, code: wire.code }, 'sign-in failed');
      }
      next(loggedAlready(wire));
    };
    let strategy;
    try {
      strategy = await idp.strategy();
    } catch (err) {
      return fail(err, 'identity provider unavailable');
    }
    authenticator.authenticate(strategy, (err: unknown, user: Identity | false, info: { message?: string } | undefined) => {
      if (err) return fail(err, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      if (!user) return fail(undefined, info?.message ?? 'no user');
      const returnTo = req.session.returnTo ?? '/';
      // passport regenerates the session id here, so a fixated pre-sign-in id is worthless
      req.login(user, (loginErr) => {
        if (loginErr) return fail(loginErr, 'session could not be created');
        req.session.signedInAt = Date.now();
        req.session.csrfToken = newCsrfToken();
        audit.write({ event: 'sign-in', result: 'success', user: user.key, username: user.username, ip, amr: user.amr });
        log.info({ user: user.key, ip }, 'signed in');
        res.redirect(302, returnTo);
      });
    })(req, res, next);
  });

  router.post('/auth/logout', requireCsrfToken, (req, res, next) => {
    const signedIn = req.signedIn;
    if (signedIn) {
      opts.onSignOut(signedIn, 'You signed out.');
      audit.write({ event: 'sign-out', result: 'success', user: signedIn.identity.key, username: signedIn.identity.username, ip: req.ip });
    }
    req.logout((err) => {
      if (err) return next(err);
      req.session.destroy(() => {
        res.clearCookie(opts.sessions.cookieName, { path: '/', secure: opts.publicUrl.startsWith('https:'), httpOnly: true, sameSite: 'lax' });
        res.json({ redirect: '/signed-out' });
      });
    });
  });

  return router;
}
