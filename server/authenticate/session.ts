import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import session from 'express-session';
import type { Identity } from './identity.js';
import { BoundedSessionStore } from './bounded-session-store.js';

declare module 'express-session' {
  interface SessionData {
    returnTo?: string;
    signedInAt?: number;
    csrfToken?: string;
    passport?: { user?: Identity };
  }
}

export interface SessionSettings {
  secret: string;
  secure: boolean;
  idleMinutes: number;
  absoluteHours: number;
  maxSessions: number;
  /** Keep sign-ins across restarts in this (encrypted) file. */
  stateFile?: string;
}

export interface Sessions {
  middleware: RequestHandler;
  store: BoundedSessionStore;
  cookieName: string;
  absoluteMs: number;
  /** Runs the session middleware on a request that Express never saw (a WebSocket upgrade). */
  load(req: IncomingMessage): Promise<SignedIn | null>;
  /** Still signed in? Used to end live desktops when the sign-in ends or expires. */
  isLive(sessionId: string): Promise<boolean>;
}

export interface SignedIn {
  identity: Identity;
  sessionId: string;
  signedInAt: number;
}

export function signedInFrom(req: { session?: session.Session & Partial<session.SessionData>; sessionID?: string }, absoluteMs: number, now = Date.now()): SignedIn | null {
  const s = req.session;
  const identity = s?.passport?.user;
  if (!s || !identity || !s.signedInAt || !req.sessionID) return null;
  if (now - s.signedInAt > absoluteMs) return null;
  return { identity, sessionId: req.sessionID, signedInAt: s.signedInAt };
}

export function createSessions(settings: SessionSettings): Sessions {
  const store = new BoundedSessionStore(settings.maxSessions, Date.now, settings.stateFile ? { file: settings.stateFile, secret: settings.secret } : undefined);
  // The __Host- prefix pins the cookie to this exact origin (no Domain, Path=/, Secure); browsers
  // only accept it over https, so plain-http development falls back to an unprefixed name.
  const cookieName = settings.secure ? '__Host-drawbridge' : 'drawbridge';
  const absoluteMs = settings.absoluteHours * 3600 * 1000;
  const middleware = session({
    name: cookieName,
    secret: settings.secret,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    unset: 'destroy',
    cookie: { httpOnly: true, secure: settings.secure, sameSite: 'lax', path: '/', maxAge: settings.idleMinutes * 60 * 1000 },
  });
  return {
    middleware,
    store,
    cookieName,
    absoluteMs,
    load(req) {
      return new Promise((resolve) => {
        const fakeRes = { getHeader: () => undefined, setHeader: () => undefined, end: () => undefined, writeHead: () => undefined, on: () => undefined };
        try {
          middleware(req as never, fakeRes as never, () => resolve(signedInFrom(req as never, absoluteMs)));
        } catch {
          resolve(null);
        }
      });
    },
    isLive(sessionId) {
      return new Promise((resolve) => {
        store.get(sessionId, (err, data) => {
          if (err || !data?.passport?.user || !data.signedInAt) return resolve(false);
          resolve(Date.now() - data.signedInAt <= absoluteMs);
        });
      });
    },
  };
}
